"""OpenLineage facets built from dbt facts, each keyed by its canonical facet name.

Every builder returns ``{key: facet}`` so callers merge them with ``|`` and a missing fact simply
yields ``{}``. Facet classes come from openlineage-python, which sets each ``_schemaURL``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openlineage.client.generated import (
    datasource_dataset,
    documentation_dataset,
    documentation_job,
    error_message_run,
    job_type_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
    sql_job,
)


def job_type(producer: str, integration: str, job_type_name: str) -> dict[str, Any]:
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


def processing_engine(producer: str, dbt_version: str, adapter: str) -> dict[str, Any]:
    return {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            name="dbt",
            version=dbt_version,
            openlineageAdapterVersion=adapter,
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
            message=message, programmingLanguage=language, producer=producer
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
