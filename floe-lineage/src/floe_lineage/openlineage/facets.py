"""OpenLineage facets built from dbt facts, each keyed by its canonical facet name.

Every builder returns ``{key: facet}`` so callers merge them with ``|`` and a missing fact simply
yields ``{}``. Facet classes come from openlineage-python, which sets each ``_schemaURL``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import attr
from openlineage.client.generated import (
    column_lineage_dataset,
    data_quality_assertions_dataset,
    datasource_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    output_statistics_output_dataset,
    ownership_dataset,
    ownership_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    source_code_location_job,
    sql_job,
    tags_dataset,
    tags_job,
)
from openlineage.client.generated.base import DatasetFacet

from .. import __version__
from ..dbt.source_code import GitCheckout
from ..schemas import CLASSIFICATION_SCHEMA_URL
from .column_lineage import ColumnSource

CLASSIFICATION_KEYS = ("classification", "sensitivity")
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def job_type(producer: str, integration: str, job_type_name: str) -> dict[str, Any]:
    """``jobType`` of a batch job: e.g. ``("DBT", "MODEL")``, or the orchestrator's own kind."""
    return {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType="BATCH",
            integration=integration,
            jobType=job_type_name,
            producer=producer,
        )
    }


def sql(producer: str, query: str | None, dialect: str) -> dict[str, Any]:
    if not query:
        return {}
    return {"sql": sql_job.SQLJobFacet(query=query, dialect=dialect, producer=producer)}


def job_documentation(producer: str, description: str | None) -> dict[str, Any]:
    if not description:
        return {}
    return {
        "documentation": documentation_job.DocumentationJobFacet(
            description=description, producer=producer
        )
    }


def processing_engine(producer: str, dbt_version: str) -> dict[str, Any]:
    """dbt and its version; the OpenLineage adapter is floe-lineage, at its version."""
    return {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            name="dbt",
            version=dbt_version,
            openlineageAdapterVersion=__version__,
            producer=producer,
        )
    }


def parent(
    producer: str,
    parent_job: tuple[str, str, str],
    root_job: tuple[str, str, str],
) -> dict[str, Any]:
    """``parent`` facet; each job is ``(namespace, name, run_id)``."""
    p_ns, p_name, p_run = parent_job
    r_ns, r_name, r_run = root_job
    return {
        "parent": parent_run.ParentRunFacet(
            run=parent_run.Run(runId=p_run),
            job=parent_run.Job(namespace=p_ns, name=p_name),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=r_run),
                job=parent_run.RootJob(namespace=r_ns, name=r_name),
            ),
            producer=producer,
        )
    }


def error_message(producer: str, message: str | None, language: str = "SQL") -> dict[str, Any]:
    if not message:
        return {}
    return {
        "errorMessage": error_message_run.ErrorMessageRunFacet(
            message=ANSI_ESCAPE.sub("", message), programmingLanguage=language, producer=producer
        )
    }


def data_source(producer: str, namespace: str) -> dict[str, Any]:
    return {
        "dataSource": datasource_dataset.DatasourceDatasetFacet(
            name=namespace, uri=namespace, producer=producer
        )
    }


def dataset_documentation(producer: str, description: str | None) -> dict[str, Any]:
    if not description:
        return {}
    return {
        "documentation": documentation_dataset.DocumentationDatasetFacet(
            description=description, producer=producer
        )
    }


def schema(
    producer: str,
    columns: Sequence[tuple[str, str]],
    documented: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """``schema`` facet of the real ``(name, type)`` columns; descriptions from the dbt docs
    (``documented``, keyed by column name, matched case-insensitively) are merged in."""
    if not columns:
        return {}
    docs = {name.lower(): col.get("description") or None for name, col in documented.items()}
    return {
        "schema": schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(
                    name=name,
                    type=data_type,
                    description=docs.get(name.lower()),
                    ordinal_position=i,
                )
                for i, (name, data_type) in enumerate(columns, start=1)
            ],
            producer=producer,
        )
    }


def column_lineage(
    producer: str, namespace: str, sources: Mapping[str, Sequence[ColumnSource]]
) -> dict[str, Any]:
    """``columnLineage`` (1-2-0) of the output columns that are computed from table columns."""
    fields = {
        column: column_lineage_dataset.Fields(
            inputFields=[
                column_lineage_dataset.InputField(
                    namespace=namespace,
                    name=source.relation.name,
                    field=source.column,
                    transformations=[
                        column_lineage_dataset.Transformation(
                            type="DIRECT", subtype=source.subtype, masking=False
                        )
                    ],
                )
                for source in column_sources
            ]
        )
        for column, column_sources in sources.items()
        if column_sources
    }
    if not fields:
        return {}
    return {
        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(
            fields=fields, producer=producer
        )
    }


def output_statistics(producer: str, row_count: int | None) -> dict[str, Any]:
    if row_count is None:
        return {}
    return {
        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=row_count, producer=producer
        )
    }


def data_quality_assertions(
    producer: str, assertions: Sequence[data_quality_assertions_dataset.Assertion]
) -> dict[str, Any]:
    if not assertions:
        return {}
    return {
        "dataQualityAssertions": data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(
            assertions=list(assertions), producer=producer
        )
    }


def dataset_tags(producer: str, tags: Sequence[str]) -> dict[str, Any]:
    if not tags:
        return {}
    return {
        "tags": tags_dataset.TagsDatasetFacet(
            tags=[
                tags_dataset.TagsDatasetFacetFields(key=t, value="true", source="DBT") for t in tags
            ],
            producer=producer,
        )
    }


def job_tags(producer: str, tags: Sequence[str]) -> dict[str, Any]:
    if not tags:
        return {}
    return {
        "tags": tags_job.TagsJobFacet(
            tags=[tags_job.TagsJobFacetFields(key=t, value="true", source="DBT") for t in tags],
            producer=producer,
        )
    }


def dataset_ownership(producer: str, owners: Sequence[str]) -> dict[str, Any]:
    if not owners:
        return {}
    return {
        "ownership": ownership_dataset.OwnershipDatasetFacet(
            owners=[ownership_dataset.Owner(name=name) for name in owners], producer=producer
        )
    }


def job_ownership(producer: str, owners: Sequence[str]) -> dict[str, Any]:
    if not owners:
        return {}
    return {
        "ownership": ownership_job.OwnershipJobFacet(
            owners=[ownership_job.Owner(name=name) for name in owners], producer=producer
        )
    }


def source_code_location(
    producer: str, checkout: GitCheckout | None, file_in_project: str | None
) -> dict[str, Any]:
    if checkout is None or not file_in_project:
        return {}
    path = "/".join(p for p in (checkout.project_path, file_in_project) if p)
    return {
        "sourceCodeLocation": source_code_location_job.SourceCodeLocationJobFacet(
            type="git",
            url=checkout.url,
            repoUrl=checkout.remote,
            path=path,
            version=checkout.commit,
            branch=checkout.branch,
            producer=producer,
        )
    }


@attr.define
class ColumnClassificationDatasetFacet(DatasetFacet):
    """Custom facet; its JSON Schema ships in ``floe_lineage/schemas/``, named by a URL of this
    package's repository at this version."""

    fields: dict[str, dict[str, str]]

    @staticmethod
    def _get_schema() -> str:
        return CLASSIFICATION_SCHEMA_URL


def column_classification(
    producer: str, column_meta: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """``columnClassification`` from the ``classification``/``sensitivity`` keys of column meta."""
    fields = {
        name: {key: str(meta[key]) for key in CLASSIFICATION_KEYS if key in meta}
        for name, meta in column_meta.items()
        if "classification" in meta
    }
    if not fields:
        return {}
    return {
        "columnClassification": ColumnClassificationDatasetFacet(fields=fields, producer=producer)
    }
