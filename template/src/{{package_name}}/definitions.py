"""The Dagster code location: ``dg dev`` and ``dg launch --assets '*'`` load ``defs``."""

import dagster as dg
from dagster_dbt import DbtCliResource

from .assets import dbt_models
from .dagster_lineage import OpenLineageResource
from .project import dbt_project

defs = dg.Definitions(
    assets=[dbt_models],
    resources={
        "dbt": DbtCliResource(project_dir=dbt_project),
        "lineage": OpenLineageResource(),
    },
)
