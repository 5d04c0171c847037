"""One line per captured run: job, final state, inputs -> outputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .check import TERMINAL


def summary_lines(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """One row per run, in order of first event: job, final state, inputs -> outputs."""
    runs: dict[str, dict[str, Any]] = {}
    for event in events:
        run = runs.setdefault(
            event["run"]["runId"], {"job": event["job"]["name"], "state": "START"}
        )
        if event.get("eventType") in TERMINAL or run["state"] == "START":
            run["state"] = event.get("eventType", "?")
            run["inputs"] = [d["name"] for d in event.get("inputs", [])]
            run["outputs"] = [d["name"] for d in event.get("outputs", [])]
    width = max((len(r["job"]) for r in runs.values()), default=3)
    rows = [f"{'job':<{width}}  {'state':<8}  inputs -> outputs"]
    for run in runs.values():
        flow = f"{', '.join(run['inputs']) or '-'} -> {', '.join(run['outputs']) or '-'}"
        rows.append(f"{run['job']:<{width}}  {run['state']:<8}  {flow}")
    return rows
