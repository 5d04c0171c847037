"""Inside the dbt process: what floe-lineage learns of each finished node there, written as one
JSON line among dbt's own on its stdout.

``FactsReader.record`` is dbt's event callback: it only notes a node that finished (dbt's
``NodeFinished``) in a queue and returns; dbt's threads never wait on it. Noted are a model, seed
or snapshot that succeeded, and any node that failed (``FAILED_STATUSES``, tests too), with the
error text and the ``rows_affected`` of dbt's run result. One worker thread writes each node's
line (``facts_line``) under the lock of dbt's own stdout handler, so it never splits one of
dbt's lines; every noted node gets exactly one, in the order dbt finished them, within
``BATCH_WINDOW`` seconds (the worker reads the nodes that finished close together in one go):

- a node that failed: its error text, as soon as dbt has it (on stdout dbt prints it only at the
  end of the run, so floe-lineage's FAIL event would otherwise have to wait or go without it);
- on DuckDB, a node that succeeded: its columns, those of its inputs not read yet in this run,
  and its row count, read through dbt's own adapter (``ConnectionManager.open``: a dbt-duckdb
  cursor on the database dbt has open; outside dbt's per-thread connections, so dbt's cleanup
  leaves it alone; ``warehouse.duckdb.read_facts``). dbt-duckdb holds the database file's lock
  for the whole invocation, so no other process can read it before dbt exits; inside the dbt
  process the lock is no obstacle. A node whose facts cannot be read still gets its line, with
  the error;
- on any other adapter, a node that succeeded: the rows its run wrote (``rows_affected``);
  floe-lineage reads that warehouse from its own side (``read: false``).

The reader writes nothing when dbt's log format is not JSON (the lines would not be dbt's).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from ..dbt.manifest import DbtGraph
from ..dbt.relation import Relation
from ..openlineage.observations import WarehouseFacts
from ..warehouse.base import VIEW_COUNT_TIMEOUT
from .facts_line import FactsRead, facts_line

BATCH = 50
"""Nodes whose facts are read together, at most."""
BATCH_WINDOW = 0.25
"""Seconds a node's facts wait for more nodes to finish, to be read with them: each query
costs the warehouse about the same whether it reads one relation or fifty (inside dbt, where
dbt's own queries run beside it, several times what it costs alone), so reading a run's
nodes a few at a time takes a fraction of reading them one by one. A node waits at most this
long for others; the last ones of a run not at all."""
READ_TYPES = frozenset({"model", "seed", "snapshot"})
"""Nodes that write a relation whose facts are read."""
COUNTED_MATERIALIZATIONS = frozenset({"seed", "snapshot", "table", "incremental"})
COUNT_VIEW_ROWS = "FLOE_LINEAGE_COUNT_VIEW_ROWS"
"""``0``: do not count the rows of views (``lineage.count_view_rows: false``); they are counted
otherwise."""
VIEW_COUNT_TIMEOUT_ENV = "FLOE_LINEAGE_VIEW_COUNT_TIMEOUT"
"""Seconds one view's count may take (``lineage.view_count_timeout``)."""
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
"""dbt's statuses of a node that failed."""
WRITTEN_MATERIALIZATIONS = frozenset({"table", "incremental"})
"""Models whose adapter response's ``rows_affected`` is the rows the run wrote (the one
statement that writes them); a seed's or snapshot's counts one batch or one step."""
ADAPTERS = frozenset({"duckdb"})
FLUSH_WAIT = 60.0
"""Seconds dbt's main thread waits, once every node finished, for the lines still to come."""
RUN_FINISHED = "FinishedRunningStats"
"""dbt's event once every node of a run, build, seed or snapshot finished, before its summary."""
STDOUT_LOGGER = "stdout_log"
"""dbt's logger for stdout (``dbt_common.events.functions.get_stdout_config``)."""
_DONE = None


@dataclass(frozen=True)
class Finished:
    """A node dbt reported finished successfully, as recorded from its event."""

    unique_id: str
    rows_affected: int | None
    invocation_id: str = ""
    message: str | None = None
    """dbt's error text, for a node that failed (None for one that succeeded)."""


class FactsReader:
    """dbt's callback (``record``) and the worker writing the line of what it recorded.

    ``connect()`` gives the worker a DB-API cursor on dbt's database, or None when this reader
    has nothing to read (another adapter); ``graph()`` the run's manifest; ``reports()``
    whether lines can go on dbt's stdout (dbt logs JSON). All are called by the worker, on the
    first node. ``window``: ``BATCH_WINDOW``; ``flush_wait``: ``FLUSH_WAIT``."""

    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[Any] | None],
        graph: Callable[[], DbtGraph | None],
        write: Callable[[str], None],
        reports: Callable[[], bool] = lambda: True,
        window: float = BATCH_WINDOW,
        flush_wait: float = FLUSH_WAIT,
    ) -> None:
        self._connect = connect
        self._graph = graph
        self._write = write
        self._reports = reports
        self._queue: queue.SimpleQueue[Finished | threading.Event | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._stopped = False
        self._flushes: list[threading.Event] = []
        self._lock = threading.Lock()
        self._read: set[Relation] = set()
        self._window = window
        self._flush_wait = flush_wait
        self._count_views = os.environ.get(COUNT_VIEW_ROWS) != "0"
        self._view_count_timeout = _seconds(
            os.environ.get(VIEW_COUNT_TIMEOUT_ENV), VIEW_COUNT_TIMEOUT
        )

    def record(self, msg: Any) -> None:
        """dbt's event callback: note a node that finished (a model, seed or snapshot that
        succeeded, any node that failed); nothing else, never raises. Once every node has
        finished (dbt's ``FinishedRunningStats``, fired by dbt's main thread before its
        summary), wait for the lines of what was noted, up to ``flush_wait`` seconds: they
        precede dbt's summary then, rather than wait out ``BATCH_WINDOW`` after it."""
        try:
            if msg.info.name == RUN_FINISHED:
                self._flush()
                return
            if msg.info.name != "NodeFinished":
                return
            node_info = msg.data.node_info
            status = node_info.node_status
            failed = status in FAILED_STATUSES
            if not failed and (status != "success" or node_info.resource_type not in READ_TYPES):
                return
            result = msg.data.run_result
            response = result.adapter_response
            # a protobuf Struct: no .get()
            rows = response["rows_affected"] if "rows_affected" in response else None  # noqa: SIM401
            message = (result.message or f"dbt reported status {status!r}") if failed else None
            self._queue.put(
                Finished(node_info.unique_id, _rows(rows), msg.info.invocation_id, message)
            )
            self._start()
        except Exception:  # a callback that raises fails dbt's node
            return

    def _flush(self) -> None:
        written = threading.Event()
        with self._lock:
            if self._worker is None or self._stopped:
                return
            self._flushes.append(written)
            self._queue.put(written)
        written.wait(self._flush_wait)

    def drain(self, timeout: float) -> bool:
        """Once dbt is done: let the worker finish what was recorded, for up to ``timeout``
        seconds. Returns whether it did."""
        worker = self._worker
        if worker is None:
            return True
        self._queue.put(_DONE)
        worker.join(timeout)
        return not worker.is_alive()

    def _start(self) -> None:
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="floe-lineage-facts", daemon=True
                )
                self._worker.start()

    def _work(self) -> None:
        try:
            self._write_lines()
        finally:  # nothing waits for a worker that is gone
            with self._lock:
                self._stopped = True
                for waiting in self._flushes:
                    waiting.set()

    def _write_lines(self) -> None:
        try:
            if not self._reports():
                return  # dbt's stdout is not JSON lines: nothing can be added to it
            graph = self._graph()
        except Exception:
            return
        try:
            connection = self._connect() if graph is not None else None
        except Exception:
            connection = None  # the lines still come, without facts read here
        with connection or nullcontext() as cursor:
            done = False
            while not done:
                batch, done, flushed = self._next_batch()
                for finished, facts in zip(
                    batch, self._facts_of(cursor, graph, batch), strict=True
                ):
                    self._write(json.dumps(facts_line(facts, finished.invocation_id)) + "\n")
                if flushed is not None:
                    flushed.set()

    def _next_batch(self) -> tuple[list[Finished], bool, threading.Event | None]:
        """The next nodes to read, in the order dbt finished them: the first one recorded and
        those recorded up to ``BATCH_WINDOW`` seconds after it (at most ``BATCH``); whether
        dbt is done; and the event to set once their lines are written, when ``record`` waits
        for them (the batch then closes at once, as when dbt is done)."""
        batch: list[Finished] = []
        item = self._queue.get()
        closes = time.monotonic() + self._window
        while isinstance(item, Finished):
            batch.append(item)
            if len(batch) == BATCH:
                return batch, False, None
            try:
                item = self._queue.get(timeout=max(closes - time.monotonic(), 0.0))
            except queue.Empty:
                return batch, False, None
        if isinstance(item, threading.Event):
            return batch, False, item
        return batch, True, None

    def _facts_of(
        self, cursor: Any, graph: DbtGraph | None, batch: list[Finished]
    ) -> list[FactsRead]:
        """Each node's facts, in ``batch``'s order: the warehouse read once for all of them
        (columns of every relation not read before in this run, row counts); should that read
        fail, node by node, so an error stays with the node it belongs to."""
        ready: dict[int, FactsRead] = {}
        reads: dict[int, _Read] = {}
        planned = set(self._read)
        for i, finished in enumerate(batch):
            found = self._plan(cursor, graph, finished, planned)
            if isinstance(found, _Read):
                reads[i] = found
                planned.update(found.describe)
            else:
                ready[i] = found
        if len(reads) == 1:
            [(i, read)] = reads.items()
            ready[i] = self._read_one(cursor, read)
        elif reads:
            try:
                ready |= self._read_together(cursor, reads)
            except Exception:  # one by one, planned again: what one before read is not read twice
                for i in reads:
                    again = self._plan(cursor, graph, batch[i], self._read)
                    ready[i] = self._read_one(cursor, again) if isinstance(again, _Read) else again
        return [ready[i] for i in range(len(batch))]

    def _plan(
        self, cursor: Any, graph: DbtGraph | None, finished: Finished, read: set[Relation]
    ) -> FactsRead | _Read:
        """What is known of ``finished`` without reading, or what to read for it (its
        relation and those of its inputs not in ``read``)."""
        if finished.message is not None:
            return FactsRead(
                finished.unique_id,
                WarehouseFacts(),
                None,
                _now(),
                read=False,
                message=finished.message,
            )
        node = graph.node(finished.unique_id) if graph is not None else None
        written = node.materialized if node is not None else None
        rows_written = finished.rows_affected if written in WRITTEN_MATERIALIZATIONS else None
        if cursor is None or graph is None:
            return FactsRead(finished.unique_id, WarehouseFacts(), rows_written, _now(), read=False)
        if node is None or node.relation is None:
            return FactsRead(finished.unique_id, WarehouseFacts(), rows_written, _now())
        inputs = graph.inputs(node.unique_id)
        describe = [node.relation, *(p.relation for p in inputs if p.relation not in read)]
        counted = COUNTED_MATERIALIZATIONS | ({"view"} if self._count_views else set())
        return _Read(
            node.unique_id,
            node.relation,
            tuple(dict.fromkeys(r for r in describe if r is not None)),
            {p.relation: p.external for p in inputs if p.external and p.relation in describe},
            counted=written in counted or node.resource_type != "model",
            view=written == "view",
            rows_written=rows_written,
        )

    def _read_one(self, cursor: Any, read: _Read) -> FactsRead:
        try:
            return self._read_together(cursor, {0: read})[0]
        except Exception as exc:  # the line still comes, so nobody waits for it
            return FactsRead(read.unique_id, WarehouseFacts(), read.rows_written, _now(), str(exc))

    def _read_together(self, cursor: Any, reads: dict[int, _Read]) -> dict[int, FactsRead]:
        """One ``read_facts`` for all of ``reads``, split back into each node's facts."""
        from ..warehouse.duckdb import read_facts

        found = read_facts(
            cursor,
            list(dict.fromkeys(r for read in reads.values() for r in read.describe)),
            [read.relation for read in reads.values() if read.counted],
            {r: e for read in reads.values() for r, e in read.external.items()},
            views=[read.relation for read in reads.values() if read.counted and read.view],
            view_count_timeout=self._view_count_timeout,
        )
        read_at = _now()
        self._read.update(r for read in reads.values() for r in read.describe)
        return {i: read.facts(found, read_at) for i, read in reads.items()}


@dataclass(frozen=True)
class _Read:
    """What to read of one finished node: its relation, and the columns of ``describe`` (its
    own relation and its inputs' not read before in this run)."""

    unique_id: str
    relation: Relation
    describe: tuple[Relation, ...]
    external: dict[Relation, str]
    counted: bool
    view: bool
    rows_written: int | None

    def facts(self, found: WarehouseFacts, read_at: datetime) -> FactsRead:
        """This node's part of ``found``."""
        own = self.relation
        warehouse = WarehouseFacts(
            columns={r: found.columns[r] for r in self.describe if r in found.columns},
            row_counts={own: found.row_counts[own]} if own in found.row_counts else {},
            not_counted={own: found.not_counted[own]} if own in found.not_counted else {},
        )
        return FactsRead(self.unique_id, warehouse, self.rows_written, read_at)


def _seconds(value: str | None, default: float) -> float:
    try:
        seconds = float(value) if value else default
    except ValueError:
        return default
    return seconds if seconds > 0 else default


def _rows(value: Any) -> int | None:
    try:
        rows = int(value)
    except (TypeError, ValueError):
        return None
    return rows if rows >= 0 else None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def write_as_dbt_stdout(stream: TextIO = sys.stdout) -> Callable[[str], None]:
    """Writes one whole line to ``stream`` holding the lock of dbt's stdout handler (the one
    dbt's JSON logger writes each line through), so lines never interleave."""

    def write(line: str) -> None:
        handlers = logging.getLogger(STDOUT_LOGGER).handlers
        lock = handlers[0].lock if handlers and handlers[0].lock else None
        with lock or nullcontext():
            stream.write(line)
            stream.flush()

    return write


def dbt_logs_json() -> bool:
    """Whether this dbt invocation writes its stdout as JSON lines (``--log-format json``)."""
    from dbt.flags import get_flags

    return str(getattr(get_flags(), "LOG_FORMAT", "")) == "json"


def adapter_connection() -> AbstractContextManager[Any] | None:
    """A cursor of a connection of its own, opened through the adapter dbt registered
    (``ConnectionManager.open``; for dbt-duckdb a cursor on the database dbt has open); None
    when the adapter is not one read here."""
    from dbt.adapters.contracts.connection import Connection, ConnectionState
    from dbt.adapters.factory import FACTORY

    adapters = [a for name, a in FACTORY.adapters.items() if name in ADAPTERS]
    if len(adapters) != 1:
        return None
    adapter = adapters[0]
    manager = type(adapter.connections)
    connection = manager.open(
        Connection(
            type=adapter.type(),
            name="floe_lineage",
            state=ConnectionState.INIT,
            transaction_open=False,
            handle=None,
            credentials=adapter.config.credentials,
        )
    )
    return _Cursor(manager, connection)


class _Cursor:
    def __init__(self, manager: Any, connection: Any) -> None:
        self._manager = manager
        self._connection = connection

    def __enter__(self) -> Any:
        return self._connection.handle.cursor()

    def __exit__(self, *exc: object) -> None:
        self._manager.close(self._connection)


def run_graph() -> DbtGraph | None:
    """The manifest dbt wrote into its target folder for this run (before any node ran)."""
    from dbt.adapters.factory import FACTORY

    for adapter in FACTORY.adapters.values():
        manifest = Path(adapter.config.project_target_path) / "manifest.json"
        if manifest.is_file():
            return DbtGraph.from_file(manifest)
    return None
