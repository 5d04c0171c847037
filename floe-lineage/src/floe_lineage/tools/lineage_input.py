"""Reading a lineage graph from a captured events file: run events as the file transport writes
them, and static JobEvents and DatasetEvents (``floe-lineage publish --static``).

The file is read a line at a time and folded into the graph (``graph.model``): memory follows
the project's size, not the file's. Anything that is not such an event raises ``ValueError``
naming ``file:line`` and what is wrong, on one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..graph.model import GraphBuilder, LineageGraph


def read_graph(path: Path) -> LineageGraph:
    """The lineage graph of the events in ``path`` (see the module's contract)."""
    if not path.is_file():
        raise ValueError(f"{path}: no such events file")
    folding = GraphBuilder()
    count = 0
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not a JSON event: {exc}") from exc
            problem = not_an_event(event)
            if problem:
                raise ValueError(f"{path}:{number}: not an OpenLineage event: {problem}")
            try:
                folding.add(event)
            except (KeyError, TypeError, AttributeError) as exc:
                raise ValueError(f"{path}:{number}: malformed event: {exc!r}") from exc
            count += 1
    if not count:
        raise ValueError(f"{path}: holds no events")
    try:
        return folding.graph()
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"{path}: malformed dataset or facet: {exc!r}") from exc


def not_an_event(event: Any) -> str | None:
    """What keeps ``event`` from being read as a run, job or dataset event, or None."""
    if not isinstance(event, dict):
        return f"a JSON {type(event).__name__}, not an object"
    if "run" not in event and isinstance(event.get("dataset"), dict):
        places = (("dataset", "name"), ("dataset", "namespace"))
    elif "run" not in event:
        places = (("job", "name"), ("job", "namespace"))
    else:
        places = (("run", "runId"), ("job", "name"), ("job", "namespace"))
    for part, key in places:
        if not isinstance(event.get(part), dict) or not isinstance(event[part].get(key), str):
            return f"no {part}.{key}"
    if "run" in event and not isinstance(event.get("eventType"), str):
        return "no eventType"
    if not isinstance(event.get("eventTime"), str):
        return "no eventTime"
    return None
