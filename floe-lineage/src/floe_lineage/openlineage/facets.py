"""OpenLineage facets built from dbt facts, each keyed by its canonical facet name.

Every builder returns ``{key: facet}`` so callers merge them with ``|`` and a missing fact simply
yields ``{}``. Facet classes come from openlineage-python, which sets each ``_schemaURL``.

The facets of facts every event of a dbt invocation repeats (its parent and root runs, the dbt
invocation and target, the engine, the warehouse as data source, the job types) are built and
validated once per distinct arguments (``_shared``) and the same objects go into every event:
nothing may modify a facet after it is built.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
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
from openlineage.client.generated.base import DatasetFacet, RunFacet

from .. import __version__
from ..dbt.source_code import GitCheckout
from ..schemas import CLASSIFICATION_SCHEMA_URL, DBT_RUN_SCHEMA_URL, DBT_TARGET_SCHEMA_URL
from .column_lineage import ColumnLineage, ColumnSource

CLASSIFICATION_KEYS = ("classification", "sensitivity")
FLOE_META = "floe"
"""dbt ``meta`` key floe reads its own settings under (``meta.floe.classification`` ...)."""
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
SHARED_FACETS = 256
"""Distinct argument sets each ``_shared`` builder keeps its facets for."""


def _shared(builder: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """``builder`` (hashable arguments), its facets built once per distinct arguments and
    shared; each call returns a new dict of them, so callers may merge into it."""
    built = functools.lru_cache(maxsize=SHARED_FACETS)(builder)

    @functools.wraps(builder)
    def shared(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return dict(built(*args, **kwargs))

    return shared


@_shared
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


@_shared
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


@_shared
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


@_shared
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


def column_lineage(producer: str, namespace: str, lineage: ColumnLineage | None) -> dict[str, Any]:
    """``columnLineage`` (1-2-0): per output column the columns it is computed from (DIRECT)
    or decided by (INDIRECT CONDITIONAL), and the columns deciding the dataset's rows."""
    if lineage is None:
        return {}

    def input_field(source: ColumnSource) -> column_lineage_dataset.InputField:
        return column_lineage_dataset.InputField(
            namespace=namespace,
            name=source.relation.name,
            field=source.column,
            transformations=[
                column_lineage_dataset.Transformation(
                    type=source.type, subtype=source.subtype, masking=False
                )
            ],
        )

    fields = {
        column: column_lineage_dataset.Fields(inputFields=[input_field(s) for s in sources])
        for column, sources in lineage.fields.items()
        if sources
    }
    if not fields and not lineage.dataset:
        return {}
    return {
        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(
            fields=fields,
            dataset=[input_field(s) for s in lineage.dataset] or None,
            producer=producer,
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
    """``columnClassification`` from the ``classification``/``sensitivity`` keys of column
    meta, at its top level or under ``floe`` (floe's ``meta.floe.classification``; the latter
    wins)."""
    fields = {}
    for name, meta in column_meta.items():
        floe = meta.get(FLOE_META)
        merged = {**meta, **(floe if isinstance(floe, Mapping) else {})}
        if "classification" in merged:
            fields[name] = {key: str(merged[key]) for key in CLASSIFICATION_KEYS if key in merged}
    if not fields:
        return {}
    return {
        "columnClassification": ColumnClassificationDatasetFacet(fields=fields, producer=producer)
    }


@attr.define
class DbtRunRunFacet(RunFacet):
    """dbt-ol's ``dbt_run`` facet, same name, fields and schema URL, so consumers that know
    dbt-ol's events read floe-lineage's."""

    invocation_id: str
    project_name: str | None = None
    profile_name: str | None = None
    dbt_runtime: str | None = None

    @staticmethod
    def _get_schema() -> str:
        return DBT_RUN_SCHEMA_URL


@attr.define
class DbtTargetRunFacet(RunFacet):
    """Custom facet: the dbt target (dbt-ol names the profile only); its JSON Schema ships in
    ``floe_lineage/schemas/``."""

    profile_name: str
    target_name: str
    adapter_type: str

    @staticmethod
    def _get_schema() -> str:
        return DBT_TARGET_SCHEMA_URL


@_shared
def dbt_run(
    producer: str, invocation_id: str | None, project_name: str | None, profile: str | None
) -> dict[str, Any]:
    """dbt-ol's ``dbt_run``: the dbt invocation a node ran in (dbt Core)."""
    if not invocation_id:
        return {}
    return {
        "dbt_run": DbtRunRunFacet(
            invocation_id=invocation_id,
            project_name=project_name,
            profile_name=profile,
            dbt_runtime="core",
            producer=producer,
        )
    }


@_shared
def dbt_target(
    producer: str, profile: str | None, target: str | None, adapter_type: str
) -> dict[str, Any]:
    if not profile or not target:
        return {}
    return {
        "dbt_target": DbtTargetRunFacet(
            profile_name=profile, target_name=target, adapter_type=adapter_type, producer=producer
        )
    }
