"""JSON-lines files shared by processes, never left with a torn line.

- ``exclusive(path)``: an exclusive lock on ``<path>.lock`` (``fcntl.flock`` on POSIX,
  ``msvcrt.locking`` on Windows, chosen when a lock is taken, so importing floe-lineage needs
  neither module). The lock has a file of its own, so ``replace`` can swap the data file.
- ``append(fd, data)``: one ``O_APPEND`` write; a write cut short (a full disk) is truncated
  back, so the file holds whole lines only, and the error is raised.
- ``repair_tail(fd)``: cuts a torn last line left by a process that died mid-write.
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

import importlib
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

    def __init__(self, path: Path, mode: int = SHARED) -> None:
        self.path = path
        self.mode = mode
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
        self._fd = open_for_append(self.path, self.mode)
        return self._fd


def make_folder(folder: Path, mode: int = SHARED) -> None:
    """Create ``folder`` (and its parents) unless it exists: 0o700 for a private ``mode``."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700 if mode & 0o077 == 0 else 0o777)


def open_for_append(path: Path, mode: int = SHARED) -> int:
    """A descriptor appending to ``path`` (created with its folder), its torn tail repaired.
    Call it under the lock of ``path``."""
    make_folder(path.parent, mode)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)
    repair_tail(fd, path)
    return fd


def append(fd: int, data: bytes) -> None:
    """Write ``data`` at the end in one call; if the write is cut short, truncate it away
    again and raise ``OSError``."""
    written = os.write(fd, data)
    if written < len(data):
        end = os.lseek(fd, 0, os.SEEK_CUR)
        os.ftruncate(fd, end - written)
        raise OSError(28, f"only {written} of {len(data)} bytes written (disk full?); undone")


def repair_tail(fd: int, path: Path) -> int:
    """Cut whatever follows the last newline (a line whose write was cut short); returns the
    number of bytes removed."""
    size = os.fstat(fd).st_size
    if size == 0 or _read_at(fd, 1, size - 1) == b"\n":
        return 0
    end = size
    while end > 0:
        start = max(0, end - CHUNK)
        newline = _read_at(fd, end - start, start).rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    os.ftruncate(fd, end)
    _log.warning("removed a torn line of %d bytes at the end of %s", size - end, path)
    return size - end


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
