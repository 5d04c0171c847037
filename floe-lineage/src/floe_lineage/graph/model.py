"""A lineage graph: what a set of OpenLineage events says a dbt project's lineage is.

Contract: ``LineageGraph.from_events`` folds events in order, keeping per dbt job its final view
(the last terminal event, completed by later OTHER events of the same run: see
``tools.views.final_views``) and per dataset its latest description (as written, else as read);
static events (JobEvent, DatasetEvent) describe a job or a dataset directly and count like a
terminal event. Only the graph is kept, never the events: memory grows with the project, not
with the capture. Events of other jobs than dbt nodes (the orchestrator's) are ignored.

Column lineage comes from each dataset's ``columnLineage`` facet: one ``Edge`` per input field of
an output column (DIRECT or INDIRECT with its subtype), and, for dataset-level inputs (the
columns that decide the rows: JOIN, FILTER, ...), one edge to the dataset's ``ALL`` column, which
stands for every column of the dataset.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TERMINAL = frozenset({"COMPLETE", "FAIL", "ABORT"})
ALL = "*"
"""The column name standing for every column of a dataset (dataset-level lineage)."""


@dataclass(frozen=True, order=True)
class Column:
    dataset: str
    name: str

    def __str__(self) -> str:
        return f"{self.dataset}.{self.name}"


@dataclass(frozen=True, order=True)
class Edge:
    """``source`` is one of the columns ``target`` is computed from (DIRECT) or that decides it
    (INDIRECT); ``target.name == ALL`` for dataset-level lineage."""

    source: Column
    target: Column
    kind: str
    subtype: str

    def __str__(self) -> str:
        label = f"{self.kind}/{self.subtype}" if self.subtype else self.kind
        target = f"{self.target.dataset} (every column)" if self.target.name == ALL else self.target
        return f"{self.source} -> {target} [{label}]"


@dataclass
class Dataset:
    name: str
    namespace: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    """Column -> type ("" when the events give none), in the events' order."""
    classification: dict[str, dict[str, str]] = field(default_factory=dict)
    """Column -> its ``columnClassification`` entry (classification, sensitivity)."""
    sources: list[Edge] = field(default_factory=list)
    """The column lineage edges into this dataset."""
    facets: dict[str, Any] = field(default_factory=dict)
    """The dataset facets as last described (for static lineage)."""


@dataclass
class Job:
    name: str
    namespace: str = ""
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    facets: dict[str, Any] = field(default_factory=dict)
    """The job facets as last described (for static lineage)."""


@dataclass
class LineageGraph:
    jobs: dict[str, Job] = field(default_factory=dict)
    datasets: dict[str, Dataset] = field(default_factory=dict)

    @classmethod
    def from_events(cls, events: Iterable[Mapping[str, Any]]) -> LineageGraph:
        """The graph the events describe (see the module's contract)."""
        folding = GraphBuilder()
        for event in events:
            folding.add(event)
        return folding.graph()

    # -- derived indexes -------------------------------------------------------------------

    def edges(self) -> set[Edge]:
        return {edge for dataset in self.datasets.values() for edge in dataset.sources}

    def columns(self) -> set[Column]:
        return {Column(d.name, c) for d in self.datasets.values() for c in d.columns}

    def downstream_index(self) -> dict[Column, list[Edge]]:
        """Column -> the edges reading it; a dataset-level edge is expanded to every column of
        its target dataset."""
        index: dict[Column, list[Edge]] = {}
        for edge in self._expanded_edges():
            index.setdefault(edge.source, []).append(edge)
        return index

    def upstream_index(self) -> dict[Column, list[Edge]]:
        """Column -> the edges into it (dataset-level edges expanded)."""
        index: dict[Column, list[Edge]] = {}
        for edge in self._expanded_edges():
            index.setdefault(edge.target, []).append(edge)
        return index

    def _expanded_edges(self) -> Iterable[Edge]:
        for dataset in self.datasets.values():
            for edge in dataset.sources:
                if edge.target.name != ALL:
                    yield edge
                    continue
                for column in dataset.columns:
                    yield Edge(edge.source, Column(dataset.name, column), edge.kind, edge.subtype)


def is_static(event: Mapping[str, Any]) -> bool:
    """A JobEvent or DatasetEvent (no run)."""
    return "run" not in event and ("job" in event or "dataset" in event)


class GraphBuilder:
    """Folds events, one at a time (``add``), into final job views and dataset descriptions;
    ``graph()`` is the graph they describe so far."""

    def __init__(self) -> None:
        self.ended: dict[str, Mapping[str, Any]] = {}
        self.added: dict[str, Mapping[str, Any]] = {}
        self.dbt_jobs: set[str] = set()
        self.static_datasets: dict[str, Mapping[str, Any]] = {}

    def add(self, event: Mapping[str, Any]) -> None:
        if "dataset" in event and "job" not in event:
            self.static_datasets[event["dataset"]["name"]] = event["dataset"]
            return
        job = event["job"]["name"]
        if event["job"].get("facets", {}).get("jobType", {}).get("integration") == "DBT":
            self.dbt_jobs.add(job)
        kind = event.get("eventType")
        if is_static(event) or kind in TERMINAL or job not in self.ended:
            self.ended[job] = event
            self.added.pop(job, None)
        elif kind == "OTHER" and event["run"]["runId"] == self.ended[job]["run"]["runId"]:
            self.added[job] = event

    def graph(self) -> LineageGraph:
        graph = LineageGraph()
        read: dict[str, Mapping[str, Any]] = {}
        written: dict[str, Mapping[str, Any]] = {}
        for name, ended in self.ended.items():
            if name not in self.dbt_jobs:
                continue
            view = self.added.get(name, ended)
            inputs = view.get("inputs") or []
            outputs = view.get("outputs") or []
            graph.jobs[name] = Job(
                name,
                view["job"].get("namespace", ""),
                tuple(d["name"] for d in inputs),
                tuple(d["name"] for d in outputs),
                dict(view["job"].get("facets") or {}),
            )
            read.update((d["name"], d) for d in inputs)
            written.update((d["name"], d) for d in outputs)
        for name, described in (read | written | self.static_datasets).items():
            graph.datasets[name] = _dataset(described)
        return graph


def _dataset(described: Mapping[str, Any]) -> Dataset:
    facets = dict(described.get("facets") or {})
    name = described["name"]
    fields = (facets.get("schema") or {}).get("fields") or []
    dataset = Dataset(
        name,
        described.get("namespace", ""),
        {f["name"]: f.get("type") or "" for f in fields},
        {
            k: dict(v)
            for k, v in ((facets.get("columnClassification") or {}).get("fields") or {}).items()
        },
        facets=facets,
    )
    lineage = facets.get("columnLineage") or {}
    edges: set[Edge] = set()
    for column, spec in (lineage.get("fields") or {}).items():
        dataset.columns.setdefault(column, "")
        for source in spec.get("inputFields") or []:
            edges.update(_edges(source, Column(name, column)))
    for source in lineage.get("dataset") or []:
        edges.update(_edges(source, Column(name, ALL)))
    dataset.sources = sorted(edges)
    return dataset


def _edges(source: Mapping[str, Any], target: Column) -> Iterable[Edge]:
    origin = Column(source["name"], source["field"])
    for transformation in source.get("transformations") or [{"type": "DIRECT"}]:
        kind = transformation.get("type") or "DIRECT"
        yield Edge(origin, target, kind, transformation.get("subtype") or "")
