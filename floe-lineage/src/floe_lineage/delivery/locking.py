"""JSON-lines files shared by processes, never left with a torn line.

- ``exclusive(path)``: an exclusive lock on ``<path>.lock`` (``fcntl.flock`` on POSIX,
  ``msvcrt.locking`` on Windows, chosen when a lock is taken, so importing floe-lineage needs
  neither module). The lock has a file of its own, so ``replace`` can swap the data file.
- ``append(fd, data)``: one ``O_APPEND`` write; a write cut short (a full disk) is truncated
  back, so the file holds whole lines only, and the error is raised.
- ``repair_tail(fd)``: cuts a torn last line left by a process that died mid-write, and only
  that: a file whose last line is not a JSON object is refused (``NotAnEventsFile``), whole;
  in floe-lineage's own files (``ours``: the spool, the journal) such a line is kept, ended
  with a newline if it lacks one, for their readers to skip.
- ``AppendingFile(path)``: all of the above for a writer that appends many times: the lock file
  and an appending descriptor stay open until ``close()``; the descriptor is opened again when
  another process replaced the file since.
- ``replace(path, data)``: the file's new content, atomically (a temporary file of a name of its
  own renamed over it; removed again when that fails).

Files are created with the ``mode`` their owner gives (0o644, or ``PRIVATE`` for the spool and
the journal), less the umask; a folder created for a private file is 0o700. Existing files and
folders keep their permissions.

Every writer appends under the lock: a reader may see a large write half done, so a torn tail is
only judged (and cut) under the lock, when no floe-lineage writer is mid-write.
"""

from __future__ import annotations

import errno
import importlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_log = logging.getLogger(__name__)
CHUNK = 65536
SHARED = 0o644
PRIVATE = 0o600


@contextmanager
def exclusive(path: Path, mode: int = SHARED) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (through ``<path>.lock``) for the block."""
    lock = FileLock(path, mode)
    try:
        with lock:
            yield
    finally:
        lock.close()


class FileLock:
    """The exclusive lock on ``<path>.lock``, its file kept open: ``with lock:`` takes it for
    the block, as often as needed (for a writer that appends many times)."""

    def __init__(self, path: Path, mode: int = SHARED) -> None:
        make_folder(path.parent, mode)
        lock_file = path.with_name(path.name + ".lock")
        self._handle = os.fdopen(os.open(lock_file, os.O_RDWR | os.O_CREAT, mode), "r+b")
        self._release: Any = None

    def __enter__(self) -> FileLock:
        self._release = _lock(self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self._release()

    def close(self) -> None:
        self._handle.close()


class AppendingFile:
    """Appends to ``path`` under its lock (other threads and processes wait), the lock file and
    the appending descriptor opened on first use and kept until ``close()`` (a later use opens
    them again)."""

    def __init__(self, path: Path, mode: int = SHARED, ours: bool = False) -> None:
        self.path = path
        self.mode = mode
        self.ours = ours
        self._threads = threading.Lock()  # the file lock excludes other processes only
        self._lock: FileLock | None = None
        self._fd: int | None = None

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The file to this thread alone for the block (e.g. to ``replace`` it)."""
        with self._threads:
            if self._lock is None:
                self._lock = FileLock(self.path, self.mode)
            with self._lock:
                yield

    def append(self, data: bytes) -> None:
        """``append`` ``data`` under the lock; raises ``OSError`` as ``append`` does."""
        with self.locked():
            append(self._descriptor(), data)

    def close(self) -> None:
        with self._threads:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    def _descriptor(self) -> int:
        """The appending descriptor, opened again when the file it writes to is no longer at
        ``path`` (``replace``d, e.g. compacted by another process). Call it under the lock."""
        if self._fd is not None:
            try:
                current = os.path.samestat(os.fstat(self._fd), os.stat(self.path))
            except FileNotFoundError:
                current = False
            if current:
                return self._fd
            os.close(self._fd)
            self._fd = None
        self._fd = open_for_append(self.path, self.mode, self.ours)
        return self._fd


def make_folder(folder: Path, mode: int = SHARED) -> None:
    """Create ``folder`` (and its parents) unless it exists: 0o700 for a private ``mode``."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700 if mode & 0o077 == 0 else 0o777)


def open_for_append(path: Path, mode: int = SHARED, ours: bool = False) -> int:
    """A descriptor appending to ``path`` (created with its folder), its torn tail repaired
    (``repair_tail``). Call it under the lock of ``path``."""
    make_folder(path.parent, mode)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)
    try:
        repair_tail(fd, path, ours)
    except BaseException:
        os.close(fd)
        raise
    return fd


def append(fd: int, data: bytes) -> None:
    """Write ``data`` at the end in one call; if the write is cut short, truncate it away
    again and raise ``OSError``."""
    written = os.write(fd, data)
    if written < len(data):
        end = os.lseek(fd, 0, os.SEEK_CUR)
        os.ftruncate(fd, end - written)
        raise OSError(28, f"only {written} of {len(data)} bytes written (disk full?); undone")


class NotAnEventsFile(OSError):
    """The file does not look like one floe-lineage appends to: left as it is."""


def repair_tail(fd: int, path: Path, ours: bool = False) -> int:
    """Make the file ready for appending whole lines; returns the number of bytes removed.

    Only what floe-lineage can show it wrote is changed: a torn last line that starts as a JSON
    object and is not a whole one (a write cut short) is cut, a whole JSON object missing only
    its newline gets it. A file whose last line is not a JSON object (a file of another kind,
    reached through a symlink or a wrong path) raises ``NotAnEventsFile`` and is left whole,
    unless the file is ``ours`` (a path only floe-lineage writes): then the line is kept and
    ended, for the file's reader to skip."""
    size = os.fstat(fd).st_size
    if size == 0:
        return 0
    if _read_at(fd, 1, size - 1) == b"\n":
        if not ours and not _is_object(_line_before(fd, size)):
            raise _not_events(path)
        return 0
    start = _line_start(fd, size)
    tail = _read_at(fd, size - start, start)
    if _is_object(tail):
        os.write(fd, b"\n")  # a whole event but for its newline: kept
        return 0
    before_is_ours = ours or start == 0 or _is_object(_line_before(fd, start))
    if not tail.startswith(b"{") or not before_is_ours:
        if ours:
            os.write(fd, b"\n")  # not a partial event: kept as it is, for the reader to skip
            return 0
        raise _not_events(path)
    os.ftruncate(fd, start)
    _log.warning("removed a torn line of %d bytes at the end of %s", size - start, path)
    return size - start


def _line_start(fd: int, end: int) -> int:
    """Where the line that ends at ``end`` (exclusive; a newline or the end of file) starts."""
    while end > 0:
        start = max(0, end - CHUNK)
        newline = _read_at(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def _line_before(fd: int, end: int) -> bytes:
    """The whole line whose newline is the byte before ``end``."""
    start = _line_start(fd, end - 1)
    return _read_at(fd, end - 1 - start, start)


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def _not_events(path: Path) -> NotAnEventsFile:
    return NotAnEventsFile(
        errno.EINVAL,
        f"{path} does not look like a file of JSON events (its last line is not one):"
        " floe-lineage appends only to such files and left it as it is",
    )


def _read_at(fd: int, size: int, offset: int) -> bytes:
    os.lseek(fd, offset, os.SEEK_SET)  # reads only: O_APPEND writes go to the end regardless
    return os.read(fd, size)


def replace(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Give ``path`` the content ``data`` at once: readers see the old or the new file. The
    temporary file has a name no other writer uses and ``mode`` less the umask; when writing or
    renaming fails it is removed and the error raised."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _lock(handle: object) -> object:
    """Take the lock; return the function that releases it."""
    fd = handle.fileno()  # type: ignore[attr-defined]
    try:
        fcntl = importlib.import_module("fcntl")
    except ImportError:
        msvcrt = importlib.import_module("msvcrt")  # Windows: lock the lock file's first byte
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)

        def release_msvcrt() -> None:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

        return release_msvcrt
    fcntl.flock(fd, fcntl.LOCK_EX)
    return lambda: fcntl.flock(fd, fcntl.LOCK_UN)
