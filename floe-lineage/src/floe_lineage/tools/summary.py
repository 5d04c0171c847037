"""What a file of captured events says, run by run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from .check import runs_of
from .outcomes import STATES, state_of
from .views import dbt_node_views, final_views


def summary_lines(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """Per root run (e.g. a Dagster run), in the order captured: a header with the job that ran
    dbt, its state and the dbt nodes' count per state (in ``STATES`` order), then one row per
    node: job, state (``state_of``: WARN for a dbt test that completed with a failed
    assertion), inputs -> outputs."""
    lines: list[str] = []
    for root, run_events in runs_of(events).items():
        views = final_views(run_events)
        nodes = dbt_node_views(run_events)
        parents = [v for name, v in views.items() if name not in nodes]
        states = Counter(state_of(v) for v in nodes.values())
        order = [*STATES, *sorted(set(states) - set(STATES))]
        counted = ", ".join(f"{states[s]} {s}" for s in order if states[s]) or "none"
        ran = ", ".join(f"{v['job']['name']} {v['eventType']}" for v in parents) or "?"
        lines.append(f"run {root}: {ran}; {len(nodes)} dbt nodes: {counted}")
        width = max((len(name) for name in nodes), default=3)
        lines.append(f"  {'job':<{width}}  {'state':<8}  inputs -> outputs")
        for name, view in nodes.items():
            inputs = ", ".join(d["name"] for d in view.get("inputs", [])) or "-"
            outputs = ", ".join(d["name"] for d in view.get("outputs", [])) or "-"
            lines.append(f"  {name:<{width}}  {state_of(view):<8}  {inputs} -> {outputs}")
        lines.append("")
    return lines
