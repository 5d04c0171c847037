"""Sending events through the OpenLineage client without ever failing the pipeline.

By default every lineage problem (bad config, unwritable file, unreachable backend, a bug in
event building) is logged once as a warning and the pipeline goes on; ``strict=True`` raises
instead, for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from openlineage.client import OpenLineageClient
from openlineage.client.transport import get_default_factory

from .config import find_config, lineage_disabled, load_config

_log = logging.getLogger(__name__)


class Logger(Protocol):
    def warning(self, msg: str, *args: Any) -> None: ...


class LineageEmitter:
    def __init__(
        self, client: OpenLineageClient | None, *, strict: bool = False, log: Logger = _log
    ) -> None:
        self._client = client
        self._strict = strict
        self._log = log
        self.emitted = 0
        self.failures = 0

    @classmethod
    def configure(
        cls,
        project_root: Path | None,
        *,
        config_path: Path | None = None,
        strict: bool = False,
        log: Logger = _log,
    ) -> LineageEmitter:
        """An emitter for the configuration found as ``config.find_config`` describes
        (``config_path`` overrides the lookup); disabled when ``OPENLINEAGE_DISABLED=true``."""
        emitter = cls(None, strict=strict, log=log)
        if lineage_disabled():
            return emitter
        with emitter.guard("reading the OpenLineage configuration"):
            path = config_path or find_config(project_root)
            if path is None:
                emitter._client = OpenLineageClient()
            else:
                config = load_config(path)
                transport = get_default_factory().create(config["transport"])
                emitter._client = OpenLineageClient(transport=transport, config=config)
        return emitter

    @property
    def enabled(self) -> bool:
        return self._client is not None

    def emit(self, event: Any) -> None:
        if self._client is None:
            return
        with self.guard("emitting an OpenLineage event"):
            self._client.emit(event)
            self.emitted += 1

    def warn(self, message: str) -> None:
        """A lineage problem that loses detail but not events (e.g. SQL that cannot be parsed)."""
        self._log.warning(message)

    @contextmanager
    def guard(self, doing: str) -> Iterator[None]:
        """Run a lineage step: in strict mode errors propagate; otherwise the first one is
        logged as a warning, all are counted, and the pipeline goes on."""
        try:
            yield
        except Exception as exc:
            self.failures += 1
            if self._strict:
                raise
            if self.failures == 1:
                self._log.warning(
                    "OpenLineage: error while %s; lineage may be incomplete, run goes on: %s: %s",
                    doing,
                    type(exc).__name__,
                    exc,
                )

    def close(self) -> None:
        if self._client is not None:
            with self.guard("closing the OpenLineage transport"):
                self._client.close()
