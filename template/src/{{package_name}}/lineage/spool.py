"""Append-only JSON-lines files shared by concurrent processes: the events file of the file
transport (one ``O_APPEND`` write per line) and the spool of undelivered events (written and
drained under an exclusive ``flock``), so lines from concurrent runs never interleave."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

import attr
import orjson
from openlineage.client.transport.file import FileConfig, FileTransport

_FIELDS: dict[type, tuple[str, ...]] = {}
_SCALARS = frozenset({str, int, float, bool})


def event_line(event: Any) -> bytes:
    """An OpenLineage event (or dict) as one UTF-8 JSON line, ending in a newline, with the
    content of ``Serde.to_json`` (nulls dropped, enums as values) at a fraction of its cost:
    attrs fields are read directly instead of through ``attr.asdict`` and a second pass over
    the copy, and orjson encodes."""
    return orjson.dumps(_plain(event), option=orjson.OPT_APPEND_NEWLINE)


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if kind is list or kind is tuple:
        items = []
        for item in value:
            if item is not None:
                item = _plain(item)
                if item is not None and item != {}:
                    items.append(item)
        return items
    if isinstance(value, Enum):
        return value.value
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = tuple(a.name for a in attr.fields(kind))
    plain = {}
    for name in names:
        item = getattr(value, name)
        if item is not None:
            plain[name] = _plain(item)
    return plain


@contextmanager
def locked(path: Path, mode: str) -> Iterator[Any]:
    """``path`` opened with ``mode`` under an exclusive lock (held until the block ends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding=None if "b" in mode else "utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield handle
        finally:
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)


class AppendingFileTransport(FileTransport):
    """The OpenLineage file transport that, when appending, keeps the file open with
    ``O_APPEND`` and writes each event as one line in one ``write`` call: appends from
    concurrent processes then never interleave (on a local filesystem)."""

    def __init__(self, config: FileConfig) -> None:
        super().__init__(config)
        self._fd: int | None = None

    def emit(self, event: Any) -> None:
        if not self.config.append:
            return super().emit(event)
        data = event_line(event)
        try:
            if self._fd is None:
                path = Path(self.config.log_file_path)
                path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            written = os.write(self._fd, data)
            while written < len(data):  # only on a full disk or a signal
                written += os.write(self._fd, data[written:])
        except OSError as error:
            raise RuntimeError(f"cannot write to {self.config.log_file_path}: {error}") from error

    def close(self, timeout: float = -1) -> bool:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        return True


def appending_file_transport(config: dict[str, Any]) -> AppendingFileTransport:
    return AppendingFileTransport(FileConfig.from_dict(config))


class Spool:
    """Events that could not be delivered, kept in order until ``replay`` sends them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, event: Any) -> None:
        with locked(self.path, "ab") as handle:
            handle.write(event_line(event))

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
