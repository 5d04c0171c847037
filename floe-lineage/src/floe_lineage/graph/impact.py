"""The columns downstream (or upstream) of one column, through every model, each with a path.

Contract of ``column_impact(graph, column, upstream=False)``: a breadth-first walk of the column
lineage edges (DIRECT and INDIRECT; dataset-level edges reach every column of their dataset)
from ``column``; each reached column once, with the shortest path to it (the edges, in the walk's
direction), ordered by depth then name. The column itself is not listed.

``resolve_column(graph, reference)`` reads ``MODEL.COLUMN`` forgivingly: the dataset is its
full name or any unique dotted suffix of it (``main.orders``, ``orders``), case-insensitive, as
is the column; anything unknown or ambiguous raises ``LookupError`` saying what there is.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .model import Column, Edge, LineageGraph

MAX_LISTED = 20


@dataclass(frozen=True)
class Reached:
    column: Column
    path: tuple[Edge, ...]
    """From the asked column to this one (downstream), or from this one to it (upstream)."""

    @property
    def depth(self) -> int:
        return len(self.path)


def column_impact(graph: LineageGraph, column: Column, upstream: bool = False) -> list[Reached]:
    """Every column reached from ``column`` (see the module's contract)."""
    index = graph.upstream_index() if upstream else graph.downstream_index()
    paths: dict[Column, tuple[Edge, ...]] = {column: ()}
    queue = deque([column])
    while queue:
        here = queue.popleft()
        for edge in sorted(index.get(here, ())):
            there = edge.source if upstream else edge.target
            if there in paths:
                continue
            paths[there] = (edge, *paths[here]) if upstream else (*paths[here], edge)
            queue.append(there)
    del paths[column]
    found = [Reached(c, p) for c, p in paths.items()]
    return sorted(found, key=lambda r: (r.depth, r.column))


def resolve_column(graph: LineageGraph, reference: str) -> Column:
    """The column ``reference`` names (see the module's contract)."""
    dataset, _, name = reference.rpartition(".")
    if not dataset or not name:
        raise LookupError(f"{reference!r}: name a column as MODEL.COLUMN")
    lowered = dataset.lower()
    matches = [d for d in graph.datasets if f".{d.lower()}".endswith(f".{lowered}")]
    exact = [d for d in matches if d.lower() == lowered]
    matches = exact or matches
    if len(matches) != 1:
        names = matches or sorted(graph.datasets)
        listed = ", ".join(names[:MAX_LISTED]) + (" ..." if len(names) > MAX_LISTED else "")
        why = "is ambiguous" if matches else "names no dataset"
        raise LookupError(f"{dataset!r} {why}; there are: {listed or 'none'}")
    found = graph.datasets[matches[0]]
    known = set(found.columns) | {
        e.source.name for e in graph.edges() if e.source.dataset == found.name
    }
    spelled = {c.lower(): c for c in known}.get(name.lower())
    if spelled is None:
        listed = ", ".join(sorted(known)) or "no columns"
        raise LookupError(f"{found.name} has no column {name!r}; it has {listed}")
    return Column(found.name, spelled)
