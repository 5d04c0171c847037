"""The runs this machine started and has not closed yet, so none stays open for ever.

A process killed outright (``kill -9``, the OOM killer, a process group stopped by systemd or
Kubernetes) cannot send the terminal events of the runs it had started. Every START an emitter
sends is recorded in a JSON-lines journal beside the spool (``.lineage/open-runs.jsonl``) with
the process that sent it (``processes``) and the destination it went to, and every terminal
event closes it. ``close_orphans`` (the start of every dbt invocation, and ``floe-lineage
recover``) sends one ABORT, with a message saying why, for each run of its own destination
whose process is certainly gone, and compacts the journal to the runs still open.

Contracts:

- an ABORT goes to the destination of its START: runs recorded for another destination (two
  configurations in one folder) are left to an emitter of that destination;
- a run whose terminal event was recorded is never aborted: when the journal cannot grow (a
  full disk), the run's own START line is marked closed in place (``"open"`` becomes
  ``"done"``, same size), which needs no new space;
- a line that is not a journal entry (torn by a full disk, edited, written by something else)
  is skipped and counted; the rest is recovered, and compacting the journal drops it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

from ..openlineage import facets
from .locking import PRIVATE, AppendingFile, replace
from .processes import LocalProcesses, Process, ProcessTable, certainly_gone, this_process

TERMINAL = frozenset({"COMPLETE", "FAIL", "ABORT"})
_TEXT_KEYS = ("open", "namespace", "name", "producer", "host")


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


@dataclass
class Recovery:
    """What ``close_orphans`` did."""

    closed: list[OpenRun] = field(default_factory=list)
    """The runs it sent an ABORT for."""
    skipped: int = 0
    """Lines of the journal that were not journal entries (dropped from it)."""


class OpenRuns:
    """The journal of open runs at ``path`` (created on first use, ``PRIVATE``), kept open
    from the first record to ``close()``, for the events sent to ``destination`` (a key of the
    configuration's transport: see ``LineageConfig.destination``)."""

    def __init__(
        self,
        path: Path,
        destination: str | None = None,
        processes: ProcessTable | None = None,
    ) -> None:
        self.path = path
        self.destination = destination
        self._me = this_process()
        self._processes = processes or LocalProcesses()
        self._journal = AppendingFile(path, mode=PRIVATE, ours=True)

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
        try:
            self._journal.append(json.dumps(entry).encode() + b"\n")
        except OSError:
            if kind in TERMINAL and self._mark_closed_in_place(run_id):
                return
            raise

    def close(self) -> None:
        """Close the journal's descriptors (a later record opens them again)."""
        self._journal.close()

    def close_orphans(self, emit: Callable[[Any], None]) -> Recovery:
        """ABORT, through ``emit``, every open run of this destination whose process is
        certainly gone, and keep only the others in the journal."""
        recovery = Recovery()
        if not self.path.exists():
            return recovery
        with self._journal.locked():
            still_open, recovery.skipped = _read_journal(self.path.read_bytes())
            for run_id, entry in list(still_open.items()):
                if self._mine(entry) and certainly_gone(_process(entry), self._me, self._processes):
                    recovery.closed.append(_run(entry))
                    del still_open[run_id]
            content = "".join(json.dumps(e) + "\n" for e in still_open.values())
            replace(self.path, content.encode(), mode=PRIVATE)
        now = datetime.now(timezone.utc)
        for orphan in recovery.closed:  # outside the lock: emitting records the ABORT
            emit(orphan.abort_event(now))
        return recovery

    def _mine(self, entry: dict[str, Any]) -> bool:
        """Whether ``entry``'s START went to this journal's destination (entries of 0.2.2,
        without one, are taken as this destination's, as 0.2.2 did)."""
        recorded = entry.get("to")
        return recorded is None or self.destination is None or recorded == self.destination

    def _mark_closed_in_place(self, run_id: str) -> bool:
        """Turn the START line of ``run_id`` into a closed one by overwriting its first key
        (``{"open"`` becomes ``{"done"``) without growing the file; whether it was found."""
        needle = b'{"open": ' + json.dumps(run_id).encode() + b","
        with self._journal.locked(), self.path.open("r+b") as journal:  # not appending
            line = b"\n" + journal.read()  # every line, the first too, follows a newline
            at = line.find(b"\n" + needle)
            if at < 0:
                return False
            journal.seek(at)  # ``at`` in ``line`` is the line's start in the file
            journal.write(b'{"done"')
        return True

    def _entry(self, event: Any, run_id: str) -> dict[str, Any]:
        job = _get(event, "job")
        parent = _get(_get(_get(event, "run"), "facets") or {}, "parent")
        return {
            "open": run_id,
            "namespace": _get(job, "namespace"),
            "name": _get(job, "name"),
            "producer": _get(event, "producer"),
            "parent": _parent_tuple(parent) if parent is not None else None,
            "host": self._me.host,
            "pid": self._me.pid,
            "process_start": f"{self._me.boot or ''}:{self._me.start}" if self._me.start else None,
            "pid_ns": self._me.pid_namespace,
            "to": self.destination,
            "started": _value(_get(event, "eventTime")),
        }


def _read_journal(data: bytes) -> tuple[dict[str, dict[str, Any]], int]:
    """The entries of runs still open, by run id, and how many lines were not entries."""
    still_open: dict[str, dict[str, Any]] = {}
    skipped = 0
    for line in data.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if _is_open_entry(entry):
            still_open[entry["open"]] = entry
        elif isinstance(entry, dict) and isinstance(entry.get("closed"), str):
            still_open.pop(entry["closed"], None)
        elif not (isinstance(entry, dict) and isinstance(entry.get("done"), str)):
            skipped += 1
    return still_open, skipped


def _is_open_entry(entry: Any) -> bool:
    if not isinstance(entry, dict) or not all(isinstance(entry.get(k), str) for k in _TEXT_KEYS):
        return False
    pid, parent = entry.get("pid"), entry.get("parent")
    return (
        isinstance(pid, int)
        and not isinstance(pid, bool)
        and (parent is None or (isinstance(parent, list) and len(parent) == 6))
        and all(
            entry.get(key) is None or isinstance(entry[key], str)
            for key in ("process_start", "pid_ns", "to", "started")
        )
    )


def _process(entry: dict[str, Any]) -> Process:
    boot, _, start = (entry.get("process_start") or "").rpartition(":")
    return Process(
        host=entry["host"],
        pid=entry["pid"],
        boot=boot or None,
        pid_namespace=entry.get("pid_ns"),
        start=start or None,
    )


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


def _get(value: Any, key: str) -> Any:
    if value is None:
        return None
    return value.get(key) if isinstance(value, dict) else getattr(value, key, None)


def _value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value
