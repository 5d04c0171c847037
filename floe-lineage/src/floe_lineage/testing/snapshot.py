"""Lineage snapshots: a run's lineage as deterministic plain text, kept in a file beside the
tests by syrupy (``syrupy_extension``), so ``pytest --snapshot-update`` accepts a change and a
review shows the lineage diff line by line.

What is kept: every dbt job with its state, the datasets it reads and writes and the assertions
of dbt tests; every dataset with its warehouse (the namespace's scheme), its typed columns and
each column's lineage, on one line per column so a diff names the column, and the columns that
decide its rows (INDIRECT: JOIN, FILTER, GROUP_BY, SORT, WINDOW). What is left out:
times, run ids, row counts, machine paths (a namespace's host, port or file), the orchestrator's
own job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..tools.views import dbt_node_views

HEADER = (
    "# floe-lineage snapshot: the lineage of one run, without times, run ids or machine paths.\n"
    "# After an intended lineage change, accept it with: pytest --snapshot-update\n"
)


def normalized_view(
    events: Iterable[Mapping[str, Any]], renamed: Mapping[str, str] | None = None
) -> str:
    """The snapshot text of a run's events; ``renamed`` maps databases of an isolated copy to
    the configured names."""

    def display(value: str) -> str:
        for copy, configured in (renamed or {}).items():
            if value.startswith(f"{copy}."):
                return configured + value[len(copy) :]
        return value

    def label(found: Mapping[str, Any]) -> str:
        scheme = str(found.get("namespace", "")).split("://", 1)[0]
        return f"{display(found['name'])} [{scheme}]"

    jobs = dbt_node_views(events)
    datasets: dict[str, Mapping[str, Any]] = {}
    lines = [HEADER, "jobs:"]
    for job in sorted(jobs):
        event = jobs[job]
        kind = event["job"].get("facets", {}).get("jobType", {}).get("jobType", "?")
        lines.append(f"  {job} ({kind}): {event.get('eventType')}")
        for title, part in (("reads", "inputs"), ("writes", "outputs")):
            found = sorted(event.get(part, []), key=lambda d: display(d["name"]))
            if found:
                lines.append(f"    {title}: " + ", ".join(label(d) for d in found))
            for seen in found:
                if part == "outputs" or seen["name"] not in datasets:
                    datasets[seen["name"]] = seen
        for read in event.get("inputs", []):
            for assertion in _assertions(read):
                lines.append(f"    asserts: {assertion} on {display(read['name'])}")
    lines += ["", "datasets:"]
    for key in sorted(datasets, key=display):
        described = datasets[key]
        lines.append(f"  {label(described)}:")
        lineage = described.get("facets", {}).get("columnLineage", {}).get("fields", {})
        fields = described.get("facets", {}).get("schema", {}).get("fields", [])
        for field in fields:
            sources = ", ".join(
                f"{display(source['name'])}.{source['field']} {_subtype(source)}"
                for source in lineage.get(field["name"], {}).get("inputFields", [])
            )
            arrow = f" <- {sources}" if sources else ""
            lines.append(f"    {field['name']} {field.get('type', '?')}{arrow}")
        if not fields:
            lines.append("    (columns unknown)")
        rows = described.get("facets", {}).get("columnLineage", {}).get("dataset", [])
        if rows:
            lines.append(
                "    (rows) <- "
                + ", ".join(
                    f"{display(source['name'])}.{source['field']} {_subtype(source)}"
                    for source in rows
                )
            )
    return "\n".join(lines) + "\n"


def _subtype(source: Mapping[str, Any]) -> str:
    """``IDENTITY``, ``AGGREGATION`` ... for DIRECT; ``FILTER (indirect)`` ... for INDIRECT."""
    return "+".join(
        (t.get("subtype") or "?") + (" (indirect)" if t.get("type") == "INDIRECT" else "")
        for t in source.get("transformations", [])
    )


def _assertions(dataset: Mapping[str, Any]) -> list[str]:
    found = dataset.get("inputFacets", {}).get("dataQualityAssertions", {}).get("assertions", [])
    return [
        f"{a['assertion']}({a['column']})" if a.get("column") else str(a["assertion"])
        for a in found
    ]
