"""OpenLineage run events for dbt nodes and for the job that runs dbt (the parent): pure
functions of dbt facts, with no I/O and no knowledge of the orchestrator beyond what the caller
puts in the ``EmissionContext``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.base import DatasetFacet, JobFacet, RunFacet
from openlineage.client.generated.data_quality_assertions_dataset import Assertion

from ..dbt.manifest import DbtGraph, DbtNode
from ..dbt.source_code import GitCheckout
from . import facets
from .column_lineage import ColumnLineage
from .naming import stable_run_id
from .observations import WarehouseFacts

ExtraFacets = Callable[[DbtNode, RunState], Mapping[str, Any]]
"""Facets of your own for a dbt node's event: called with the node and the event type, returns
facet instances by key; each goes where its class says (``RunFacet``: the run, ``JobFacet``: the
job, ``DatasetFacet``: the dataset the node writes)."""


@dataclass(frozen=True)
class JobRun:
    """A job and one run of it."""

    namespace: str
    name: str
    run_id: str

    def as_tuple(self) -> tuple[str, str, str]:
        return (self.namespace, self.name, self.run_id)


@dataclass(frozen=True)
class EmissionContext:
    """What every event of one dbt invocation shares, as the caller (the orchestrator's
    integration) states it."""

    producer: str
    job_namespace: str
    """Namespace of the dbt node jobs."""
    dataset_namespace: str
    """Namespace of every dataset, as the warehouse names it."""
    parent: JobRun
    """The job that runs dbt (e.g. an orchestrator step): parent of every node run."""
    parent_type: tuple[str, str]
    """``jobType`` of the parent: (integration, job type), e.g. ``("DAGSTER", "STEP")``."""
    root: JobRun
    """The run everything belongs to (e.g. the orchestrator run): root of every node run."""
    attempt: int = 0
    """Retry attempt of the parent (0 the first time): a retried attempt gets new run ids."""
    source_code: GitCheckout | None = None
    extra_facets: ExtraFacets | None = None
    dbt_profile: str | None = None
    """The dbt profile and target the invocation runs against (``dbt_run`` / ``dbt_target``)."""
    dbt_target: str | None = None


@dataclass(frozen=True)
class NodeOutcome:
    """How a node ended, from dbt's result events and ``run_results.json``."""

    state: RunState
    finished_at: datetime
    dbt_status: str | None = None
    message: str | None = None
    compiled_code: str | None = None
    failures: int | None = None
    """Rows a dbt test found failing."""


@dataclass(frozen=True)
class RunFacts:
    """What the warehouse told (columns, row counts) and the column lineage traced with it."""

    warehouse: WarehouseFacts = field(default_factory=WarehouseFacts)
    column_lineage: Mapping[str, ColumnLineage] = field(default_factory=dict)
    """Per model or snapshot unique id."""


NO_FACTS = RunFacts()


def node_run_id(ctx: EmissionContext, unique_id: str) -> str:
    """Stable for a given (root run, dbt node, attempt); the first attempt's id leaves the
    attempt out."""
    attempt = (f"attempt {ctx.attempt}",) if ctx.attempt else ()
    return stable_run_id(ctx.root.run_id, unique_id, *attempt)


def node_start(ctx: EmissionContext, graph: DbtGraph, node: DbtNode, at: datetime) -> RunEvent:
    return _node_event(ctx, graph, node, RunState.START, at, None, NO_FACTS)


def node_end(
    ctx: EmissionContext, graph: DbtGraph, node: DbtNode, outcome: NodeOutcome, run: RunFacts
) -> RunEvent:
    """The node's terminal event: COMPLETE, FAIL or ABORT at its finish time."""
    return _node_event(ctx, graph, node, outcome.state, outcome.finished_at, outcome, run)


def node_facts(
    ctx: EmissionContext,
    graph: DbtGraph,
    node: DbtNode,
    outcome: NodeOutcome,
    run: RunFacts,
    at: datetime,
) -> RunEvent:
    """An OTHER event of a node's run, after its terminal event: the node as the terminal event
    described it, with what was learnt since (the warehouse's typed schemas, row counts and
    column lineage, read once dbt released the database; error text dbt printed late). It
    changes nothing about how the run ended."""
    return _node_event(ctx, graph, node, RunState.OTHER, at, outcome, run)


def parent_event(
    ctx: EmissionContext, state: RunState, at: datetime, message: str | None = None
) -> RunEvent:
    """An event of the job that runs dbt; its parent and root are the root run."""
    p = ctx.producer
    return RunEvent(
        eventType=state,
        eventTime=at.isoformat(),
        run=Run(
            runId=ctx.parent.run_id,
            facets=facets.parent(p, ctx.root.as_tuple(), ctx.root.as_tuple())
            | facets.error_message(p, message, language="python"),
        ),
        job=Job(
            namespace=ctx.parent.namespace,
            name=ctx.parent.name,
            facets=facets.job_type(p, *ctx.parent_type),
        ),
        producer=p,
    )


def _node_event(
    ctx: EmissionContext,
    graph: DbtGraph,
    node: DbtNode,
    state: RunState,
    at: datetime,
    outcome: NodeOutcome | None,
    run: RunFacts,
) -> RunEvent:
    p = ctx.producer
    run_facets = facets.parent(p, ctx.parent.as_tuple(), ctx.root.as_tuple())
    run_facets |= facets.processing_engine(p, graph.dbt_version)
    run_facets |= facets.dbt_run(
        p,
        graph.metadata.get("invocation_id"),
        graph.metadata.get("project_name"),
        ctx.dbt_profile,
    )
    run_facets |= facets.dbt_target(p, ctx.dbt_profile, ctx.dbt_target, graph.adapter_type)
    job_facets = (
        facets.job_type(p, "DBT", node.resource_type.upper())
        | facets.job_documentation(p, node.description)
        | facets.job_tags(p, node.tags)
        | facets.job_ownership(p, node.owners)
        | facets.source_code_location(p, ctx.source_code, node.properties.get("original_file_path"))
    )
    if outcome is not None:
        run_facets |= facets.error_message(p, outcome.message)
        job_facets |= facets.sql(p, outcome.compiled_code, graph.adapter_type)
    extra_run, extra_job, extra_dataset = _extra_facets(ctx, node, state)
    run_facets |= extra_run
    job_facets |= extra_job
    assertions = _assertions(node, outcome)
    output = graph.output(node.unique_id)
    parents = [parent for parent in graph.inputs(node.unique_id) if parent.relation is not None]
    if output is not None and _reads_itself(output, run.column_lineage.get(node.unique_id)):
        parents.append(output)  # an incremental model's ``{{ this }}``
    return RunEvent(
        eventType=state,
        eventTime=at.isoformat(),
        run=Run(runId=node_run_id(ctx, node.unique_id), facets=run_facets),
        job=Job(namespace=ctx.job_namespace, name=node.unique_id, facets=job_facets),
        inputs=[
            InputDataset(
                namespace=ctx.dataset_namespace,
                name=parent.relation.name,
                facets=_dataset_facets(ctx, parent, run),
                inputFacets=facets.data_quality_assertions(p, assertions.get(parent.unique_id, [])),
            )
            for parent in parents
        ],
        outputs=[
            OutputDataset(
                namespace=ctx.dataset_namespace,
                name=output.relation.name,
                facets=_dataset_facets(ctx, output, run)
                | facets.column_lineage(
                    p, ctx.dataset_namespace, run.column_lineage.get(node.unique_id)
                )
                | extra_dataset,
                outputFacets=facets.output_statistics(
                    p, run.warehouse.rows_for_statistics(output.relation)
                )
                if outcome is not None and outcome.state == RunState.COMPLETE
                else {},
            )
        ]
        if output is not None and output.relation is not None
        else [],
        producer=p,
    )


def _extra_facets(
    ctx: EmissionContext, node: DbtNode, state: RunState
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The caller's own facets for this event, split into run, job and dataset facets."""
    if ctx.extra_facets is None:
        return {}, {}, {}
    return split_extra_facets(ctx.extra_facets(node, state))


def split_extra_facets(
    found: Mapping[str, Any],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Facets by where their class puts them: run, job, dataset. Raises ``TypeError`` for
    anything that is not an OpenLineage run, job or dataset facet."""
    run: dict[str, Any] = {}
    job: dict[str, Any] = {}
    dataset: dict[str, Any] = {}
    for key, facet in found.items():
        if isinstance(facet, RunFacet):
            run[key] = facet
        elif isinstance(facet, JobFacet):
            job[key] = facet
        elif isinstance(facet, DatasetFacet):
            dataset[key] = facet
        else:
            raise TypeError(
                f"extra facet {key!r} is a {type(facet).__name__}, not an OpenLineage RunFacet,"
                " JobFacet or DatasetFacet"
            )
    return run, job, dataset


def _reads_itself(output: DbtNode, lineage: ColumnLineage | None) -> bool:
    """Whether the column lineage of the node writing ``output`` cites ``output`` itself (an
    incremental model reading ``{{ this }}``): then it is an input too."""
    if lineage is None or output.relation is None:
        return False
    sources = [*lineage.dataset, *(s for found in lineage.fields.values() for s in found)]
    return any(source.relation == output.relation for source in sources)


def _dataset_facets(ctx: EmissionContext, node: DbtNode, run: RunFacts) -> dict[str, Any]:
    """Facets of the dataset a node writes (or a source names), as an input or an output."""
    p = ctx.producer
    assert node.relation is not None
    return (
        facets.data_source(p, ctx.dataset_namespace)
        | facets.dataset_documentation(p, node.description)
        | facets.schema(p, run.warehouse.columns.get(node.relation, []), node.columns)
        | facets.dataset_tags(p, node.tags)
        | facets.dataset_ownership(p, node.owners)
        | facets.column_classification(p, node.column_meta)
    )


def _assertions(node: DbtNode, outcome: NodeOutcome | None) -> dict[str, list[Assertion]]:
    """A finished dbt test as a data-quality assertion on the dataset it tests, keyed by that
    dataset's unique id (a generic test's ``attached_node``; for singular tests, every parent)."""
    if node.resource_type != "test" or outcome is None or outcome.dbt_status in (None, "skipped"):
        return {}
    test = node.properties
    metadata = test.get("test_metadata") or {}
    assertion = Assertion(
        assertion=metadata.get("name") or node.name,
        success=outcome.dbt_status == "pass",
        column=test.get("column_name") or None,
        severity=str(test.get("config", {}).get("severity", "error")).lower(),
        name=node.name,
        description=node.description,
        expected="0",
        actual=None if outcome.failures is None else str(outcome.failures),
        content=outcome.compiled_code,
        contentType="sql" if outcome.compiled_code else None,
    )
    targets = [test["attached_node"]] if test.get("attached_node") else list(node.parents)
    return {target: [assertion] for target in targets}
