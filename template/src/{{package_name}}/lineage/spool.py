"""Append-only JSON-lines files shared by concurrent processes: the events file of the file
transport and the spool of undelivered events. Every line is written under an exclusive
``flock``, so lines from concurrent runs never interleave."""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openlineage.client.serde import Serde
from openlineage.client.transport.file import FileConfig, FileTransport


@contextmanager
def locked(path: Path, mode: str) -> Iterator[Any]:
    """``path`` opened with ``mode`` under an exclusive lock (held until the block ends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


def append_line(path: Path, line: str) -> None:
    with locked(path, "a") as handle:
        handle.write(line + "\n")


class LockedFileTransport(FileTransport):
    """The OpenLineage file transport, writing each event under a lock when appending."""

    def emit(self, event: Any) -> None:
        if not self.config.append:
            return super().emit(event)
        try:
            append_line(Path(self.config.log_file_path), Serde.to_json(event))
        except OSError as error:
            raise RuntimeError(f"cannot write to {self.config.log_file_path}: {error}") from error


def locked_file_transport(config: dict[str, Any]) -> LockedFileTransport:
    return LockedFileTransport(FileConfig.from_dict(config))


class Spool:
    """Events that could not be delivered, kept in order until ``replay`` sends them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, event: Any) -> None:
        append_line(self.path, Serde.to_json(event))

    def drain(self, send: Any) -> tuple[int, int, Exception | None]:
        """Send the spooled events in order with ``send(event_dict)``. At the first failure the
        rest stay spooled, in order. Returns (sent, still spooled, the failure)."""
        if not self.path.exists():
            return 0, 0, None
        failure: Exception | None = None
        with locked(self.path, "r+") as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
            kept: list[str] = []
            for line in lines:
                if kept:  # keep the order: once one fails, the rest wait behind it
                    kept.append(line)
                    continue
                try:
                    send(json.loads(line))
                except Exception as exc:
                    failure = exc
                    kept.append(line)
            handle.seek(0)
            handle.truncate()
            handle.writelines(line + "\n" for line in kept)
        return len(lines) - len(kept), len(kept), failure
