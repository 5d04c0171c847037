"""The layered layout of the report's lineage graph: which column each node goes in and its
place in that column, computed once in Python so the page only has to draw.

Columns follow the dependency depth (the longest path from a node nobody feeds), so every edge
points right. Within a column, nodes start in name order and are then reordered by a few
barycenter sweeps (each node moves to the mean place of its neighbours in other columns), which
removes most edge crossings of a dbt DAG. The result depends only on the set of nodes and edges,
not on the order they are given in.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

SWEEPS = 4
"""Rounds of a downward then an upward barycenter sweep (a last downward one follows)."""


def layered_order(
    keys: Iterable[str],
    edges: Iterable[tuple[str, str]],
    followers: Collection[str] = (),
    sweeps: int = SWEEPS,
) -> list[list[str]]:
    """The columns of the graph, left to right, each a list of node keys top to bottom.

    ``edges`` are (source, target) pairs of keys; keys only named by edges are nodes too.
    A node lies one column right of its deepest source. ``followers`` (the report's tests,
    hidden at first) take their places by their sources once the others are ordered: the
    others are ordered as if they were not there. Cycles cannot occur in lineage: if one does,
    its nodes are put right of what feeds them from outside the cycle, all edges drawn.
    """
    edges, followers = sorted(set(edges)), frozenset(followers)
    nodes = sorted(set(keys).union(k for edge in edges for k in edge))
    preds: dict[str, list[str]] = {k: [] for k in nodes}
    succs: dict[str, list[str]] = {k: [] for k in nodes}
    for source, target in edges:
        if source != target:
            succs[source].append(target)
            preds[target].append(source)
    column = _depths(nodes, preds, succs)
    columns: list[list[str]] = [[] for _ in range(max(column.values(), default=-1) + 1)]
    for key in nodes:
        if key not in followers:
            columns[column[key]].append(key)
    place = _places(columns)
    leading = {k: [p for p in preds[k] if p not in followers] for k in nodes}
    trailing = {k: [s for s in succs[k] if s not in followers] for k in nodes}
    for _ in range(sweeps):
        _sweep(columns, leading, place)
        _sweep(columns[::-1], trailing, place)
    _sweep(columns, leading, place)
    for key in nodes:
        if key in followers:
            columns[column[key]].append(key)
            place[key] = 1.0
    _sweep(columns, {k: preds[k] if k in followers else [] for k in nodes}, place)
    return columns


def _depths(
    nodes: Sequence[str], preds: Mapping[str, list[str]], succs: Mapping[str, list[str]]
) -> dict[str, int]:
    """Longest-path depth of each node (Kahn's order, no recursion: chains can be long)."""
    waiting = {k: len(preds[k]) for k in nodes}
    depth = {k: 0 for k in nodes if waiting[k] == 0}
    ready = list(depth)
    while True:
        while ready:
            key = ready.pop()
            for target in succs[key]:
                depth[target] = max(depth.get(target, 0), depth[key] + 1)
                waiting[target] -= 1
                if waiting[target] == 0:
                    ready.append(target)
        stuck = [k for k in nodes if waiting[k] > 0]
        if not stuck:
            return depth
        key = stuck[0]  # on a cycle: place it after what is known of its sources
        depth[key] = 1 + max((depth[p] for p in preds[key] if p in depth), default=-1)
        waiting[key] = 0
        ready.append(key)


def _places(columns: Sequence[Sequence[str]]) -> dict[str, float]:
    """Each node's place in its column as a fraction of the column's length (0 to 1), so
    columns of different lengths compare."""
    return {key: (i + 0.5) / len(column) for column in columns for i, key in enumerate(column)}


def _sweep(
    columns: Sequence[list[str]], neighbours: Mapping[str, list[str]], place: dict[str, float]
) -> None:
    """Reorder each column after the first by the mean place of each node's ``neighbours``
    (all in columns already swept); a node without any keeps its place. Ties keep the order."""

    def barycenter(key: str) -> float:
        around = neighbours[key]
        return sum(place[k] for k in around) / len(around) if around else place[key]

    for column in columns[1:]:
        column.sort(key=lambda k: (barycenter(k), place[k]))
        place.update(_places([column]))
