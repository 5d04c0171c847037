"""The runs this machine started and has not closed yet, so none stays open for ever.

A process killed outright (``kill -9``, the OOM killer, a process group stopped by systemd or
Kubernetes) cannot send the terminal events of the runs it had started. Every START an emitter
sends is recorded in a JSON-lines journal beside the spool (``.lineage/open-runs.jsonl``) with
the process that sent it, and every terminal event closes it. ``close_orphans`` (the start of
every dbt invocation, and ``floe-lineage recover``) sends one ABORT, with a message saying why,
for each run whose process is gone, and compacts the journal to the runs still open.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

from ..openlineage import facets
from .locking import AppendingFile, replace

TERMINAL = frozenset({"COMPLETE", "FAIL", "ABORT"})


@dataclass(frozen=True)
class OpenRun:
    run_id: str
    namespace: str
    name: str
    producer: str
    parent: tuple[str, str, str, str, str, str] | None
    """(parent namespace, name, run id, root namespace, name, run id) of its parent facet."""
    host: str
    pid: int
    process_start: str | None
    started: str

    def abort_event(self, at: datetime) -> RunEvent:
        why = (
            f"closed by floe-lineage: the process that started this run (pid {self.pid} on"
            f" {self.host}) ended without closing it, e.g. killed; its outcome is unknown"
        )
        run_facets = facets.error_message(self.producer, why, language="python")
        if self.parent is not None:
            parent, root = self.parent[:3], self.parent[3:]
            run_facets |= facets.parent(self.producer, parent, root)
        return RunEvent(
            eventType=RunState.ABORT,
            eventTime=at.isoformat(),
            run=Run(runId=self.run_id, facets=run_facets),
            job=Job(namespace=self.namespace, name=self.name),
            producer=self.producer,
        )


class OpenRuns:
    """The journal of open runs at ``path`` (created on first use), kept open from the first
    record to ``close()``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._me = _this_process()
        self._journal = AppendingFile(path)

    def record(self, event: Any) -> None:
        """Note a START as open, a terminal event as closing its run; others change nothing."""
        kind = _value(_get(event, "eventType"))
        run_id = _get(_get(event, "run"), "runId")
        if kind == "START":
            entry = self._entry(event, run_id)
        elif kind in TERMINAL:
            entry = {"closed": run_id}
        else:
            return
        self._journal.append(json.dumps(entry).encode() + b"\n")

    def close(self) -> None:
        """Close the journal's descriptors (a later record opens them again)."""
        self._journal.close()

    def close_orphans(self, emit: Callable[[Any], None]) -> list[OpenRun]:
        """ABORT every open run of a process that is gone, through ``emit``, and keep only the
        others in the journal. Returns the runs closed."""
        if not self.path.exists():
            return []
        with self._journal.locked():
            still_open: dict[str, dict[str, Any]] = {}
            for line in self.path.read_bytes().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line torn by a full disk: nothing to recover from it
                if "closed" in entry:
                    still_open.pop(entry["closed"], None)
                elif "open" in entry:
                    still_open[entry["open"]] = entry
            orphans = [_run(e) for e in still_open.values() if not self._alive(e)]
            for orphan in orphans:
                still_open.pop(orphan.run_id)
            replace(self.path, "".join(json.dumps(e) + "\n" for e in still_open.values()).encode())
        now = datetime.now(timezone.utc)
        for orphan in orphans:  # outside the lock: emitting records the ABORT in the journal
            emit(orphan.abort_event(now))
        return orphans

    def _entry(self, event: Any, run_id: str) -> dict[str, Any]:
        job = _get(event, "job")
        parent = _get(_get(_get(event, "run"), "facets") or {}, "parent")
        return {
            "open": run_id,
            "namespace": _get(job, "namespace"),
            "name": _get(job, "name"),
            "producer": _get(event, "producer"),
            "parent": _parent_tuple(parent) if parent is not None else None,
            "host": self._me[0],
            "pid": self._me[1],
            "process_start": self._me[2],
            "started": _value(_get(event, "eventTime")),
        }

    def _alive(self, entry: dict[str, Any]) -> bool:
        """Whether the process that opened ``entry`` may still close it: another host's
        processes are not ours to judge."""
        if entry.get("host") != self._me[0]:
            return True
        pid = int(entry.get("pid", 0))
        if pid == self._me[1] and entry.get("process_start") == self._me[2]:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # another user's live process
        started = entry.get("process_start")
        return started is None or started == _process_start(pid)


def _run(entry: dict[str, Any]) -> OpenRun:
    parent = entry.get("parent")
    return OpenRun(
        run_id=entry["open"],
        namespace=entry["namespace"],
        name=entry["name"],
        producer=entry["producer"],
        parent=tuple(parent) if parent else None,  # type: ignore[arg-type]
        host=entry["host"],
        pid=int(entry["pid"]),
        process_start=entry.get("process_start"),
        started=entry.get("started", ""),
    )


def _parent_tuple(parent: Any) -> list[str]:
    run, job, root = _get(parent, "run"), _get(parent, "job"), _get(parent, "root")
    return [
        _get(job, "namespace"),
        _get(job, "name"),
        _get(run, "runId"),
        _get(_get(root, "job"), "namespace"),
        _get(_get(root, "job"), "name"),
        _get(_get(root, "run"), "runId"),
    ]


def _this_process() -> tuple[str, int, str | None]:
    return socket.gethostname(), os.getpid(), _process_start(os.getpid())


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started, as the kernel counts it (Linux), so a reused pid is not
    taken for the process that opened a run; None where /proc cannot tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None
    return f"{boot}:{stat.rsplit(')', 1)[1].split()[19]}"


def _get(value: Any, key: str) -> Any:
    if value is None:
        return None
    return value.get(key) if isinstance(value, dict) else getattr(value, key, None)


def _value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value
