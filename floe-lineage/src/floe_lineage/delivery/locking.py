"""An exclusive lock on an open file, shared by processes: ``fcntl.flock`` on POSIX,
``msvcrt.locking`` on Windows. Chosen when a lock is taken, so importing floe-lineage needs
neither module."""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def locked(path: Path, mode: str) -> Iterator[Any]:
    """``path`` opened with ``mode`` under an exclusive lock (held until the block ends)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open(mode, encoding=None if "b" in mode else "utf-8") as handle:
        release = _lock(handle)
        try:
            yield handle
        finally:
            handle.flush()
            release()


def _lock(handle: Any) -> Any:
    """Take the lock; return the function that releases it."""
    try:
        fcntl = importlib.import_module("fcntl")
    except ImportError:
        msvcrt = importlib.import_module("msvcrt")  # Windows: lock the first byte
        position = handle.tell()
        handle.seek(0)
        msvcrt.locking(handle.fileno(), msvcrt.LK_LOCK, 1)

        def release_msvcrt() -> None:
            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)

        handle.seek(position, os.SEEK_SET)
        return release_msvcrt
    fcntl.flock(handle, fcntl.LOCK_EX)
    return lambda: fcntl.flock(handle, fcntl.LOCK_UN)
