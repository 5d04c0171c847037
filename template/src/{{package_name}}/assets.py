"""Every node of the dbt project as a Dagster asset, built with lineage."""

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from .dagster_lineage import OpenLineageResource, dbt_build_with_lineage
from .project import dbt_project


@dbt_assets(manifest=dbt_project.manifest_path)
def dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, lineage: OpenLineageResource
):
    yield from dbt_build_with_lineage(context, dbt, lineage)
