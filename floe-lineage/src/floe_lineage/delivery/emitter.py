"""Delivering events through the configured transport without ever slowing or failing the
pipeline, and without losing any.

The emitter is a context manager owned by whoever creates it: ``with LineageEmitter.configure(
...) as emitter:``; leaving the block delivers or spools what is queued and closes the transport.

Local transports (file, console) write in ``emit``: that costs less than handing the event to
another thread. Every other transport gets a queue: one background thread delivers its events
in order, so a slow or dead backend never stalls the dbt event stream. The first delivery
failure logs one warning and trips a breaker: that event and every later one go straight to
the spool file (the backend is not retried while dbt waits), and
``floe-lineage replay`` sends them later. ``strict=True`` (for tests) raises
lineage errors instead: delivery errors from ``close``. Events pass through
``OpenLineageClient.emit`` only when the configuration asks for what it adds per event.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from openlineage.client import OpenLineageClient

from .config import DEFAULT_DELIVERY_TIMEOUT, lineage_disabled, resolve_config
from .spool import Spool

_log = logging.getLogger(__name__)
_STOP = object()
QUEUE_SIZE = 1000
LOCAL_TRANSPORTS = frozenset({"file", "console", "noop"})


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
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._client = client
        self._strict = strict
        self._log = log
        self._spool = spool
        self._secrets = secrets
        # bounded: a backlog costs memory, so past it emit() waits for the delivery thread
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=QUEUE_SIZE)
        transport = getattr(client, "transport", client)  # a client, or a bare transport
        self._in_background = getattr(transport, "kind", None) not in LOCAL_TRANSPORTS
        self._worker: threading.Thread | None = None
        self._delivery_error: Exception | None = None
        self.emitted = 0
        self.spooled = 0
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
    ) -> LineageEmitter:
        """An emitter for the configuration found as ``config.find_config`` describes for the
        project in ``project_root`` (``config_path`` overrides the lookup); disabled when
        ``OPENLINEAGE_DISABLED=true``.
        A configuration that cannot be used disables lineage with one warning naming the file
        and the problem (strict: raises)."""
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
                secrets=config.secrets,
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
        """Deliver ``event`` (local transports) or queue it; never blocks on a backend."""
        if self._client is None:
            return
        if not self._in_background:
            self._deliver(event)
            return
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._deliver_all, name="openlineage", daemon=True
            )
            self._worker.start()
        self._queue.put(event)

    def close(self) -> None:
        """Wait until every queued event is delivered or spooled; strict: raise the first
        delivery error."""
        if self._worker is not None:
            self._queue.put(_STOP)
            self._worker.join()
            self._worker = None
        if self._client is not None:
            with self.guard("closing the OpenLineage transport"):
                self._client.close()
        if self.spooled:
            _log.info(
                "OpenLineage: %d events delivered, %d spooled to %s",
                self.emitted,
                self.spooled,
                self._spool.path if self._spool else "nowhere",
            )
        if self._strict and self._delivery_error is not None:
            error, self._delivery_error = self._delivery_error, None
            raise error

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

    def _deliver_all(self) -> None:
        while (event := self._queue.get()) is not _STOP:
            self._deliver(event)

    def _deliver(self, event: Any) -> None:
        if self._delivery_error is None:
            try:
                self._client.emit(event)
                self.emitted += 1
                return
            except Exception as exc:
                self._delivery_error = exc
                self._failed("delivering events; the rest go to the spool", exc)
        self._to_spool(event)

    def _to_spool(self, event: Any) -> None:
        if self._spool is None:
            return
        try:
            self._spool.add(event)
            self.spooled += 1
        except Exception as exc:
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
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text
