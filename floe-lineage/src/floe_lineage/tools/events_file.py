"""Reading captured events: a JSON-lines file as the file transport writes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line number, parsed JSON)`` of each non-blank line of ``path``, read a line at a
    time; a line that is not JSON raises ``ValueError`` naming ``file:line``, on one line."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON event: {exc}") from exc


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    """The run events of ``path``, one per non-blank line; a line that is not one raises
    ``ValueError`` naming ``file:line`` and what is wrong, on one line. Static lineage events
    (JobEvent, DatasetEvent: ``floe-lineage publish --static``) are skipped."""
    for number, event in json_lines(path):
        if _is_static(event):
            continue
        problem = _not_a_run_event(event)
        if problem:
            raise ValueError(f"{path}:{number}: not an OpenLineage run event: {problem}")
        yield event


def _not_a_run_event(event: Any) -> str | None:
    """What keeps ``event`` from being read as a run event, or None."""
    if not isinstance(event, dict):
        return f"a JSON {type(event).__name__}, not an object"
    for part, key in (("run", "runId"), ("job", "name"), ("job", "namespace")):
        if not isinstance(event.get(part), dict) or not isinstance(event[part].get(key), str):
            return f"no {part}.{key}"
    for key in ("eventType", "eventTime"):
        if not isinstance(event.get(key), str):
            return f"no {key}"
    return None


def _is_static(event: Any) -> bool:
    """A JobEvent or DatasetEvent: no run, and a ``schemaURL`` naming one of those."""
    return (
        isinstance(event, dict)
        and "run" not in event
        and str(event.get("schemaURL", "")).endswith(("/JobEvent", "/DatasetEvent"))
    )
