"""OpenLineage run events for dbt nodes and for the step that runs dbt: pure functions of
dbt facts, with no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

from . import facets
from .manifest import DbtGraph, DbtNode
from .naming import Relation, stable_run_id
from .warehouse import Columns


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


@dataclass(frozen=True)
class NodeOutcome:
    """How a node ended, from dbt's result events and ``run_results.json``."""

    state: RunState
    finished_at: datetime
    message: str | None = None
    compiled_code: str | None = None


def node_run_id(ctx: EmissionContext, unique_id: str) -> str:
    """Stable for a given (orchestrator run, dbt node)."""
    return stable_run_id(ctx.root.run_id, unique_id)


def node_start(ctx: EmissionContext, graph: DbtGraph, node: DbtNode, at: datetime) -> RunEvent:
    return _node_event(ctx, graph, node, RunState.START, at, None, {})


def node_end(
    ctx: EmissionContext,
    graph: DbtGraph,
    node: DbtNode,
    outcome: NodeOutcome,
    columns: Mapping[Relation, Columns],
) -> RunEvent:
    """The terminal event; ``columns`` holds the real columns of the relations dbt left behind."""
    return _node_event(ctx, graph, node, outcome.state, outcome.finished_at, outcome, columns)


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
    columns: Mapping[Relation, Columns],
) -> RunEvent:
    p = ctx.producer
    run_facets = facets.parent(
        p, ctx.step.as_tuple(), ctx.root.as_tuple()
    ) | facets.processing_engine(p, graph.dbt_version, graph.adapter_type)
    job_facets = facets.job_type(p, "DBT", node.resource_type.upper()) | facets.job_documentation(
        p, node.properties.get("description")
    )
    if outcome is not None:
        run_facets |= facets.error_message(p, outcome.message if state == RunState.FAIL else None)
        job_facets |= facets.sql(p, outcome.compiled_code, graph.adapter_type)
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
                facets=_dataset_facets(p, ctx, parent, columns),
            )
            for parent in graph.inputs(node.unique_id)
            if parent.relation is not None
        ],
        outputs=[
            OutputDataset(
                namespace=ctx.dataset_namespace,
                name=output.relation.name,
                facets=_dataset_facets(p, ctx, output, columns),
            )
        ]
        if output is not None and output.relation is not None
        else [],
        producer=p,
    )


def _dataset_facets(
    p: str, ctx: EmissionContext, node: DbtNode, columns: Mapping[Relation, Columns]
) -> dict[str, Any]:
    assert node.relation is not None
    return (
        facets.data_source(p, ctx.dataset_namespace)
        | facets.dataset_documentation(p, node.properties.get("description"))
        | facets.schema(p, columns.get(node.relation, []), node.properties.get("columns", {}))
    )
