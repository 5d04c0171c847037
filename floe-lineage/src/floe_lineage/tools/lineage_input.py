"""Reading a lineage graph from a captured events file: run events as the file transport writes
them, and static JobEvents and DatasetEvents (``floe-lineage publish --static``); or from a dbt
project before any run: a compiled ``manifest.json``, a dbt target folder holding one, or a dbt
project folder with ``target/manifest.json`` (``graph.project``; ``dbt compile`` first).

The file is read a line at a time and folded into the graph (``graph.model``): memory follows
the project's size, not the file's. Anything that is not such an event raises ``ValueError``
naming ``file:line`` and what is wrong, on one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..graph.model import GraphBuilder, LineageGraph
from .events_file import json_lines


def read_graph(path: Path) -> LineageGraph:
    """The lineage graph of the events or the dbt project in ``path`` (see the module's
    contract)."""
    manifest = manifest_of(path)
    if manifest is not None:
        return LineageGraph.from_events(read_project(manifest))
    if not path.is_file():
        raise ValueError(f"{path}: no such events file")
    folding = GraphBuilder()
    count = 0
    for number, event in json_lines(path):
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


def manifest_of(path: Path) -> Path | None:
    """The dbt manifest ``path`` names: itself when named ``manifest.json``,
    ``<dir>/manifest.json`` or ``<dir>/target/manifest.json``; None for any other file."""
    if path.is_file():
        return path if path.name == "manifest.json" else None
    for candidate in (path / "manifest.json", path / "target" / "manifest.json"):
        if candidate.is_file():
            return candidate
    if path.is_dir():
        raise ValueError(f"{path}: no manifest.json nor target/manifest.json (run `dbt compile`)")
    return None


def read_project(manifest: Path, producer: str | None = None) -> list[dict[str, Any]]:
    """The events the dbt project of ``manifest`` would emit (``graph.project``); its project
    folder (where seeds are read) is the nearest folder above it with a ``dbt_project.yml``."""
    from ..graph.project import project_events
    from ..producer import default_producer

    try:
        document = json.loads(manifest.read_bytes())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{manifest}: not a JSON manifest: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("nodes"), dict):
        raise ValueError(f"{manifest}: not a dbt manifest (no nodes)")
    resolved = manifest.resolve()
    project_dir = next((d for d in resolved.parents if (d / "dbt_project.yml").is_file()), None)
    try:
        return project_events(document, project_dir, producer or default_producer())
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{manifest}: malformed manifest: {exc!r}") from exc
