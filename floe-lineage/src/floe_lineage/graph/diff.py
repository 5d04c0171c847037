"""What changed between two lineage graphs (BASE and HEAD) and which columns it reaches.

Contract of ``diff_graphs(base, head)``:

- datasets and jobs added or removed (by name);
- columns added or removed (a renamed column is one of each), and retyped (both sides give a
  type and they differ), in datasets present on both sides;
- column lineage edges added or removed: an edge is (source column, target column, DIRECT or
  INDIRECT, subtype), so a changed subtype is a remove and an add;
- classification changes: a column's ``columnClassification`` entry differs (including one
  side having none);
- ``impact``: every column whose lineage passes through a changed edge: the target of each
  changed edge and every column downstream of it, at any depth; a removed edge is followed in
  BASE, an added one in HEAD. Columns of a removed dataset are not listed (the dataset is).

An unchanged project gives an empty diff (``LineageDiff.changed`` is False).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .model import ALL, Column, Edge, LineageGraph


@dataclass(frozen=True)
class Retyped:
    column: Column
    base: str
    head: str


@dataclass(frozen=True)
class Reclassified:
    column: Column
    base: Mapping[str, str] | None
    head: Mapping[str, str] | None


@dataclass
class LineageDiff:
    datasets_added: list[str] = field(default_factory=list)
    datasets_removed: list[str] = field(default_factory=list)
    jobs_added: list[str] = field(default_factory=list)
    jobs_removed: list[str] = field(default_factory=list)
    columns_added: list[Column] = field(default_factory=list)
    columns_removed: list[Column] = field(default_factory=list)
    columns_retyped: list[Retyped] = field(default_factory=list)
    edges_added: list[Edge] = field(default_factory=list)
    edges_removed: list[Edge] = field(default_factory=list)
    reclassified: list[Reclassified] = field(default_factory=list)
    impact: list[Column] = field(default_factory=list)
    """Every column whose lineage passes through a changed edge, sorted."""

    @property
    def changed(self) -> bool:
        return any(
            (
                self.datasets_added,
                self.datasets_removed,
                self.jobs_added,
                self.jobs_removed,
                self.columns_added,
                self.columns_removed,
                self.columns_retyped,
                self.edges_added,
                self.edges_removed,
                self.reclassified,
            )
        )


def diff_graphs(base: LineageGraph, head: LineageGraph) -> LineageDiff:
    """The diff of two graphs (see the module's contract)."""
    found = LineageDiff()
    found.datasets_added = sorted(head.datasets.keys() - base.datasets.keys())
    found.datasets_removed = sorted(base.datasets.keys() - head.datasets.keys())
    found.jobs_added = sorted(head.jobs.keys() - base.jobs.keys())
    found.jobs_removed = sorted(base.jobs.keys() - head.jobs.keys())
    for name in sorted(base.datasets.keys() & head.datasets.keys()):
        before, after = base.datasets[name], head.datasets[name]
        for column in after.columns.keys() - before.columns.keys():
            found.columns_added.append(Column(name, column))
        for column in before.columns.keys() - after.columns.keys():
            found.columns_removed.append(Column(name, column))
        for column in before.columns.keys() & after.columns.keys():
            old, new = before.columns[column], after.columns[column]
            if old and new and old != new:
                found.columns_retyped.append(Retyped(Column(name, column), old, new))
        for column in sorted(before.classification.keys() | after.classification.keys()):
            old_class = before.classification.get(column)
            new_class = after.classification.get(column)
            if old_class != new_class:
                found.reclassified.append(Reclassified(Column(name, column), old_class, new_class))
        if before.sources != after.sources:
            old_edges, new_edges = set(before.sources), set(after.sources)
            found.edges_added += new_edges - old_edges
            found.edges_removed += old_edges - new_edges
    for new_dataset in found.datasets_added:
        found.edges_added += head.datasets[new_dataset].sources
    for old_dataset in found.datasets_removed:
        found.edges_removed += base.datasets[old_dataset].sources
    for part in ("columns_added", "columns_removed", "columns_retyped", "edges_added"):
        getattr(found, part).sort()
    found.edges_removed.sort()
    found.columns_retyped.sort(key=lambda r: r.column)
    reached = _downstream(base, found.edges_removed) | _downstream(head, found.edges_added)
    found.impact = sorted(c for c in reached if c.dataset not in found.datasets_removed)
    return found


def _downstream(graph: LineageGraph, changed: Iterable[Edge]) -> set[Column]:
    """The targets of ``changed`` (a dataset-level one: every column of its dataset) and every
    column downstream of them in ``graph``."""
    start: list[Column] = []
    for edge in changed:
        if edge.target.name != ALL:
            start.append(edge.target)
            continue
        dataset = graph.datasets.get(edge.target.dataset)
        start += [Column(edge.target.dataset, c) for c in (dataset.columns if dataset else ())]
    if not start:
        return set()
    index = graph.downstream_index()
    seen = set(start)
    queue = deque(start)
    while queue:
        for edge in index.get(queue.popleft(), ()):
            if edge.target not in seen:
                seen.add(edge.target)
                queue.append(edge.target)
    return seen
