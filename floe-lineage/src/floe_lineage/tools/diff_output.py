"""A ``LineageDiff`` or a column impact as text (a terminal), Markdown (a pull request) or JSON
(tools). Formatting only: what changed is ``graph.diff``'s and ``graph.impact``'s."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..graph.diff import LineageDiff
from ..graph.impact import Reached
from ..graph.model import Column, Edge

FORMATS = ("text", "markdown", "json")


def _classes(entry: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(entry.items())) if entry else "none"


def _sections(diff: LineageDiff) -> list[tuple[str, list[str]]]:
    """(title, lines) of every non-empty part of the diff, in a fixed order."""
    parts = [
        ("datasets added", diff.datasets_added),
        ("datasets removed", diff.datasets_removed),
        ("jobs added", diff.jobs_added),
        ("jobs removed", diff.jobs_removed),
        ("columns added", [str(c) for c in diff.columns_added]),
        ("columns removed", [str(c) for c in diff.columns_removed]),
        ("columns retyped", [f"{r.column}: {r.base} -> {r.head}" for r in diff.columns_retyped]),
        ("column lineage added", [str(e) for e in diff.edges_added]),
        ("column lineage removed", [str(e) for e in diff.edges_removed]),
        (
            "classification changed",
            [f"{r.column}: {_classes(r.base)} -> {_classes(r.head)}" for r in diff.reclassified],
        ),
        (
            "impact: columns whose lineage passes through a changed edge",
            [str(c) for c in diff.impact],
        ),
    ]
    return [(title, list(lines)) for title, lines in parts if lines]


def diff_text(diff: LineageDiff, base: str, head: str) -> str:
    lines = [f"lineage diff {base} -> {head}"]
    if not diff.changed:
        return lines[0] + "\nno lineage changes"
    for title, found in _sections(diff):
        lines.append(f"{title} ({len(found)}):")
        lines += [f"  {line}" for line in found]
    return "\n".join(lines)


def diff_markdown(diff: LineageDiff, base: str, head: str) -> str:
    lines = ["## Lineage diff", "", f"`{base}` → `{head}`", ""]
    if not diff.changed:
        return "\n".join([*lines, "No lineage changes."])
    counts = ", ".join(
        f"{len(found)} {'columns impacted' if title.startswith('impact') else title}"
        for title, found in _sections(diff)
    )
    lines += [counts, ""]
    for title, found in _sections(diff):
        lines += [f"### {title[0].upper()}{title[1:]} ({len(found)})", ""]
        lines += [f"- `{line}`" for line in found]
        lines.append("")
    return "\n".join(lines).rstrip()


def diff_json(diff: LineageDiff, base: str, head: str) -> str:
    def column(c: Column) -> dict[str, str]:
        return {"dataset": c.dataset, "column": c.name}

    def edge(e: Edge) -> dict[str, Any]:
        return {
            "source": column(e.source),
            "target": column(e.target),
            "type": e.kind,
            "subtype": e.subtype,
        }

    document = {
        "base": base,
        "head": head,
        "changed": diff.changed,
        "datasets": {"added": diff.datasets_added, "removed": diff.datasets_removed},
        "jobs": {"added": diff.jobs_added, "removed": diff.jobs_removed},
        "columns": {
            "added": [column(c) for c in diff.columns_added],
            "removed": [column(c) for c in diff.columns_removed],
            "retyped": [
                {**column(r.column), "base": r.base, "head": r.head} for r in diff.columns_retyped
            ],
        },
        "columnLineage": {
            "added": [edge(e) for e in diff.edges_added],
            "removed": [edge(e) for e in diff.edges_removed],
        },
        "classification": [
            {**column(r.column), "base": r.base, "head": r.head} for r in diff.reclassified
        ],
        "impact": [column(c) for c in diff.impact],
    }
    return json.dumps(document, indent=2)


RENDER_DIFF = {"text": diff_text, "markdown": diff_markdown, "json": diff_json}


def impact_output(asked: Column, reached: Sequence[Reached], upstream: bool, form: str) -> str:
    direction = "upstream" if upstream else "downstream"
    if form == "json":
        return json.dumps(
            {
                "column": {"dataset": asked.dataset, "column": asked.name},
                "direction": direction,
                "columns": [
                    {
                        "dataset": r.column.dataset,
                        "column": r.column.name,
                        "depth": r.depth,
                        "path": [
                            {
                                "source": str(e.source),
                                "target": str(e.target),
                                "type": e.kind,
                                "subtype": e.subtype,
                            }
                            for e in r.path
                        ],
                    }
                    for r in reached
                ],
            },
            indent=2,
        )

    def path(r: Reached) -> str:
        labels = [f"{e.kind}/{e.subtype}" if e.subtype else e.kind for e in r.path]
        if upstream:
            hops = [str(e.source) for e in r.path] + [str(asked)]
        else:
            hops = [str(asked)] + [str(e.target) for e in r.path]
        shown = hops[0]
        for label, hop in zip(labels, hops[1:], strict=True):
            shown += f" -{label}-> {hop}"
        return shown

    head = f"{len(reached)} columns {direction} of {asked}"
    if form == "markdown":
        rows = [f"| `{r.column}` | {r.depth} | `{path(r)}` |" for r in reached]
        return "\n".join([f"## {head}", "", "| column | depth | path |", "|---|---|---|", *rows])
    return "\n".join([head + ":", *(f"  {r.column} (depth {r.depth}): {path(r)}" for r in reached)])
