"""The lineage of one run, as tests ask about it: assertions with readable failures, one-line
queries, and a normalized snapshot.

Names are forgiving: a dataset is its full name (``warehouse.main.orders``) or any dotted suffix
of it that is unique (``main.orders``, ``orders``); a job is its dbt unique id or the node's name;
a column is ``<dataset>.<column>``. Every failure says what is there instead.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..dbt.manifest import DbtGraph, run_manifest
from ..tools.check import check_run, runs_of
from ..tools.validation import event_problems
from ..tools.views import dbt_node_views
from .snapshot import normalized_view

MAX_LISTED = 25


class Lineage:
    """The events of one root run (e.g. a Dagster run) and the dbt manifest they came from."""

    def __init__(
        self,
        events: Sequence[Mapping[str, Any]],
        graph: DbtGraph,
        run_id: str,
        events_file: Path | None = None,
        renamed: Mapping[str, str] | None = None,
    ) -> None:
        self.events = list(events)
        self.graph = graph
        self.run_id = run_id
        self.events_file = events_file
        self.renamed = dict(renamed or {})
        """Databases the run wrote under another name (an isolated copy) -> the configured
        name: the snapshot and names given to queries use the configured one."""

    @classmethod
    def of_run(
        cls,
        events: Sequence[Mapping[str, Any]],
        run_id: str,
        project_dirs: Iterable[Path],
        events_file: Path | None = None,
        renamed: Mapping[str, str] | None = None,
    ) -> Lineage:
        """The events of root run ``run_id`` with the manifests dagster-dbt wrote for that run
        in the given dbt projects (merged: unique ids name their project)."""
        manifests = [json.loads(run_manifest(Path(d), run_id).read_bytes()) for d in project_dirs]
        merged: dict[str, Any] = {"metadata": manifests[0].get("metadata", {}) if manifests else {}}
        for part in ("nodes", "sources"):
            merged[part] = {k: v for m in manifests for k, v in m.get(part, {}).items()}
        return cls(runs_of(events).get(run_id, []), DbtGraph(merged), run_id, events_file, renamed)

    @property
    def dbt_projects(self) -> set[str]:
        """Names of the dbt projects whose nodes ran (their ``dbt_project.yml`` names)."""
        return {name.split(".")[1] for name in self._jobs if name.count(".") >= 2}

    # -- assertions ------------------------------------------------------------------------

    def assert_valid(self, extra_schemas: Iterable[Mapping[str, Any]] = ()) -> None:
        """Every event and facet valid against the official OpenLineage JSON Schemas shipped
        with floe-lineage (``uuid``, ``uri``, ``date-time`` formats enforced). ``extra_schemas``
        adds schema documents for facets of your own."""
        problems = event_problems(self.events, extra_schemas)
        if not self.events:
            problems = ["no events were captured"]
        _fail_if(problems, f"{len(problems)} OpenLineage schema violations")

    def assert_complete(self) -> None:
        """Every dbt node that ran has a START then exactly one terminal event, and reads and
        writes the datasets the manifest's DAG says (seeds, snapshots, ephemeral models looked
        through)."""
        report = check_run(self.events, self.graph, self.run_id)
        problems = report.problems or ([] if report.nodes else ["no dbt node ran"])
        _fail_if(problems, f"the lineage of run {self.run_id} is incomplete")

    # -- queries ---------------------------------------------------------------------------

    def edge(self, source: str, target: str) -> JobView:
        """Assert a job reads dataset ``source`` and writes dataset ``target``; returns it."""
        source_name, target_name = self._dataset_name(source), self._dataset_name(target)
        writers = [job for job in self._jobs.values() if target_name in job.outputs]
        for job in writers:
            if source_name in job.inputs:
                return job
        found = (
            "; ".join(
                f"{j.name} writes it reading {sorted(j.inputs) or 'nothing'}" for j in writers
            )
            or "no job writes it"
        )
        raise AssertionError(f"no lineage edge {source_name} -> {target_name}: {found}")

    def column(self, reference: str) -> ColumnView:
        """A column, as ``<dataset>.<column>`` (the dataset as ``dataset`` accepts it)."""
        dataset, _, column = reference.rpartition(".")
        if not dataset:
            raise AssertionError(f"{reference!r}: name a column as <dataset>.<column>")
        name = self._dataset_name(dataset)
        columns = self.dataset(name).columns
        spelled = {c.lower(): c for c in columns}.get(column.lower())
        if columns and spelled is None:
            raise AssertionError(f"{name} has no column {column!r}; it has {sorted(columns)}")
        return ColumnView(self, name, spelled or column)

    def dataset(self, name: str) -> DatasetView:
        """A dataset, with the facets of the last event that wrote it (else read it)."""
        full = self._dataset_name(name)
        return DatasetView(full, self._datasets[full])

    def job(self, name: str) -> JobView:
        """A dbt node's job, by unique id or node name, as its terminal event describes it."""
        if name in self._jobs:
            return self._jobs[name]
        matches = [job for uid, job in self._jobs.items() if uid.split(".")[-1] == name]
        matches = matches or [
            job for uid, job in self._jobs.items() if uid.split(".")[2:3] == [name]
        ]
        return _pick(name, matches, sorted(self._jobs), "job")

    def assertions(self, dataset: str) -> list[Mapping[str, Any]]:
        """The ``dataQualityAssertions`` of every dbt test on a dataset, by test name."""
        name = self._dataset_name(dataset)
        return [
            assertion
            for job in sorted(self._jobs.values(), key=lambda j: j.name)
            for read in job.event.get("inputs", [])
            if read["name"] == name
            for assertion in read.get("inputFacets", {})
            .get("dataQualityAssertions", {})
            .get("assertions", [])
        ]

    def failures(self) -> dict[str, str]:
        """Jobs that ended FAIL, with their error text."""
        return {
            name: job.error or "no error text"
            for name, job in self._jobs.items()
            if job.state == "FAIL"
        }

    def snapshot(self) -> str:
        """The run's lineage as deterministic plain text (jobs, edges, datasets with typed
        columns and column lineage, test assertions; no times, run ids or machine paths): the
        value a lineage snapshot compares."""
        return normalized_view(self.events, self.renamed)

    # -- indexes ---------------------------------------------------------------------------

    @cached_property
    def _jobs(self) -> dict[str, JobView]:
        """Every dbt node's job as its events describe it in the end."""
        return {name: JobView(name, view) for name, view in dbt_node_views(self.events).items()}

    @cached_property
    def _datasets(self) -> dict[str, Mapping[str, Any]]:
        """Each dataset's latest description: as written by a terminal event, else as read."""
        read: dict[str, Mapping[str, Any]] = {}
        written: dict[str, Mapping[str, Any]] = {}
        for job in self._jobs.values():
            for dataset in job.event.get("inputs", []):
                read[dataset["name"]] = dataset
            for dataset in job.event.get("outputs", []):
                written[dataset["name"]] = dataset
        return read | written

    def _dataset_name(self, name: str) -> str:
        for copy, configured in self.renamed.items():
            if name.startswith(f"{configured}."):
                name = copy + name[len(configured) :]
        if name in self._datasets:
            return name
        lowered = name.lower()
        matches = [d for d in self._datasets if f".{d.lower()}".endswith(f".{lowered}")]
        return _pick(name, matches, sorted(self._datasets), "dataset")


@dataclass(frozen=True)
class JobView:
    name: str
    event: Mapping[str, Any]

    @property
    def state(self) -> str:
        return str(self.event.get("eventType"))

    @property
    def inputs(self) -> set[str]:
        return {d["name"] for d in self.event.get("inputs", [])}

    @property
    def outputs(self) -> set[str]:
        return {d["name"] for d in self.event.get("outputs", [])}

    @property
    def error(self) -> str | None:
        return self.event.get("run", {}).get("facets", {}).get("errorMessage", {}).get("message")

    def facet(self, key: str) -> Mapping[str, Any]:
        """A job or run facet of the job's terminal event."""
        for place in (self.event.get("job", {}), self.event.get("run", {})):
            if key in place.get("facets", {}):
                return place["facets"][key]
        present = sorted({**self.event["job"].get("facets", {}), **self.event["run"]["facets"]})
        raise AssertionError(f"job {self.name} has no {key!r} facet; it has {present}")


@dataclass(frozen=True)
class DatasetView:
    name: str
    description: Mapping[str, Any]

    @property
    def columns(self) -> dict[str, str]:
        """Column name -> type, from the ``schema`` facet (real warehouse types)."""
        fields = self.description.get("facets", {}).get("schema", {}).get("fields", [])
        return {f["name"]: f.get("type", "") for f in fields}

    def facet(self, key: str) -> Mapping[str, Any]:
        """A dataset facet (or output/input facet) of the dataset."""
        for part in ("facets", "outputFacets", "inputFacets"):
            if key in self.description.get(part, {}):
                return self.description[part][key]
        present = sorted(
            {
                k
                for part in ("facets", "outputFacets", "inputFacets")
                for k in self.description.get(part, {})
            }
        )
        raise AssertionError(f"dataset {self.name} has no {key!r} facet; it has {present}")


@dataclass(frozen=True)
class ColumnView:
    lineage: Lineage
    dataset: str
    name: str

    @property
    def reference(self) -> str:
        return f"{self.dataset}.{self.name}"

    def sources(self, kind: str = "DIRECT") -> list[tuple[str, str, str]]:
        """The columns this one is computed from in one step: (dataset, column, subtype);
        ``kind="INDIRECT"``: those deciding it through a condition (CONDITIONAL)."""
        description = self.lineage.dataset(self.dataset).description
        fields = description.get("facets", {}).get("columnLineage", {}).get("fields", {})
        spec = {k.lower(): v for k, v in fields.items()}.get(self.name.lower(), {})
        found = []
        for source in spec.get("inputFields", []):
            transformation = (source.get("transformations") or [{}])[0]
            if transformation.get("type", "DIRECT") == kind:
                found.append((source["name"], source["field"], transformation.get("subtype", "")))
        return found

    def derives_from(self, reference: str) -> ColumnView:
        """Assert this column is computed from ``reference`` (``<dataset>.<column>``), directly
        or through any number of models; returns self for chaining."""
        upstream = self.lineage.column(reference)
        if _key(upstream) in self._ancestry():
            return self
        raise AssertionError(
            f"{self.reference} does not derive from {upstream.reference}. Its lineage:\n"
            + self.tree()
        )

    def derives_only_from(self, *references: str) -> ColumnView:
        """Assert the table columns at the top of this column's lineage are exactly these."""
        wanted = {_key(self.lineage.column(r)) for r in references}
        found = {k for k, parents in self._ancestry().items() if not parents}
        if found != wanted:
            raise AssertionError(
                f"{self.reference} derives from {sorted(map('.'.join, found))}, not"
                f" {sorted(map('.'.join, wanted))}. Its lineage:\n" + self.tree()
            )
        return self

    def tree(self) -> str:
        """This column's lineage, one upstream column a line, indented by depth."""
        lines: list[str] = []

        def walk(column: ColumnView, depth: int, seen: frozenset[tuple[str, str]]) -> None:
            for dataset, field, subtype in column.sources():
                lines.append(f"{'  ' * depth}<- {dataset}.{field} ({subtype})")
                key = (dataset, field)
                if key not in seen:
                    walk(ColumnView(self.lineage, dataset, field), depth + 1, seen | {key})

        lines.append(self.reference)
        walk(self, 1, frozenset({_key(self)}))
        if len(lines) == 1:
            lines.append("  (no column lineage)")
        return "\n".join(lines)

    def _ancestry(self) -> dict[tuple[str, str], list[tuple[str, str]]]:
        """Every upstream column (lower-cased key) and its own direct sources."""
        found: dict[tuple[str, str], list[tuple[str, str]]] = {}
        queue = deque([self])
        while queue:
            column = queue.popleft()
            for dataset, field, _ in column.sources():
                key = (dataset, field.lower())
                if key in found:
                    continue
                upstream = ColumnView(self.lineage, dataset, field)
                found[key] = [(d, f.lower()) for d, f, _ in upstream.sources()]
                queue.append(upstream)
        return found


def _key(column: ColumnView) -> tuple[str, str]:
    return (column.dataset, column.name.lower())


def _pick(asked: str, matches: list[Any], present: list[str], kind: str) -> Any:
    """The one match, else an AssertionError saying what there is."""
    if len(matches) == 1:
        return matches[0]
    if matches:
        names = [getattr(m, "name", m) for m in matches]
        raise AssertionError(f"{kind} {asked!r} is ambiguous: {names}; name it fully")
    listed = ", ".join(present[:MAX_LISTED])
    more = f" (and {len(present) - MAX_LISTED} more)" if len(present) > MAX_LISTED else ""
    raise AssertionError(f"no {kind} {asked!r} in this run; there are: {listed}{more}")


def _fail_if(problems: Sequence[str], headline: str) -> None:
    if problems:
        shown = "\n".join(f"  - {p}" for p in problems[:MAX_LISTED])
        more = (
            f"\n  ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        )
        raise AssertionError(f"{headline}:\n{shown}{more}")
