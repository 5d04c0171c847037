"""Which process opened a run, and whether it is certainly gone.

A process is identified by its host name, pid and, on Linux, the boot id of the kernel, its PID
namespace (``/proc/self/ns/pid``) and its start time in clock ticks since boot (so a pid reused
by another process is told apart). ``certainly_gone`` answers True only when the recorded
process cannot be running any more; whenever it cannot be sure (another host, another PID
namespace such as another container on this machine, an identity recorded without its PID
namespace, a process that exists but whose start time cannot be read) it answers False: a run
wrongly left open is reported by ``floe-lineage check``, a live run wrongly aborted is not
undone.

Contract with a restarted machine: a recorded boot id that differs from this kernel's, on the
same host name, means the machine restarted since, so the process is gone. Machines that share
a ``.lineage`` folder must therefore have distinct host names.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

GONE = object()
"""``ProcessTable.start_of``'s answer for a pid no process of this PID namespace has."""


@dataclass(frozen=True)
class Process:
    host: str
    pid: int
    boot: str | None
    """The kernel's boot id (Linux), else None."""
    pid_namespace: str | None
    """``pid:[<inode>]`` of the process's PID namespace (Linux), else None."""
    start: str | None
    """Its start time in clock ticks since boot (Linux), else None."""


class ProcessTable(Protocol):
    def start_of(self, pid: int) -> str | object | None:
        """``GONE`` when no process has ``pid`` here, else its start time (None: unknown)."""


class LocalProcesses:
    """The processes of this PID namespace: ``os.kill(pid, 0)`` says whether one exists, and
    ``/proc`` its start time, when ``/proc`` is mounted for this namespace."""

    def __init__(self) -> None:
        try:
            self._proc_is_ours = os.readlink("/proc/self") == str(os.getpid())
        except OSError:
            self._proc_is_ours = False

    def start_of(self, pid: int) -> str | object | None:
        if pid <= 0:
            return GONE
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return GONE
        except PermissionError:
            pass  # another user's live process
        except OverflowError:
            return GONE
        return _start_time(f"/proc/{pid}/stat") if self._proc_is_ours else None


def this_process() -> Process:
    """The identity of the calling process."""
    return Process(
        host=socket.gethostname(),
        pid=os.getpid(),
        boot=_read("/proc/sys/kernel/random/boot_id"),
        pid_namespace=_link("/proc/self/ns/pid"),
        start=_start_time("/proc/self/stat"),
    )


def certainly_gone(recorded: Process, me: Process, processes: ProcessTable) -> bool:
    """Whether the process ``recorded`` describes has certainly ended, judged by ``me`` with
    the ``processes`` of its PID namespace (see the module's contract)."""
    if recorded.host != me.host:
        return False
    if recorded.boot is not None and me.boot is not None and recorded.boot != me.boot:
        return True  # this machine restarted since: every process it had is gone
    if recorded.pid_namespace != me.pid_namespace:
        return False  # another container's pid, or one recorded without its namespace
    if (recorded.pid, recorded.start) == (me.pid, me.start):
        return False
    start = processes.start_of(recorded.pid)
    if start is GONE:
        return True
    return recorded.start is not None and start is not None and start != recorded.start


def _start_time(stat_file: str) -> str | None:
    """Field 22 of ``/proc/<pid>/stat`` (after the command name, which may hold spaces)."""
    stat = _read(stat_file)
    if stat is None or ")" not in stat:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if len(fields) > 19 else None


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip() or None
    except OSError:
        return None


def _link(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None
