"""Lineage of one dbt invocation, fed with dbt's structured log events as they arrive.

This is the core's one stateful piece: it reads dbt facts (``dbt``), builds events
(``openlineage``), reads the warehouse (``warehouse``) and hands events to an emitter
(``delivery``). It knows no orchestrator: the caller's ``EmissionContext`` says who runs dbt.

Every node's events are sent as dbt reports them, so a process killed mid-run loses none of what
dbt had finished:

- START when dbt starts the node (a node dbt skips gets its START with the skip);
- its one terminal event as soon as dbt reports it finished: COMPLETE, FAIL with dbt's error
  text, or ABORT for a skip, with the compiled SQL, inputs and outputs. Where the warehouse can
  be read while dbt runs (no file lock), the typed schemas, row counts and column lineage are
  read there and then and go in it too;
- where dbt runs as ``floe-lineage-dbt`` (``expect_facts_from_dbt``), the dbt process reports
  each finished node in a ``FloeLineageFacts`` line (``in_dbt.facts_line``): a failed node's
  error text, the rows a node wrote, and on DuckDB (whose file dbt locks until it exits) the
  columns and row count read through dbt's own connection. The terminal event of a completed
  model, seed or snapshot and of any failed node waits for that line (not for the end of the
  run), then carries what it brought, with the column lineage. What never came by the time dbt
  exited is read then and goes in the terminal event all the same;
- otherwise the error text comes from dbt's JSON log file (``dbt.log_file``), read once, as it
  stands, when the node's result is handled; where it was not written yet the FAIL says dbt's
  status, and the text dbt prints at the end of the run follows in an OTHER event;
- otherwise (a dbt that does not report them, on a warehouse that cannot be read during the run)
  those facts follow, once dbt has exited, in one OTHER event per completed node, for the same
  run: the run ended as its terminal event said, the OTHER event adds what was learnt since;
- when dbt stops, every node still running gets ABORT, and the parent job its terminal event.

At the start, runs an earlier, killed process left open are closed with ABORT (``delivery.
open_runs``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import RunState

from .column_lineage_cache import ColumnLineageCache
from .dbt.log_events import NodeError, NodeFinished, NodeStarted, read_fact
from .dbt.log_file import DbtLogFile
from .dbt.manifest import RUNNABLE_TYPES, DbtGraph, DbtNode
from .dbt.profile import read_target
from .dbt.relation import Relation
from .dbt.run_results import read_run_results
from .dbt.source_code import git_checkout
from .delivery.emitter import LineageEmitter
from .in_dbt.facts_line import EVENT_NAME as FACTS_EVENT
from .in_dbt.facts_line import FactsRead, read_facts_line
from .in_dbt.reader import FAILED_STATUSES, READ_TYPES, WRITTEN_MATERIALIZATIONS
from .openlineage import run_events as events
from .openlineage.column_lineage import ColumnLineage, snapshot_columns
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
from .warehouse.base import VIEW_COUNT_TIMEOUT, bounds_view_counts
from .worker import Worker

SKIPPED_STATUSES = frozenset({"skipped"})
COUNTED_MATERIALIZATIONS = frozenset({"seed", "snapshot", "table", "incremental"})
TRACED_TYPES = frozenset({"model", "snapshot"})
"""Nodes whose SQL yields the columns they write (a test's SQL writes nothing)."""


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class NodeFacts:
    """What lineage learnt about one dbt node, for an orchestrator to show beside its own view
    (Dagster's column schema, row count and column lineage)."""

    run_id: str
    """The node's OpenLineage run id."""
    job_name: str
    columns: list[tuple[str, str, str | None]]
    """The written relation's real ``(column, type, description)``, in table order."""
    row_count: int | None
    column_lineage: ColumnLineage | None


@dataclass
class _Closed:
    """A node whose terminal event was sent, and what its facts event may still add."""

    node: DbtNode
    outcome: NodeOutcome
    complete_facts: bool
    """Whether the terminal event already held the warehouse's facts (read during the run)."""


class InvocationLineage:
    """Turns one dbt invocation into OpenLineage events sent through ``emitter``.

    Call ``start()`` before dbt starts, ``attach()`` as soon as the invocation exists,
    ``observe()`` with every structured log event, and ``finish()`` exactly once when dbt has
    exited (or was stopped). No method raises unless the emitter is strict. The emitter stays
    open: its owner closes it. ``column_lineage_cache`` is the file keeping the column lineage
    traced on earlier runs (``column_lineage_cache.FILE_NAME`` in the project's target folder):
    an unchanged model is not traced again. None traces every model on every run.
    """

    def __init__(
        self,
        emitter: LineageEmitter,
        context: EmissionContext,
        warehouse: Warehouse,
        *,
        count_view_rows: bool = True,
        view_count_timeout: float = VIEW_COUNT_TIMEOUT,
        column_lineage_cache: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._emitter = emitter
        if context.extra_facets is not None:
            context = replace(context, extra_facets=self._guarded(context.extra_facets))
        self._context = context
        self._fallback_manifest: Mapping[str, Any] = {}
        self._warehouse = warehouse
        self._counted = COUNTED_MATERIALIZATIONS | ({"view"} if count_view_rows else set())
        self._view_count_timeout = view_count_timeout
        self._bounds_view_counts = bounds_view_counts(warehouse)
        """Whether ``warehouse.inspect`` takes ``views`` (asked once, not per node)."""
        self._clock = clock
        self._traced = ColumnLineageCache(column_lineage_cache)
        self._target_path: Path | None = None
        self._log_file: DbtLogFile | None = None
        self._graph: DbtGraph | None = None
        self._started: dict[str, datetime] = {}
        self._closed: dict[str, _Closed] = {}
        self._late_errors: dict[str, str] = {}
        self._known: dict[str, RunFacts] = {}
        """The facts of each completed node, once read."""
        self._facts_added = False
        self._facts_from_dbt = False
        self._seen = WarehouseFacts()
        """Every relation's columns and row count the dbt process reported in this run."""
        self._arrived: dict[str, FactsRead] = {}
        """Facts reported for a node whose result was not observed yet."""
        self._awaiting: dict[str, NodeOutcome] = {}
        """Completed nodes whose terminal event waits for the facts the dbt process reports."""
        self._handled: set[str] = set()
        """Nodes whose result was handled."""
        self._worker: Worker | None = None

    def expect_facts_from_dbt(self) -> None:
        """dbt runs as ``floe-lineage-dbt``: a completed model's, seed's or snapshot's terminal
        event, and a failed node's, waits for the line the dbt process writes for it. Call
        before dbt starts."""
        self._facts_from_dbt = True

    def start(self) -> None:
        """Close what killed runs left open, then START the parent job."""
        self._emitter.close_orphans()
        with self._emitter.guard("starting the parent job's lineage"):
            self._emitter.emit(events.parent_event(self._context, RunState.START, self._clock()))

    def attach(self, target_path: Path, manifest: Mapping[str, Any]) -> None:
        """The invocation's dbt target folder (where dbt writes ``dbt.log``, its manifest and
        compiled SQL) and the manifest it was selected from. The ``manifest.json`` dbt writes
        into the target folder before any node runs is preferred: it reflects the profile and
        variables of this very run."""
        self._target_path = target_path
        self._log_file = DbtLogFile(target_path / "dbt.log")
        self._fallback_manifest = manifest

    def observe(self, raw_event: Mapping[str, Any]) -> None:
        """Record one structured dbt log event. With a worker (``use_worker``) it is only
        handed to it, when it concerns a node: what the event leads to (events built and sent,
        the warehouse read, column lineage traced, dbt's error text awaited) happens there."""
        if not self._emitter.enabled:
            return
        if self._worker is None:
            self._observe_now(raw_event)
        elif _concerns_a_node(raw_event):
            self._worker.submit(lambda: self._observe_now(raw_event))

    def use_worker(self) -> None:
        """From now on ``observe`` only records: everything else runs on one bounded worker
        thread (``worker.Worker``), in the order dbt reported it; ``add_facts`` waits for it."""
        if self._worker is None:
            self._worker = Worker("floe-lineage")

    def settled(self, unique_id: str) -> bool:
        """Whether the result of the node was handled and its facts are not still to come from
        the dbt process: what lineage will know of it (``facts_of``) is known."""
        return unique_id in self._handled and unique_id not in self._awaiting

    def _observe_now(self, raw_event: Mapping[str, Any]) -> None:
        with self._emitter.guard("reading a dbt event"):
            reported = read_facts_line(raw_event)
            if reported is not None:
                self._on_facts(reported)
                return
            fact = read_fact(raw_event)
            if isinstance(fact, NodeStarted):
                self._emit_start(fact.unique_id, fact.at)
            elif isinstance(fact, NodeFinished):
                if fact.status in SKIPPED_STATUSES and fact.unique_id not in self._started:
                    self._emit_start(fact.unique_id, fact.at)
                uid = fact.unique_id
                open_ = uid in self._started and uid not in self._closed
                try:
                    if open_ and uid not in self._awaiting:
                        self._emit_terminal(fact)
                finally:  # after: a materialization waiting for it is released then
                    self._handled.add(uid)
            elif isinstance(fact, NodeError):
                closed = self._closed.get(fact.unique_id)
                if closed is not None and closed.outcome.message != fact.message:
                    self._late_errors[fact.unique_id] = fact.message

    def add_facts(self) -> None:
        """Once dbt has exited: ABORT every node still running, and send what the warehouse
        tells about the completed ones (OTHER events where the terminal events could not carry
        it). Done once; ``finish`` does it if nobody did."""
        if self._facts_added:
            return
        self._facts_added = True
        if self._worker is not None:
            self._worker.drain()
        now = self._clock()
        with self._emitter.guard("reading the facts the dbt process did not report"):
            self._close_awaiting()
        with self._emitter.guard("aborting the dbt nodes still running"):
            for unique_id in [u for u in self._started if u not in self._closed]:
                self._abort(unique_id, now)
        with self._emitter.guard("adding the warehouse's facts"):
            self._emit_facts(now)
        with self._emitter.guard(f"saving the column lineage traced to {self._traced.path}"):
            self._traced.save(lambda: set(self._graph_for_run().runnable_ids()))
        with self._emitter.guard(f"closing the connection to {self._warehouse.namespace}"):
            self._warehouse.close()

    @property
    def adapter_type(self) -> str:
        """dbt's adapter type of the target (``duckdb``, ``postgres`` ...)."""
        return self._warehouse.adapter_type

    @property
    def enabled(self) -> bool:
        """Whether lineage is emitted at all (not with ``OPENLINEAGE_DISABLED=true`` or a
        configuration that cannot be used): no facts ever come otherwise."""
        return self._emitter.enabled

    @property
    def graph(self) -> DbtGraph:
        """The manifest of this invocation (the one dbt wrote into its target folder)."""
        return self._graph_for_run()

    def facts_of(self, unique_id: str) -> NodeFacts | None:
        """What lineage knows of a completed node that writes a relation, once known (when it
        finished, or after ``add_facts``); None before, or for a node that wrote nothing."""
        facts, closed = self._known.get(unique_id), self._closed.get(unique_id)
        node = closed.node if closed else None
        if facts is None or node is None or node.relation is None:
            return None
        documented = {
            name.lower(): (column.get("description") or None)
            for name, column in node.columns.items()
        }
        return NodeFacts(
            run_id=events.node_run_id(self._context, unique_id),
            job_name=unique_id,
            columns=[
                (name, data_type, documented.get(name.lower()))
                for name, data_type in facts.warehouse.columns.get(node.relation, [])
            ],
            row_count=facts.warehouse.row_counts.get(node.relation),
            column_lineage=facts.column_lineage.get(unique_id),
        )

    def run_id_of(self, unique_id: str) -> str | None:
        """The OpenLineage run id of a node lineage has started (None for any other node)."""
        return events.node_run_id(self._context, unique_id) if unique_id in self._started else None

    def finish(self, failure: str | None = None, aborted: bool = False) -> None:
        """``add_facts`` if not done yet, then end the parent job: ABORT if ``aborted``, FAIL
        with ``failure`` if given, else COMPLETE."""
        self.add_facts()
        now = self._clock()
        with self._emitter.guard("finishing the parent job's lineage"):
            state = RunState.ABORT if aborted else RunState.FAIL if failure else RunState.COMPLETE
            self._emitter.emit(events.parent_event(self._context, state, now, failure))

    # -- node events ------------------------------------------------------------------------

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

    def _emit_terminal(self, finished: NodeFinished) -> None:
        graph = self._graph_for_run()
        node = graph.node(finished.unique_id)
        assert node is not None  # it was started
        outcome = self._outcome(node, finished)
        if self._facts_from_dbt and self._reported_by_dbt(node, outcome):
            reported = self._arrived.pop(node.unique_id, None)
            if reported is None:
                self._awaiting[node.unique_id] = outcome
            else:
                self._close_with(node, outcome, reported)
            return
        facts, complete = NO_FACTS, False
        if outcome.state == RunState.COMPLETE and self._warehouse.reads_during_run:
            with self._emitter.guard(f"reading the warehouse for {node.unique_id}"):
                facts = self._facts({node.unique_id: outcome})
                if node.materialized in WRITTEN_MATERIALIZATIONS:
                    self._add_rows_written(node, facts.warehouse, self._logged_rows(node))
                self._known[node.unique_id] = facts
                complete = True
        self._send_terminal(node, outcome, facts)
        self._closed[node.unique_id] = _Closed(node, outcome, complete)

    def _logged_rows(self, node: DbtNode) -> int | None:
        """The ``rows_affected`` of the adapter response dbt logged to ``dbt.log`` with the
        node's result, as the file stands (never waited for); None where it is not there."""
        logged = self._log_file.result(node.unique_id) if self._log_file else None
        rows = ((logged or {}).get("adapter_response") or {}).get("rows_affected")
        return int(rows) if isinstance(rows, (int, float)) and rows >= 0 else None

    @staticmethod
    def _add_rows_written(node: DbtNode, warehouse: WarehouseFacts, rows: int | None) -> None:
        """The rows a table or incremental model wrote, where the adapter reported them."""
        if node.materialized in WRITTEN_MATERIALIZATIONS and node.relation and rows is not None:
            warehouse.rows_written[node.relation] = rows

    @staticmethod
    def _reported_by_dbt(node: DbtNode, outcome: NodeOutcome) -> bool:
        """Whether ``floe-lineage-dbt`` reports this node (``in_dbt.reader``): a model, seed or
        snapshot that succeeded, or any node that failed."""
        if outcome.dbt_status in FAILED_STATUSES:
            return True
        return (
            outcome.state == RunState.COMPLETE
            and outcome.dbt_status == "success"
            and node.resource_type in READ_TYPES
        )

    def _on_facts(self, reported: FactsRead) -> None:
        """Record what the dbt process read; close the node if its result was observed."""
        self._seen.columns.update(reported.warehouse.columns)
        self._seen.row_counts.update(reported.warehouse.row_counts)
        if reported.error:
            self._emitter.warn(
                f"OpenLineage: no warehouse facts for {reported.unique_id}: {reported.error}"
            )
        outcome = self._awaiting.get(reported.unique_id)
        node = self._graph_for_run().node(reported.unique_id)
        if outcome is None or node is None:
            self._arrived[reported.unique_id] = reported
            return
        self._close_with(node, outcome, reported)
        del self._awaiting[reported.unique_id]  # after: facts_of answers once settled

    def _close_with(self, node: DbtNode, outcome: NodeOutcome, reported: FactsRead) -> None:
        """The terminal event of a node the dbt process reported: a failed node's with dbt's
        error text; a completed node's with the facts the dbt process read (columns of its
        relation and inputs, from this line or earlier ones, its row count) or, where it read
        none, those read here while dbt runs (PostgreSQL); the rows it wrote, and the column
        lineage traced from them."""
        if outcome.state == RunState.FAIL:
            outcome = replace(outcome, message=reported.message or outcome.message)
            self._send_terminal(node, outcome, NO_FACTS)
            self._closed[node.unique_id] = _Closed(node, outcome, True)
            return
        if not reported.read:
            facts, complete = NO_FACTS, False
            if self._warehouse.reads_during_run:
                with self._emitter.guard(f"reading the warehouse for {node.unique_id}"):
                    facts = self._facts({node.unique_id: outcome})
                    self._add_rows_written(node, facts.warehouse, reported.rows_written)
                    self._known[node.unique_id] = facts
                    complete = True
            self._send_terminal(node, outcome, facts)
            self._closed[node.unique_id] = _Closed(node, outcome, complete)
            return
        relations = [n.relation for n in self._graph_for_run().inputs(node.unique_id)]
        relations.append(node.relation)
        own = node.relation
        warehouse = WarehouseFacts(
            columns={r: self._seen.columns[r] for r in relations if r in self._seen.columns},
            row_counts={own: self._seen.row_counts[own]} if own in self._seen.row_counts else {},
            rows_written={own: reported.rows_written}
            if own is not None and reported.rows_written is not None
            else {},
            not_counted=dict(reported.warehouse.not_counted),
        )
        facts = NO_FACTS
        with self._emitter.guard(f"tracing the column lineage of {node.unique_id}"):
            facts = self._facts({node.unique_id: outcome}, warehouse)
        self._known[node.unique_id] = facts
        self._send_terminal(node, outcome, facts)
        self._closed[node.unique_id] = _Closed(node, outcome, True)

    def _close_awaiting(self) -> None:
        """dbt exited: the nodes whose line never came (the dbt process stopped before writing
        it) end now: a completed one with its facts read now, a failed one with the error text
        of dbt's log file, where it is there."""
        if not self._awaiting:
            return
        awaiting, self._awaiting = self._awaiting, {}
        completed = {u: o for u, o in awaiting.items() if o.state == RunState.COMPLETE}
        facts = NO_FACTS
        if completed:
            with self._emitter.guard("reading the warehouse after dbt exited"):
                facts = self._facts(completed)
        graph = self._graph_for_run()
        for uid, outcome in sorted(awaiting.items(), key=lambda i: i[1].finished_at):
            node = graph.node(uid)
            assert node is not None  # it was started
            if uid in completed:
                self._known[uid] = facts
                self._send_terminal(node, outcome, facts)
            else:
                outcome = replace(outcome, message=self._logged_message(uid) or outcome.message)
                self._send_terminal(node, outcome, NO_FACTS)
            self._closed[uid] = _Closed(node, outcome, True)

    def _abort(self, unique_id: str, now: datetime) -> None:
        node = self._graph_for_run().node(unique_id)
        assert node is not None
        outcome = NodeOutcome(RunState.ABORT, now, message="dbt stopped before this node finished")
        self._send_terminal(node, outcome, NO_FACTS)
        self._closed[unique_id] = _Closed(node, outcome, True)

    def _send_terminal(self, node: DbtNode, outcome: NodeOutcome, facts: RunFacts) -> None:
        graph = self._graph_for_run()
        event = None
        with self._emitter.guard(f"building the facets of {node.unique_id}"):
            event = events.node_end(self._context, graph, node, outcome, facts)
        # a fact that breaks a facet must not leave the node's START open
        self._emitter.emit(event or events.node_end(self._context, graph, node, outcome, NO_FACTS))

    def _outcome(self, node: DbtNode, finished: NodeFinished) -> NodeOutcome:
        if finished.status in SKIPPED_STATUSES:
            return NodeOutcome(RunState.ABORT, finished.at, finished.status)
        failed = finished.status in FAILED_STATUSES
        message = None
        if failed:
            # from the dbt process's line when it reports (_close_with), else dbt's log file
            logged = None if self._facts_from_dbt else self._logged_message(node.unique_id)
            message = logged or f"dbt reported status {finished.status!r}"
        return NodeOutcome(
            state=RunState.FAIL if failed else RunState.COMPLETE,
            finished_at=finished.at,
            dbt_status=finished.status,
            message=message,
            compiled_code=self._compiled_code(node),
            failures=finished.failures,
        )

    def _logged_message(self, unique_id: str) -> str | None:
        """The error text dbt logged to ``dbt.log`` with the node's result, as the file stands
        (never waited for: where it is not written yet, the text dbt prints at the end of the
        run follows in an OTHER event)."""
        logged = self._log_file.result(unique_id) if self._log_file else None
        return (logged or {}).get("message") or None

    def _compiled_code(self, node: DbtNode) -> str | None:
        compiled = node.compiled_file(self._target_path) if self._target_path else None
        try:
            return compiled.read_text(encoding="utf-8") if compiled else None
        except OSError:
            return None  # not compiled (a seed), or compilation failed

    # -- facts after the terminal event -----------------------------------------------------

    def _emit_facts(self, now: datetime) -> None:
        """One OTHER event per node whose terminal event lacked facts learnt since: the
        warehouse's, when it could not be read during the run, and the column lineage of SQL
        known only from ``run_results.json`` (a snapshot defined in YAML has no compiled file)."""
        results = read_run_results(self._target_path)
        pending = {}
        for uid, closed in self._closed.items():
            if closed.outcome.state != RunState.COMPLETE:
                continue
            outcome = self._with_run_results(closed.outcome, results.get(uid, {}))
            if not closed.complete_facts or outcome is not closed.outcome:
                pending[uid] = outcome
        facts = NO_FACTS
        if pending:
            facts = self._facts(pending)
            self._known.update(dict.fromkeys(pending, facts))
        graph = self._graph_for_run()
        for uid, closed in sorted(self._closed.items(), key=lambda i: i[1].outcome.finished_at):
            late = self._late_errors.get(uid)
            if uid not in pending and late is None:
                continue
            outcome = pending.get(uid) or replace(closed.outcome, message=late)
            node_facts = facts if uid in pending else NO_FACTS
            if uid in pending and not self._has_facts(closed.node, node_facts):
                continue  # the warehouse told nothing new about it
            event = None
            with self._emitter.guard(f"building the facts of {uid}"):
                event = events.node_facts(
                    self._context, graph, closed.node, outcome, node_facts, now
                )
            if event is not None:
                self._emitter.emit(event)

    def _facts(
        self, outcomes: Mapping[str, NodeOutcome], warehouse: WarehouseFacts | None = None
    ) -> RunFacts:
        """The warehouse's columns and row counts for these completed nodes' datasets (read
        now, unless ``warehouse`` gives them), and the column lineage of the models among
        them."""
        if warehouse is None:
            warehouse = self._inspect_warehouse(outcomes)
        for relation, why in warehouse.not_counted.items():
            self._emitter.warn(f"OpenLineage: no row count for {relation.name}: {why}")
        lineage: dict[str, ColumnLineage] = {}
        with self._emitter.guard("tracing column lineage"):
            lineage = self._column_lineage(outcomes, warehouse)
        return RunFacts(warehouse, lineage)

    def _has_facts(self, node: DbtNode, facts: RunFacts) -> bool:
        graph = self._graph_for_run()
        relations = [n.relation for n in graph.inputs(node.unique_id)] + [node.relation]
        return bool(
            facts.column_lineage.get(node.unique_id)
            or any(
                r in facts.warehouse.columns or r in facts.warehouse.row_counts for r in relations
            )
        )

    def _inspect_warehouse(self, outcomes: Mapping[str, NodeOutcome]) -> WarehouseFacts:
        """Columns of every dataset read or written, row counts of tables written."""
        graph = self._graph_for_run()
        written = [o for o in map(graph.output, outcomes) if o is not None]
        parents = [n for uid in outcomes for n in graph.inputs(uid)]
        read = [n.relation for n in parents]
        external = {n.relation: n.external for n in parents if n.external and n.relation}
        with self._emitter.guard(f"reading columns and row counts in {self._warehouse.namespace}"):
            counted = [o for o in written if o.materialized in self._counted]
            views = [o.relation for o in counted if o.materialized == "view"]
            bounded = (
                {"views": views, "view_count_timeout": self._view_count_timeout}
                if views and self._bounds_view_counts
                else {}  # a warehouse of one's own written before views were bounded
            )
            return self._warehouse.inspect(
                describe=[*(o.relation for o in written), *read],
                count=[o.relation for o in counted],
                external=external,
                **bounded,
            )
        return WarehouseFacts()

    def _column_lineage(
        self, outcomes: Mapping[str, NodeOutcome], warehouse: WarehouseFacts
    ) -> dict[str, ColumnLineage]:
        """Column lineage of every completed model and snapshot; one whose SQL cannot be
        analysed gets none, and a warning that says why. The node's own relation is known too:
        an incremental model reads it (``{{ this }}``) on every run after the first."""
        graph = self._graph_for_run()
        tasks = []
        for uid, outcome in outcomes.items():
            node = graph.node(uid)
            sql = outcome.compiled_code
            if node is None or node.resource_type not in TRACED_TYPES or not sql:
                continue
            inputs = {n.relation: warehouse.columns.get(n.relation, []) for n in graph.inputs(uid)}
            sql = in_place_sources_named(sql, graph.inputs(uid))
            output = warehouse.columns.get(node.relation, []) if node.relation else []
            if node.relation is not None and output:
                inputs[node.relation] = output
            tasks.append((uid, sql, self._warehouse.dialect, inputs, output))
        found = {}
        for uid, result in self._traced.trace(tasks):
            if isinstance(result, str):
                self._emitter.warn(f"OpenLineage: no column lineage for {uid}: {result}")
                continue
            node = graph.node(uid)
            parents = graph.inputs(uid)
            if node is not None and node.resource_type == "snapshot" and len(parents) == 1:
                output = warehouse.columns.get(node.relation, []) if node.relation else []
                added = snapshot_columns(
                    node.properties.get("config", {}), parents[0].relation, output
                )
                result = replace(result, fields={**result.fields, **added})
            found[uid] = result
        return found

    @staticmethod
    def _with_run_results(outcome: NodeOutcome, result: Mapping[str, Any]) -> NodeOutcome:
        """``run_results.json`` fills in what the live events could not give (compiled SQL)."""
        if outcome.compiled_code or not result.get("compiled_code"):
            return outcome
        return replace(outcome, compiled_code=result["compiled_code"])

    def _guarded(self, extra_facets: ExtraFacets) -> ExtraFacets:
        """The caller's facet callable, made harmless: its errors cost its facets, not events."""

        def extra(node: DbtNode, state: RunState) -> Mapping[str, Any]:
            with self._emitter.guard(f"adding extra facets to {node.unique_id}"):
                found = dict(extra_facets(node, state))
                events.split_extra_facets(found)  # a wrong type fails here, not in the event
                return found
            return {}

        return extra


def _concerns_a_node(raw_event: Mapping[str, Any]) -> bool:
    """Whether a dbt log event can matter to lineage (names a node, or reports its facts)."""
    data = raw_event.get("data") or {}
    return bool((data.get("node_info") or {}).get("unique_id")) or (
        (raw_event.get("info") or {}).get("name") == FACTS_EVENT
    )


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
    count_view_rows: bool = True,
    view_count_timeout: float = VIEW_COUNT_TIMEOUT,
    column_lineage_cache: Path | None = None,
) -> InvocationLineage:
    """The lineage of one dbt invocation of the project in ``project_dir``, for a caller that
    says who runs it (``parent`` of type ``parent_type``, under ``root``, retry ``attempt``).

    Reads the profile target dbt will use (its warehouse names the datasets; an unreadable or
    unsupported one costs a warning and the facts read from the warehouse, never the events)
    and where the project lives in git (``sourceCodeLocation``)."""
    warehouse: Warehouse = UnsupportedWarehouse("unknown", None)
    chosen = None
    with emitter.guard("reading the dbt profile"):
        chosen = read_target(project_dir, profiles_dir, profile, target)
        warehouse = warehouse_for(chosen)
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
        dbt_profile=chosen.profile_name if chosen else None,
        dbt_target=chosen.target_name if chosen else None,
    )
    return InvocationLineage(
        emitter,
        context,
        warehouse,
        count_view_rows=count_view_rows,
        view_count_timeout=view_count_timeout,
        column_lineage_cache=column_lineage_cache,
    )


def in_place_sources_named(sql: str, parents: Iterable[DbtNode]) -> str:
    """``sql`` with each source read in place (``read_csv_auto('data/x.csv')``, as dbt-duckdb
    writes an ``external_location``) named as its relation, whose columns the warehouse read
    from the file: then the tracer follows it like a table."""
    for parent in parents:
        if parent.external and parent.relation:
            sql = sql.replace(parent.external, _quoted(parent.relation))
    return sql


def _quoted(relation: Relation) -> str:
    """``"database"."schema"."identifier"``, as SQL names the relation."""
    parts = [p for p in (relation.database, relation.schema, relation.identifier) if p]
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)
