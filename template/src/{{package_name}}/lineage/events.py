"""OpenLineage run events for dbt nodes and for the step that runs dbt: pure functions of
dbt facts, with no I/O."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.data_quality_assertions_dataset import Assertion

from . import facets
from .column_lineage import ColumnSource
from .manifest import DbtGraph, DbtNode
from .naming import stable_run_id
from .source_code import GitCheckout
from .warehouse import WarehouseFacts


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
    """What every event of one dbt invocation shares."""

    producer: str
    job_namespace: str
    dataset_namespace: str
    step: JobRun
    """The orchestrator step that runs dbt: parent of every node run."""
    root: JobRun
    """The orchestrator run (Dagster run id and job name): root of every node run."""
    source_code: GitCheckout | None = None


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
    """What is known only once dbt has ended, shared by all terminal events."""

    warehouse: WarehouseFacts = field(default_factory=WarehouseFacts)
    column_lineage: Mapping[str, Mapping[str, Sequence[ColumnSource]]] = field(default_factory=dict)
    """Per model unique id: output column -> upstream columns."""


NO_FACTS = RunFacts()


def node_run_id(ctx: EmissionContext, unique_id: str) -> str:
    """Stable for a given (orchestrator run, dbt node)."""
    return stable_run_id(ctx.root.run_id, unique_id)


def node_start(ctx: EmissionContext, graph: DbtGraph, node: DbtNode, at: datetime) -> RunEvent:
    return _node_event(ctx, graph, node, RunState.START, at, None, NO_FACTS)


def node_end(
    ctx: EmissionContext, graph: DbtGraph, node: DbtNode, outcome: NodeOutcome, run: RunFacts
) -> RunEvent:
    return _node_event(ctx, graph, node, outcome.state, outcome.finished_at, outcome, run)


def step_event(
    ctx: EmissionContext, state: RunState, at: datetime, message: str | None = None
) -> RunEvent:
    """An event of the orchestrator step; its parent and root are the orchestrator run."""
    p = ctx.producer
    return RunEvent(
        eventType=state,
        eventTime=at.isoformat(),
        run=Run(
            runId=ctx.step.run_id,
            facets=facets.parent(p, ctx.root.as_tuple(), ctx.root.as_tuple())
            | facets.error_message(p, message, language="python"),
        ),
        job=Job(
            namespace=ctx.step.namespace,
            name=ctx.step.name,
            facets=facets.job_type(p, "DAGSTER", "STEP"),
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
    run_facets = facets.parent(p, ctx.step.as_tuple(), ctx.root.as_tuple())
    run_facets |= facets.processing_engine(p, graph.dbt_version)
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
    assertions = _assertions(node, outcome)
    output = graph.output(node.unique_id)
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
            for parent in graph.inputs(node.unique_id)
            if parent.relation is not None
        ],
        outputs=[
            OutputDataset(
                namespace=ctx.dataset_namespace,
                name=output.relation.name,
                facets=_dataset_facets(ctx, output, run)
                | facets.column_lineage(
                    p, ctx.dataset_namespace, run.column_lineage.get(node.unique_id, {})
                ),
                outputFacets=facets.output_statistics(
                    p, run.warehouse.row_counts.get(output.relation)
                )
                if state == RunState.COMPLETE
                else {},
            )
        ]
        if output is not None and output.relation is not None
        else [],
        producer=p,
    )


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
