"""Column lineage traced on earlier runs, kept in one JSON file (``floe-column-lineage.json``
in the dbt project's target folder), so a run traces again only the models whose compiled SQL
or schemas changed.

Tracing (``openlineage.column_lineage``) is a pure function of a model's compiled SQL, the
dialect, the columns of what it reads and of what it writes, and of the tracing code. An entry
is used only when all of these are exactly as when it was traced: the task's digest must match,
and the file is ignored as a whole when it was written by other tracing code (another sqlglot
version, or a change to floe-lineage's tracing modules). A missing, unreadable or corrupt file
costs only the time to trace again; the file is rewritten atomically, so concurrent runs never
leave it half written (the last writer wins).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Collection, Iterator, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import sqlglot

from .dbt.relation import Relation
from .delivery.locking import replace
from .openlineage import column_lineage, indirect_lineage
from .openlineage.column_lineage import ColumnLineage, ColumnSource, Task, Traced, trace_models

FILE_NAME = "floe-column-lineage.json"
FORMAT = 1


class ColumnLineageCache:
    """``trace_models`` remembered per node in ``path`` (None: nothing is remembered).

    ``trace`` answers from the file where it holds the same task, traces the rest; ``save``
    writes what is known back, for the nodes still in the project."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, dict[str, Any]] | None = None
        self._changed = False
        self.hits = 0
        """Tasks answered from the file so far."""

    def trace(self, tasks: Sequence[Task]) -> Iterator[Traced]:
        """``trace_models(tasks)``, the unchanged tasks answered from the file (first), the
        others traced (in worker processes when many) and remembered."""
        if self.path is None:
            yield from trace_models(tasks)
            return
        entries = self._load()
        missed = []
        for task in tasks:
            digest = task_digest(task)
            traced = _decode(entries.get(task[0]), digest)
            if traced is None:
                missed.append((task, digest))
                continue
            self.hits += 1
            yield task[0], traced
        results = trace_models([task for task, _ in missed])
        for (_, digest), (unique_id, result) in zip(missed, results, strict=True):
            entries[unique_id] = {"digest": digest, "traced": _encode(result)}
            self._changed = True
            yield unique_id, result

    def save(self, nodes: Callable[[], Collection[str]]) -> None:
        """Write the file if this run traced anything new, keeping only the entries of the
        project's ``nodes()`` (a removed model's entry goes; asked only when this run used the
        file). Raises ``OSError`` when the folder cannot be written."""
        if self.path is None or self._entries is None:
            return
        present = nodes()
        kept = {uid: entry for uid, entry in self._entries.items() if uid in present}
        if not self._changed and len(kept) == len(self._entries):
            return
        content = {"format": FORMAT, "tracer": tracer_version(), "models": kept}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        replace(self.path, json.dumps(content, separators=(",", ":")).encode())
        self._entries, self._changed = kept, False

    def _load(self) -> dict[str, dict[str, Any]]:
        if self._entries is None:
            self._entries = {}
            try:
                content = json.loads(self.path.read_bytes()) if self.path else None
            except (OSError, ValueError):
                content = None  # none yet, or unreadable: traced again and rewritten
            if (
                isinstance(content, dict)
                and content.get("format") == FORMAT
                and content.get("tracer") == tracer_version()
                and isinstance(content.get("models"), dict)
            ):
                self._entries = content["models"]
        return self._entries


def task_digest(task: Task) -> str:
    """A digest of everything the lineage of ``task`` depends on besides the tracing code."""
    _, sql, dialect, inputs, output = task
    read = sorted(
        ([r.database, r.schema, r.identifier], [list(c) for c in columns])
        for r, columns in inputs.items()
    )
    key = [sql, dialect, read, [list(c) for c in output]]
    return hashlib.sha256(json.dumps(key, default=str).encode("utf-8")).hexdigest()


@cache
def tracer_version() -> str:
    """sqlglot's version and a digest of floe-lineage's tracing modules' source."""
    digest = hashlib.sha256()
    for module in (column_lineage, indirect_lineage):
        digest.update(Path(module.__file__ or "").read_bytes())
    return f"sqlglot {sqlglot.__version__}, {digest.hexdigest()[:16]}"


def _encode(traced: ColumnLineage | str) -> Any:
    if isinstance(traced, str):
        return {"error": traced}
    return {
        "fields": {name: [_source(s) for s in found] for name, found in traced.fields.items()},
        "dataset": [_source(s) for s in traced.dataset],
    }


def _decode(entry: Any, digest: str) -> ColumnLineage | str | None:
    """The lineage stored in ``entry`` for a task of this ``digest``; None when the entry is
    for another task or cannot be read (the task is traced again)."""
    if not isinstance(entry, dict) or entry.get("digest") != digest:
        return None
    stored = entry.get("traced")
    try:
        if "error" in stored:
            return str(stored["error"])
        return ColumnLineage(
            {name: [_column_source(s) for s in found] for name, found in stored["fields"].items()},
            [_column_source(s) for s in stored["dataset"]],
        )
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _source(source: ColumnSource) -> list[str | None]:
    r = source.relation
    return [r.database, r.schema, r.identifier, source.column, source.subtype, source.type]


def _column_source(stored: Sequence[str | None]) -> ColumnSource:
    database, schema, identifier, column, subtype, kind = stored
    if not isinstance(identifier, str) or not isinstance(column, str):
        raise ValueError("not a stored column source")
    return ColumnSource(Relation(database, schema, identifier), column, str(subtype), str(kind))
