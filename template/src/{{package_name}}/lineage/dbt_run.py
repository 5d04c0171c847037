"""Lineage of one dbt invocation, fed with dbt's structured log events as they arrive.

A node's START is emitted live, when dbt starts it (a node dbt skips gets its START when dbt
reports the skip). Terminal events are emitted when the invocation ends, in the order the nodes
finished and stamped with their real finish times: only then is dbt's error text known and the
DuckDB file free to read real column types from. Every START gets exactly one terminal event:
COMPLETE, FAIL (with dbt's error text) or ABORT (skipped, or still running when dbt stopped).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import RunState

from . import events
from .column_lineage import ColumnSource, trace_models
from .dbt_log import NodeError, NodeFinished, NodeStarted, read_fact
from .emitter import LineageEmitter
from .events import NO_FACTS, EmissionContext, NodeOutcome, RunFacts
from .manifest import RUNNABLE_TYPES, DbtGraph
from .warehouse import WarehouseFacts, inspect_warehouse

FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
SKIPPED_STATUSES = frozenset({"skipped"})
COUNTED_MATERIALIZATIONS = frozenset({"seed", "snapshot", "table", "incremental"})


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class DbtRunLineage:
    """Turns one dbt invocation into OpenLineage events sent through ``emitter``.

    Call ``start()`` before dbt starts, ``attach()`` as soon as the invocation exists,
    ``observe()`` with every structured log event, and ``finish()``
    exactly once when dbt has exited (or was stopped). No method raises unless the emitter is
    strict.
    """

    def __init__(
        self,
        emitter: LineageEmitter,
        context: EmissionContext,
        database_file: Path | None,
        *,
        count_view_rows: bool = False,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._emitter = emitter
        self._context = context
        self._fallback_manifest: Mapping[str, Any] = {}
        self._database_file = database_file
        self._counted = COUNTED_MATERIALIZATIONS | ({"view"} if count_view_rows else set())
        self._clock = clock
        self._target_path: Path | None = None
        self._graph: DbtGraph | None = None
        self._started: dict[str, datetime] = {}
        self._finished: dict[str, NodeFinished] = {}
        self._errors: dict[str, str] = {}

    def start(self) -> None:
        with self._emitter.guard("starting the dbt step's lineage"):
            self._emitter.emit(events.step_event(self._context, RunState.START, self._clock()))

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
        """Close every started node, then the step: ABORT if ``aborted``, FAIL with
        ``failure`` if given, else COMPLETE."""
        now = self._clock()
        with self._emitter.guard("finishing the dbt nodes' lineage"):
            if self._started:
                self._emit_terminals(now)
        with self._emitter.guard("finishing the dbt step's lineage"):
            state = RunState.ABORT if aborted else RunState.FAIL if failure else RunState.COMPLETE
            self._emitter.emit(events.step_event(self._context, state, now, failure))
        self._emitter.close()

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
        results = self._run_results()
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
        if self._database_file is None or not self._database_file.is_file():
            return WarehouseFacts()
        written = [o for o in map(graph.output, completed) if o is not None]
        read = [n.relation for uid in outcomes for n in graph.inputs(uid)]
        with self._emitter.guard(f"reading columns and row counts from {self._database_file}"):
            return inspect_warehouse(
                self._database_file,
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
            tasks.append((uid, sql, graph.adapter_type, inputs, output))
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

    def _run_results(self) -> dict[str, Mapping[str, Any]]:
        path = self._target_path / "run_results.json" if self._target_path else None
        if path is None or not path.is_file():
            return {}
        return {r["unique_id"]: r for r in json.loads(path.read_bytes()).get("results", [])}
