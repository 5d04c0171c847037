"""Delivering events through the configured transport without ever failing the pipeline, slowing
it by more than a fixed budget, or losing an event without saying so.

The emitter is a context manager owned by whoever creates it: ``with LineageEmitter.configure(
...) as emitter:``; leaving the block delivers or spools what is queued and closes the transport.

Local transports (file, console) write in ``emit``: that costs less than handing the event to
another thread. Every other transport gets a queue: one background thread delivers its events
in order, so a slow or dead backend never stalls the dbt event stream. The breaker trips, and
that event and every later one of the run go to the spool (``floe-lineage replay`` sends them
later), on the first of:

- a delivery error;
- one request taking longer than ``deadline`` seconds in all (not only between bytes: a
  backend that drips its answer is cut off too);
- the queue of undelivered events filling up (a backend slower than the run);
- the run ending with events still undelivered after ``budget`` more seconds.

Every event is counted as delivered, spooled or lost (the spool itself failed); the first
problem is one warning, and the end of the run says how many events went where, in the
caller's log. Messages never show secrets from the configuration, URL credentials or query
strings. ``strict=True`` (for tests) raises lineage errors instead: delivery errors from
``close``. Events pass through ``OpenLineageClient.emit`` only when the configuration asks for
what it adds per event.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from openlineage.client import OpenLineageClient

from .config import (
    DEFAULT_DELIVERY_BUDGET,
    DEFAULT_DELIVERY_TIMEOUT,
    lineage_disabled,
    resolve_config,
)
from .open_runs import OpenRuns, Recovery
from .spool import Spool

_log = logging.getLogger(__name__)
_STOP = object()
QUEUE_SIZE = 1000
LOCAL_TRANSPORTS = frozenset({"file", "console", "noop"})
POLL = 0.05
"""Seconds between looks at a request in flight while the run waits for delivery."""
URL_PARTS = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s'\"]*@)?"
    r"(?P<rest>[^\s?#'\"]*)(?P<query>\?[^\s#'\"]*)?"
)
QUERY = re.compile(r"\?[^\s#'\"?]*=[^\s#'\"]*")
"""A query string in any shape of URL (``/api?key=v``, ``host/api?key=v``: urllib3's and the
client's messages name URLs without their scheme)."""


class Logger(Protocol):
    def warning(self, msg: str, *args: Any) -> None: ...


class LineageEmitter:
    def __init__(
        self,
        client: Any | None,
        *,
        strict: bool = False,
        log: Logger = _log,
        spool: Spool | None = None,
        open_runs: OpenRuns | None = None,
        secrets: tuple[str, ...] = (),
        deadline: float = DEFAULT_DELIVERY_TIMEOUT,
        budget: float = DEFAULT_DELIVERY_BUDGET,
    ) -> None:
        self._client = client
        self._strict = strict
        self._log = log
        self._spool = spool
        self.open_runs = open_runs
        self._secrets = secrets
        self._deadline = deadline
        self._budget = budget
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_SIZE)
        transport = getattr(client, "transport", client)  # a client, or a bare transport
        self._in_background = getattr(transport, "kind", None) not in LOCAL_TRANSPORTS
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()
        self._tripped: str | None = None
        self._in_flight: tuple[Any, float] | None = None
        """The event the worker is sending, and since when (monotonic)."""
        self._delivery_error: Exception | None = None
        self.emitted = 0
        self.spooled = 0
        self.lost = 0
        self.failures = 0

    @classmethod
    def configure(
        cls,
        project_root: Path | None,
        *,
        config_path: Path | None = None,
        strict: bool = False,
        log: Logger = _log,
        delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT,
        delivery_budget: float = DEFAULT_DELIVERY_BUDGET,
    ) -> LineageEmitter:
        """An emitter for the configuration found as ``config.find_config`` describes for the
        project in ``project_root`` (``config_path`` overrides the lookup); disabled when
        ``OPENLINEAGE_DISABLED=true``. A configuration that cannot be used disables lineage
        with one warning naming the file and the problem (strict: raises)."""
        emitter = cls(None, strict=strict, log=log)
        if lineage_disabled():
            return emitter
        with emitter.guard("reading the OpenLineage configuration"):
            config = resolve_config(project_root, config_path, delivery_timeout)
            emitter._secrets = config.secrets  # redacts the warning if the transport fails
            transport = config.transport()
            client = (
                OpenLineageClient(transport=transport, config=config.client_config)
                if config.needs_client
                else transport  # the client would only scan os.environ per event
            )
            return cls(
                client,
                strict=strict,
                log=log,
                spool=Spool(config.spool_file),
                open_runs=OpenRuns(config.open_runs_file, config.destination),
                secrets=config.secrets,
                deadline=config.delivery_deadline or delivery_timeout,
                budget=delivery_budget,
            )
        return emitter  # disabled: the configuration could not be used

    def __enter__(self) -> LineageEmitter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def emit(self, event: Any) -> None:
        """Deliver ``event`` (local transports) or queue it; never waits on a backend."""
        if self._client is None:
            return
        if self.open_runs is not None:
            with self.guard("recording the open runs"):
                self.open_runs.record(event)
        if not self._in_background:
            self._deliver(event)
            return
        self._check_in_flight()
        if self._tripped is not None:
            self._to_spool(event)
            return
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._deliver_all, name="openlineage", daemon=True
            )
            self._worker.start()
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._trip(f"the backend is slower than the run ({QUEUE_SIZE} events waiting)")
            self._to_spool(event)

    def close(self) -> None:
        """Deliver or spool every queued event, waiting at most ``budget`` seconds for a
        backend; close the transport; log where the events went. Strict: raise the first
        delivery error."""
        stuck = False
        if self._worker is not None:
            self._queue.put(_STOP)
            ends = time.monotonic() + self._budget
            while self._worker.is_alive() and time.monotonic() < ends:
                self._worker.join(POLL)
                self._check_in_flight()
            stuck = self._worker.is_alive()
            if stuck:
                self._trip(f"the run's delivery budget of {self._budget:g} s is spent")
            self._drain_queue_to_spool()
            self._worker = None
        if self._client is not None and not stuck:  # a stuck request is left behind, daemon
            with self.guard("closing the OpenLineage transport"):
                self._client.close()
        if self.open_runs is not None:
            with self.guard("closing the journal of open runs"):
                self.open_runs.close()
        if self.spooled or self.lost:
            where = self._spool.path if self._spool else "nowhere"
            self._log.warning(
                self._redact(
                    f"OpenLineage: {self.emitted} events delivered, {self.spooled} spooled to"
                    f" {where} (send them with: floe-lineage replay), {self.lost} lost"
                )
            )
        if self._strict and self._delivery_error is not None:
            error, self._delivery_error = self._delivery_error, None
            raise error

    def close_orphans(self) -> int:
        """ABORT the runs a killed process left open (see ``open_runs``); how many. Lines of
        the journal that are not entries are reported in one warning (and dropped)."""
        if self.open_runs is None or self._client is None:
            return 0
        recovery = Recovery()
        with self.guard("closing the runs a killed process left open"):
            recovery = self.open_runs.close_orphans(self.emit)
        closed = recovery.closed
        if recovery.skipped:
            self.warn(
                f"OpenLineage: skipped {recovery.skipped} lines of {self.open_runs.path} that are"
                " not journal entries (torn, edited or written by something else); removed"
            )
        if closed:
            self.warn(
                f"OpenLineage: closed {len(closed)} runs left open by a process that is gone"
                f" (ABORT): {', '.join(sorted({r.name for r in closed})[:5])}"
            )
        return len(closed)

    def warn(self, message: str) -> None:
        """A lineage problem that loses detail but not events (e.g. SQL that cannot be parsed)."""
        self._log.warning(self._redact(message))

    @contextmanager
    def guard(self, doing: str) -> Iterator[None]:
        """Run a lineage step: in strict mode errors propagate; otherwise the first one is
        logged as a warning, all are counted, and the pipeline goes on."""
        try:
            yield
        except Exception as exc:
            self._failed(doing, exc)
            if self._strict:
                raise

    # -- delivery -------------------------------------------------------------------------

    def _deliver_all(self) -> None:
        while (event := self._queue.get()) is not _STOP:
            self._deliver(event)

    def _deliver(self, event: Any) -> None:
        if self._tripped is None:
            with self._lock:
                self._in_flight = (event, time.monotonic())
            try:
                self._client.emit(event)
                delivered = True
            except Exception as exc:
                delivered = False
                if self._delivery_error is None:
                    self._delivery_error = exc
                    self._failed("delivering events; the rest go to the spool", exc)
                self._trip(f"delivery failed: {type(exc).__name__}", warn=False)
            with self._lock:
                mine = self._in_flight is not None and self._in_flight[0] is event
                self._in_flight = None
            if delivered and mine:
                self.emitted += 1
                return
            if not mine:
                return  # the breaker spooled it while it was in flight
        self._to_spool(event)

    def _check_in_flight(self) -> None:
        """Trip the breaker when one request has taken longer than the deadline in all."""
        with self._lock:
            in_flight = self._in_flight
        if in_flight is not None and time.monotonic() - in_flight[1] > self._deadline:
            self._trip(f"one request took over {self._deadline:g} s")

    def _trip(self, why: str, warn: bool = True) -> None:
        """From now on, every event of the run goes to the spool; the one in flight too (if the
        backend still takes it, it arrives twice: at most that one event)."""
        with self._lock:
            if self._tripped is not None:
                return
            self._tripped = why
            in_flight, self._in_flight = self._in_flight, None
        if warn:
            self._log.warning(
                self._redact(f"OpenLineage: {why}; the rest of this run's events go to the spool")
            )
        if in_flight is not None:
            self._to_spool(in_flight[0])

    def _drain_queue_to_spool(self) -> None:
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                return
            if event is not _STOP:
                self._to_spool(event)

    def _to_spool(self, event: Any) -> None:
        if self._spool is None:
            self.lost += 1
            return
        try:
            self._spool.add(event)
            self.spooled += 1
        except Exception as exc:
            self.lost += 1
            self._failed(f"spooling to {self._spool.path}", exc)

    def _failed(self, doing: str, exc: Exception) -> None:
        self.failures += 1
        if self.failures == 1:
            self._log.warning(
                self._redact(
                    f"OpenLineage: error while {doing}; lineage may be incomplete, the run goes"
                    f" on: {type(exc).__name__}: {exc}"
                    + (f" (undelivered events: {self._spool.path})" if self._spool else "")
                )
            )

    def _redact(self, text: str) -> str:
        return redact(text, self._secrets)


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` without the given secret values, URL credentials (userinfo) or query strings
    (of URLs with a scheme, and ``?name=value...`` wherever it stands)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = URL_PARTS.sub(
        lambda m: (
            m["scheme"]
            + ("***@" if m["userinfo"] else "")
            + m["rest"]
            + ("?***" if m["query"] else "")
        ),
        text,
    )
    return QUERY.sub("?***", text)
