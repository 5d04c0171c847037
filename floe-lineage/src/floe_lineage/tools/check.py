"""Checking captured events against the dbt manifest: every node of a run has a START and
exactly one terminal event, inputs and outputs follow the DAG, and every event is well formed.
Nodes that completed with a failed assertion (dbt tests of severity warn) are listed as warned,
which is not a problem."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from ..dbt.manifest import DbtGraph
from .outcomes import warnings_of

TERMINAL = frozenset({"COMPLETE", "FAIL", "ABORT"})
EVENT_TYPES = TERMINAL | {"START", "RUNNING", "OTHER"}
RECOVER_HINT = "close the runs a killed process left open with: floe-lineage recover"


@dataclass
class CheckReport:
    root_run_id: str | None
    nodes: int = 0
    events: int = 0
    states: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)
    """Runnable manifest nodes without events in this run (not a problem: not selected)."""
    warned: list[str] = field(default_factory=list)
    """``<job>: <its failed assertions>`` of each COMPLETE node with a failed assertion (not a
    problem: e.g. a dbt test of severity warn)."""

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        states = ", ".join(f"{n} {state}" for state, n in sorted(self.states.items()))
        lines = [
            f"Run {self.root_run_id}: {self.nodes} dbt nodes, {self.events} events"
            f" ({states or 'none'})",
            f"{len(self.not_run)} manifest nodes were not part of this run",
        ]
        if self.warned:
            lines.append(
                f"{len(self.warned)} warned: COMPLETE with a failed assertion (a dbt test of"
                " severity warn), not a problem:"
            )
            lines += [f"  - {warning}" for warning in self.warned]
        if self.problems:
            lines.append(f"{len(self.problems)} problems:")
            lines += [f"  - {problem}" for problem in self.problems]
        else:
            lines.append("OK: every node has a START and one terminal event, edges match the DAG")
        return lines


def runs_of(events: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Events grouped by the root run they belong to (the ``root`` of their parent, e.g. the
    orchestrator run), in the order the runs were captured."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        parent = event.get("run", {}).get("facets", {}).get("parent", {})
        root = parent.get("root", {}).get("run", {}).get("runId") or parent.get("run", {}).get(
            "runId", "?"
        )
        grouped.setdefault(root, []).append(event)
    return grouped


def check_run(
    events: Sequence[Mapping[str, Any]], graph: DbtGraph, root_run_id: str | None
) -> CheckReport:
    """Check the events of one root run against the manifest in ``graph``: every dbt node
    job has a START then exactly one terminal event, and reads and writes what the DAG says."""
    report = CheckReport(root_run_id, events=len(events))
    by_run: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for number, event in enumerate(events, start=1):
        report.problems += [f"event {number}: {p}" for p in event_problems(event)]
        by_run[event.get("run", {}).get("runId", "?")].append(event)
    seen = set()
    for run in by_run.values():
        job = run[0].get("job", {}).get("name", "?")
        types = [e.get("eventType") for e in run]
        report.problems += [f"{job}: {p}" for p in sequence_problems(types)]
        job_type = run[0].get("job", {}).get("facets", {}).get("jobType", {})
        if job_type.get("integration") != "DBT":
            continue  # the parent job that ran dbt
        node = graph.node(job)
        if node is None:
            report.problems.append(f"{job}: not a node of the manifest")
            continue
        seen.add(job)
        report.nodes += 1
        final = next((t for t in types if t in TERMINAL), types[-1])
        report.states[final] = report.states.get(final, 0) + 1
        if final == "COMPLETE":
            warned = dict.fromkeys(w for event in run for w in warnings_of(event))
            report.warned += [f"{job}: {'; '.join(warned)}"] if warned else []
        report.problems += [f"{job}: {p}" for p in edge_problems(run, graph, job)]
    report.not_run = sorted(uid for uid in graph.runnable_ids() if uid not in seen)
    return report


def sequence_problems(types: Sequence[str]) -> list[str]:
    """What is wrong with the event types of one run, in order: it must be a START, then
    exactly one terminal event; RUNNING may come before it and OTHER (facts added later)
    anywhere after the START."""
    if types[:1] != ["START"] or len([t for t in types if t in TERMINAL]) != 1:
        return [f"expected START then one terminal event, got {list(types)}"]
    terminal = next(i for i, t in enumerate(types) if t in TERMINAL)
    after = [t for t in types[terminal + 1 :] if t != "OTHER"]
    if after:
        return [f"{after[0]} after the terminal event {types[terminal]} of the same run"]
    if "START" in types[1:]:
        return [f"a second START in {list(types)}"]
    return []


def open_runs(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """Runs anywhere in ``events`` that were started and never ended, one description each."""
    started: dict[str, Mapping[str, Any]] = {}
    for event in events:
        run_id = event.get("run", {}).get("runId", "?")
        if event.get("eventType") == "START":
            started.setdefault(run_id, event)
        elif event.get("eventType") in TERMINAL:
            started.pop(run_id, None)
    return [
        f"{e.get('job', {}).get('name', '?')} (run {run_id}, started {e.get('eventTime')})"
        for run_id, e in started.items()
    ]


def edge_problems(run: Sequence[Mapping[str, Any]], graph: DbtGraph, job: str) -> list[str]:
    expected_inputs = {n.relation.name for n in graph.inputs(job) if n.relation}
    output = graph.output(job)
    expected_outputs = {output.relation.name} if output and output.relation else set()
    problems = []
    for event in run:
        if not event.get("inputs") and not event.get("outputs"):
            continue  # an ABORT sent for a run a killed process left open names no datasets
        inputs = {d.get("name") for d in event.get("inputs", [])}
        outputs = {d.get("name") for d in event.get("outputs", [])}
        if inputs != expected_inputs:
            problems.append(
                f"inputs {sorted(inputs)} differ from the DAG's {sorted(expected_inputs)}"
            )
        if outputs != expected_outputs:
            problems.append(
                f"outputs {sorted(outputs)} differ from the DAG's {sorted(expected_outputs)}"
            )
    return sorted(set(problems))


def event_problems(event: Mapping[str, Any]) -> list[str]:
    """What makes an event invalid in the ways the OpenLineage client lets through."""
    problems = []
    run_id = event.get("run", {}).get("runId", "")
    try:
        if str(uuid.UUID(run_id)) != run_id:
            raise ValueError
    except (ValueError, TypeError, AttributeError):
        problems.append(f"runId {run_id!r} is not a canonical UUID")
    try:
        if (
            datetime.fromisoformat(str(event.get("eventTime")).replace("Z", "+00:00")).tzinfo
            is None
        ):
            problems.append(f"eventTime {event.get('eventTime')!r} has no offset")
    except ValueError:
        problems.append(f"eventTime {event.get('eventTime')!r} is not RFC 3339")
    if not urlparse(str(event.get("producer", ""))).scheme:
        problems.append(f"producer {event.get('producer')!r} is not a URI")
    if event.get("eventType") not in EVENT_TYPES:
        problems.append(f"eventType {event.get('eventType')!r} is unknown")
    job = event.get("job", {})
    if not job.get("namespace") or not job.get("name"):
        problems.append("job namespace or name is missing")
    return problems
