"""How a job ended as the tools show it: its terminal event type, or WARN.

dbt reports a test whose failures stay under its ``error_if`` threshold (every failing test of
``severity: warn``) with status ``warn``: its run is COMPLETE, and its events carry, on the
dataset it tests (an input), a ``dataQualityAssertions`` facet whose assertion has
``success: false`` (see ``openlineage.run_events._assertions``). The tools show such a run as
WARN. Only a job's own events are read: the assertion is not on the tested dataset's writer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

WARN = "WARN"
STATES = ("COMPLETE", WARN, "FAIL", "ABORT", "START")
"""The states the tools show, in the order they count them; START: started, never ended."""


def warnings_of(event: Mapping[str, Any]) -> list[str]:
    """Each failed assertion ``event`` (or a job's final view) carries on its inputs, described:
    ``<assertion>[(<column>)] on <dataset>: <n> failing rows, severity <severity>``."""
    found = []
    for dataset in event.get("inputs") or []:
        facet = (dataset.get("inputFacets") or {}).get("dataQualityAssertions") or {}
        for assertion in facet.get("assertions") or []:
            if assertion.get("success", True):
                continue
            column = f"({assertion['column']})" if assertion.get("column") else ""
            actual = str(assertion.get("actual", ""))
            rows = f"{actual} failing rows" if actual.isdigit() else f"actual {actual or '?'}"
            severity = assertion.get("severity") or "unknown"
            found.append(
                f"{assertion.get('assertion', '?')}{column} on {dataset.get('name', '?')}:"
                f" {rows}, severity {severity}"
            )
    return found


def state_of(view: Mapping[str, Any]) -> str:
    """The state shown for a job's final view: WARN when it is COMPLETE with a failed
    assertion, else its event type (COMPLETE, FAIL, ABORT, or START if it never ended)."""
    state = str(view.get("eventType"))
    return WARN if state == "COMPLETE" and warnings_of(view) else state
