"""A self-contained HTML page (inline SVG, no scripts, nothing fetched) with the lineage graph
of one orchestrator run: jobs and the datasets they read and write, failed jobs marked."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from .views import dbt_node_views, final_views

COLUMN_WIDTH, ROW_HEIGHT, BOX_WIDTH, BOX_HEIGHT, MARGIN = 300, 56, 250, 34, 20
STATE_COLORS = {
    "COMPLETE": "#2e7d32",
    "FAIL": "#c62828",
    "ABORT": "#757575",
    "START": "#f9a825",
}


@dataclass(frozen=True)
class Box:
    key: str
    label: str
    kind: str  # "job" or "dataset"
    state: str | None
    x: int
    y: int


def render_report(events: Sequence[Mapping[str, Any]], title: str) -> str:
    """The page for ``events`` (those of one run): the graph and a table of the jobs."""
    jobs = final_views(events)
    boxes, edges = _layout(dbt_node_views(events))
    width = max((b.x for b in boxes.values()), default=0) + BOX_WIDTH + 2 * MARGIN
    height = max((b.y for b in boxes.values()), default=0) + BOX_HEIGHT + 2 * MARGIN
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="lineage graph">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#90a4ae"/></marker></defs>',
    ]
    for source, target in edges:
        a, b = boxes[source], boxes[target]
        svg.append(
            f'<line class="edge" data-from="{escape(source)}" data-to="{escape(target)}"'
            f' x1="{a.x + BOX_WIDTH}" y1="{a.y + BOX_HEIGHT // 2}" x2="{b.x}"'
            f' y2="{b.y + BOX_HEIGHT // 2}" stroke="#90a4ae" marker-end="url(#arrow)"/>'
        )
    for box in boxes.values():
        svg.append(_box_svg(box))
    svg.append("</svg>")
    rows = "".join(
        f'<tr class="{escape(e["eventType"].lower())}"><td>{escape(name)}</td>'
        f"<td>{escape(e['eventType'])}</td><td>{escape(_error(e))}</td></tr>"
        for name, e in jobs.items()
    )
    counts = ", ".join(
        f"{sum(1 for e in jobs.values() if e['eventType'] == s)} {s}"
        for s in ("COMPLETE", "FAIL", "ABORT", "START")
        if any(e["eventType"] == s for e in jobs.values())
    )
    legend = "".join(
        f'<span style="color:{color}">&#9632; {state}</span>'
        for state, color in STATE_COLORS.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 24px; color: #212121; }}
svg text {{ font: 12px system-ui, sans-serif; }}
table {{ border-collapse: collapse; margin-top: 24px; }}
td, th {{ border: 1px solid #e0e0e0; padding: 4px 8px; text-align: left; vertical-align: top; }}
tr.fail td {{ background: #ffebee; }} tr.abort td {{ color: #757575; }}
.legend span {{ display: inline-block; margin-right: 16px; }}
</style></head>
<body>
<h1>{escape(title)}</h1>
<p id="summary">{len(jobs)} jobs: {escape(counts)}</p>
<p class="legend">{legend}<span style="color:#1565c0">&#9711; dataset</span></p>
{"".join(svg)}
<table><tr><th>job</th><th>state</th><th>error</th></tr>{rows}</table>
</body></html>
"""


def _layout(
    jobs: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, Box], list[tuple[str, str]]]:
    """Columns by dependency depth: datasets nobody here writes first, then each job one column
    right of its inputs and its outputs one column right of it."""
    producer = {
        f"dataset:{d['name']}": f"job:{name}"
        for name, event in jobs.items()
        for d in event.get("outputs", [])
    }
    edges: list[tuple[str, str]] = []
    reads: dict[str, list[str]] = {}
    for name, event in jobs.items():
        reads[f"job:{name}"] = [f"dataset:{d['name']}" for d in event.get("inputs", [])]
        edges += [(d, f"job:{name}") for d in reads[f"job:{name}"]]
        edges += [(f"job:{name}", f"dataset:{d['name']}") for d in event.get("outputs", [])]
    level: dict[str, int] = {}

    def depth(key: str, seen: frozenset[str] = frozenset()) -> int:
        if key not in level:
            if key in seen:  # a cycle cannot happen in dbt; stay safe anyway
                return 0
            seen = seen | {key}
            if key.startswith("job:"):
                level[key] = 1 + max((depth(d, seen) for d in reads[key]), default=-1)
            else:
                level[key] = 1 + depth(producer[key], seen) if key in producer else 0
        return level[key]

    keys = list(dict.fromkeys([k for edge in edges for k in edge] + [f"job:{n}" for n in jobs]))
    columns: dict[int, int] = {}
    boxes = {}
    for key in sorted(keys, key=lambda k: (depth(k), k)):
        column = depth(key)
        row = columns.get(column, 0)
        columns[column] = row + 1
        kind, _, name = key.partition(":")
        boxes[key] = Box(
            key=key,
            label=name,
            kind=kind,
            state=jobs[name]["eventType"] if kind == "job" else None,
            x=MARGIN + column * COLUMN_WIDTH,
            y=MARGIN + row * ROW_HEIGHT,
        )
    return boxes, edges


def _box_svg(box: Box) -> str:
    label = box.label if len(box.label) <= 36 else box.label[:35] + "\u2026"
    if box.kind == "dataset":
        shape = (
            f'<rect x="{box.x}" y="{box.y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="17"'
            ' fill="#e3f2fd" stroke="#1565c0"/>'
        )
        css = "node dataset"
    else:
        color = STATE_COLORS.get(box.state or "", "#424242")
        shape = (
            f'<rect x="{box.x}" y="{box.y}" width="{BOX_WIDTH}" height="{BOX_HEIGHT}" rx="3"'
            f' fill="white" stroke="{color}" stroke-width="3"/>'
        )
        css = f"node job {(box.state or '').lower()}"
    return (
        f'<g class="{css}" data-name="{escape(box.label)}" data-state="{escape(box.state or "")}">'
        f"<title>{escape(box.label)}{' (' + escape(box.state) + ')' if box.state else ''}</title>"
        f'{shape}<text x="{box.x + 10}" y="{box.y + 21}">{escape(label)}</text></g>'
    )


def _error(event: Mapping[str, Any]) -> str:
    return event.get("run", {}).get("facets", {}).get("errorMessage", {}).get("message", "")
