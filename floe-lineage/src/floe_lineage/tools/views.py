"""Each job of a run as its events describe it in the end.

A node's terminal event says how its run ended; an OTHER event sent after it (see
``floe_lineage.invocation``) describes the same run with what was learnt since (typed schemas,
row counts, column lineage, late error text). The final view is the latest such description
with the terminal event's state and time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .check import TERMINAL


def final_views(events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per job name, in order of first appearance: its last terminal event (or its START when
    it never ended), completed by the OTHER events of the same run that came after."""
    ended: dict[str, Mapping[str, Any]] = {}
    added: dict[str, Mapping[str, Any]] = {}
    for event in events:
        job = event.get("job", {}).get("name", "?")
        kind = event.get("eventType")
        if kind in TERMINAL or job not in ended:
            ended[job] = event
            added.pop(job, None)
        elif kind == "OTHER" and event["run"]["runId"] == ended[job]["run"]["runId"]:
            added[job] = event
    return {job: _merged(event, added.get(job)) for job, event in ended.items()}


def dbt_node_views(events: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``final_views`` of the dbt nodes' jobs only (not of the job that ran dbt)."""
    events = list(events)
    nodes = {
        e["job"]["name"]
        for e in events
        if e["job"].get("facets", {}).get("jobType", {}).get("integration") == "DBT"
    }
    return {name: view for name, view in final_views(events).items() if name in nodes}


def _merged(ended: Mapping[str, Any], later: Mapping[str, Any] | None) -> dict[str, Any]:
    if later is None:
        return dict(ended)
    view = dict(later)
    view["eventType"] = ended["eventType"]
    view["eventTime"] = ended["eventTime"]
    view["run"] = {
        **later["run"],
        "facets": {**ended["run"].get("facets", {}), **later["run"].get("facets", {})},
    }
    return view
