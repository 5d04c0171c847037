"""Lineage of one dbt invocation, fed with dbt's structured log events as they arrive.

This is the core's one stateful piece: it reads dbt facts (``dbt``), builds events
(``openlineage``), reads the warehouse (``warehouse``) and hands events to an emitter
(``delivery``). It knows no orchestrator: the caller's ``EmissionContext`` says who runs dbt.

A node's START is emitted live, when dbt starts it (a node dbt skips gets its START when dbt
reports the skip). Terminal events are emitted when the invocation ends, in the order the nodes
finished and stamped with their real finish times: only then is dbt's error text known and the
DuckDB file free to read real column types from. Every START gets exactly one terminal event:
COMPLETE, FAIL (with dbt's error text) or ABORT (skipped, or still running when dbt stopped).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import RunState

from .dbt.log_events import NodeError, NodeFinished, NodeStarted, read_fact
from .dbt.manifest import RUNNABLE_TYPES, DbtGraph, DbtNode
from .dbt.profile import read_target
from .dbt.run_results import read_run_results
from .dbt.source_code import git_checkout
from .delivery.emitter import LineageEmitter
from .openlineage import run_events as events
from .openlineage.column_lineage import ColumnSource, trace_models
from .openlineage.observations import WarehouseFacts
from .openlineage.run_events import (
    NO_FACTS,
    EmissionContext,
    ExtraFacets,
    JobRun,
    NodeOutcome,
    RunFacts,
)
from .warehouse import UnsupportedWarehouse, Warehouse, warehouse_for

FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
SKIPPED_STATUSES = frozenset({"skipped"})
COUNTED_MATERIALIZATIONS = frozenset({"seed", "snapshot", "table", "incremental"})


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class InvocationLineage:
    """Turns one dbt invocation into OpenLineage events sent through ``emitter``.

    Call ``start()`` before dbt starts, ``attach()`` as soon as the invocation exists,
    ``observe()`` with every structured log event, and ``finish()`` exactly once when dbt has
    exited (or was stopped). No method raises unless the emitter is strict. The emitter stays
    open: its owner closes it.
    """

    def __init__(
        self,
        emitter: LineageEmitter,
        context: EmissionContext,
        warehouse: Warehouse,
        *,
        count_view_rows: bool = False,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._emitter = emitter
        if context.extra_facets is not None:
            context = replace(context, extra_facets=self._guarded(context.extra_facets))
        self._context = context
        self._fallback_manifest: Mapping[str, Any] = {}
        self._warehouse = warehouse
        self._counted = COUNTED_MATERIALIZATIONS | ({"view"} if count_view_rows else set())
        self._clock = clock
        self._target_path: Path | None = None
        self._graph: DbtGraph | None = None
        self._started: dict[str, datetime] = {}
        self._finished: dict[str, NodeFinished] = {}
        self._errors: dict[str, str] = {}

    def start(self) -> None:
        with self._emitter.guard("starting the parent job's lineage"):
            self._emitter.emit(events.parent_event(self._context, RunState.START, self._clock()))

    def attach(self, target_path: Path, manifest: Mapping[str, Any]) -> None:
        """The invocation's dbt target folder and the manifest it was selected from. The
        ``manifest.json`` dbt writes into the target folder before any node runs is preferred:
        it reflects the profile and variables of this very run."""
        self._target_path = target_path
        self._fallback_manifest = manifest

    def observe(self, raw_event: Mapping[str, Any]) -> None:
        if not self._emitter.enabled:
            return
        with self._emitter.guard("reading a dbt event"):
            fact = read_fact(raw_event)
            if isinstance(fact, NodeStarted):
                self._emit_start(fact.unique_id, fact.at)
            elif isinstance(fact, NodeFinished):
                if fact.status in SKIPPED_STATUSES and fact.unique_id not in self._started:
                    self._emit_start(fact.unique_id, fact.at)
                if fact.unique_id in self._started:
                    self._finished[fact.unique_id] = fact
            elif isinstance(fact, NodeError):
                self._errors[fact.unique_id] = fact.message

    def finish(self, failure: str | None = None, aborted: bool = False) -> None:
        """Close every started node, then the parent job: ABORT if ``aborted``, FAIL with
        ``failure`` if given, else COMPLETE."""
        now = self._clock()
        with self._emitter.guard("finishing the dbt nodes' lineage"):
            if self._started:
                self._emit_terminals(now)
        with self._emitter.guard("finishing the parent job's lineage"):
            state = RunState.ABORT if aborted else RunState.FAIL if failure else RunState.COMPLETE
            self._emitter.emit(events.parent_event(self._context, state, now, failure))

    def _graph_for_run(self) -> DbtGraph:
        if self._graph is None:
            manifest_file = self._target_path / "manifest.json" if self._target_path else None
            self._graph = (
                DbtGraph.from_file(manifest_file)
                if manifest_file is not None and manifest_file.is_file()
                else DbtGraph(self._fallback_manifest)
            )
        return self._graph

    def _emit_start(self, unique_id: str, at: datetime) -> None:
        graph = self._graph_for_run()
        node = graph.node(unique_id)
        if node is None or node.resource_type not in RUNNABLE_TYPES or unique_id in self._started:
            return
        self._started[unique_id] = at
        self._emitter.emit(events.node_start(self._context, graph, node, at))

    def _emit_terminals(self, now: datetime) -> None:
        graph = self._graph_for_run()
        results = read_run_results(self._target_path)
        outcomes = {uid: self._outcome(uid, results.get(uid, {}), now) for uid in self._started}
        completed = [uid for uid, o in outcomes.items() if o.state == RunState.COMPLETE]
        warehouse = self._inspect_warehouse(graph, outcomes, completed)
        column_lineage: dict[str, dict[str, list[ColumnSource]]] = {}
        with self._emitter.guard("tracing column lineage"):
            column_lineage = self._column_lineage(graph, outcomes, completed, warehouse)
        facts = RunFacts(warehouse, column_lineage)
        for uid, outcome in sorted(outcomes.items(), key=lambda item: item[1].finished_at):
            node = graph.node(uid)
            assert node is not None
            event = None
            with self._emitter.guard(f"building the facets of {uid}"):
                event = events.node_end(self._context, graph, node, outcome, facts)
            # a fact that breaks a facet must not leave the node's START open
            self._emitter.emit(
                event or events.node_end(self._context, graph, node, outcome, NO_FACTS)
            )

    def _inspect_warehouse(
        self, graph: DbtGraph, outcomes: Mapping[str, NodeOutcome], completed: list[str]
    ) -> WarehouseFacts:
        """Columns of every dataset read or written, row counts of tables written."""
        written = [o for o in map(graph.output, completed) if o is not None]
        read = [n.relation for uid in outcomes for n in graph.inputs(uid)]
        with self._emitter.guard(f"reading columns and row counts from {self._warehouse.namespace}"):
            return self._warehouse.inspect(
                describe=[*(o.relation for o in written), *read],
                count=[o.relation for o in written if o.materialized in self._counted],
            )
        return WarehouseFacts()

    def _column_lineage(
        self,
        graph: DbtGraph,
        outcomes: Mapping[str, NodeOutcome],
        completed: list[str],
        warehouse: WarehouseFacts,
    ) -> dict[str, dict[str, list[ColumnSource]]]:
        """Column lineage of every completed model; a model whose SQL cannot be analysed gets
        none, and a warning that says why."""
        tasks = []
        for uid in completed:
            node = graph.node(uid)
            sql = outcomes[uid].compiled_code
            if node is None or node.resource_type != "model" or not sql:
                continue
            inputs = {n.relation: warehouse.columns.get(n.relation, []) for n in graph.inputs(uid)}
            output = warehouse.columns.get(node.relation, []) if node.relation else []
            tasks.append((uid, sql, self._warehouse.dialect, inputs, output))
        found = {}
        for uid, traced in trace_models(tasks):
            if isinstance(traced, str):
                self._emitter.warn(f"OpenLineage: no column lineage for {uid}: {traced}")
            else:
                found[uid] = traced
        return found

    def _outcome(self, unique_id: str, result: Mapping[str, Any], now: datetime) -> NodeOutcome:
        finished = self._finished.get(unique_id)
        if finished is None:
            return NodeOutcome(RunState.ABORT, now, message="dbt stopped before this node finished")
        if finished.status in SKIPPED_STATUSES:
            return NodeOutcome(RunState.ABORT, finished.at, finished.status)
        failed = finished.status in FAILED_STATUSES
        return NodeOutcome(
            state=RunState.FAIL if failed else RunState.COMPLETE,
            finished_at=finished.at,
            dbt_status=finished.status,
            message=(
                result.get("message")
                or self._errors.get(unique_id)
                or f"dbt reported status {finished.status!r}"
            )
            if failed
            else None,
            compiled_code=result.get("compiled_code"),
            failures=result.get("failures"),
        )

    def _guarded(self, extra_facets: ExtraFacets) -> ExtraFacets:
        """The caller's facet callable, made harmless: its errors cost its facets, not events."""

        def extra(node: DbtNode, state: RunState) -> Mapping[str, Any]:
            with self._emitter.guard(f"adding extra facets to {node.unique_id}"):
                found = dict(extra_facets(node, state))
                events.split_extra_facets(found)  # a wrong type fails here, not in the event
                return found
            return {}

        return extra


def lineage_of_dbt_project(
    emitter: LineageEmitter,
    *,
    project_dir: Path,
    profiles_dir: Path | None,
    profile: str | None,
    target: str | None,
    producer: str,
    job_namespace: str,
    parent: JobRun,
    parent_type: tuple[str, str],
    root: JobRun,
    attempt: int = 0,
    extra_facets: ExtraFacets | None = None,
    count_view_rows: bool = False,
) -> InvocationLineage:
    """The lineage of one dbt invocation of the project in ``project_dir``, for a caller that
    says who runs it (``parent`` of type ``parent_type``, under ``root``, retry ``attempt``).

    Reads the profile target dbt will use (its warehouse names the datasets; an unreadable or
    unsupported one costs a warning and the facts read from the warehouse, never the events)
    and where the project lives in git (``sourceCodeLocation``)."""
    warehouse: Warehouse = UnsupportedWarehouse("unknown", None)
    with emitter.guard("reading the dbt profile"):
        warehouse = warehouse_for(read_target(project_dir, profiles_dir, profile, target))
        if not warehouse.supported:
            emitter.warn(
                f"OpenLineage: floe-lineage reads no {warehouse.adapter_type} warehouse: datasets"
                f" are named in {warehouse.namespace}, without typed schemas or row counts"
            )
        warehouse.prepare()
    context = EmissionContext(
        producer=producer,
        job_namespace=job_namespace,
        dataset_namespace=warehouse.namespace,
        parent=parent,
        parent_type=parent_type,
        root=root,
        attempt=attempt,
        source_code=git_checkout(project_dir),
        extra_facets=extra_facets,
    )
    return InvocationLineage(emitter, context, warehouse, count_view_rows=count_view_rows)
