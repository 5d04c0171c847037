"""A lineage graph as OpenLineage static lineage: a ``JobEvent`` per dbt job (its facets: type,
SQL, documentation, source code, ownership, tags; the datasets it reads and writes) and a
``DatasetEvent`` per dataset (its facets: schema, column lineage, classification, data source,
documentation, ...), so a backend shows the graph before (or without) a run.

Contract of ``static_events(graph, producer, at)``: plain dicts, strict-valid against the
OpenLineage 2-0-2 spec's ``DatasetEvent`` and ``JobEvent``, datasets first (sorted by name), then
jobs (sorted by name). Facets are the graph's as captured, so they are exactly as valid as the
captured events' own; a job's inputs and outputs carry only their namespace and name (their
DatasetEvents describe them).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from .model import LineageGraph

SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
DATASET_EVENT = f"{SPEC}#/$defs/DatasetEvent"
JOB_EVENT = f"{SPEC}#/$defs/JobEvent"


def static_events(graph: LineageGraph, producer: str, at: datetime) -> Iterator[dict[str, Any]]:
    """The graph's DatasetEvents, then its JobEvents (see the module's contract)."""
    when = at.isoformat()
    for name in sorted(graph.datasets):
        dataset = graph.datasets[name]
        described: dict[str, Any] = {"namespace": dataset.namespace, "name": name}
        if dataset.facets:
            described["facets"] = dataset.facets
        yield {
            "eventTime": when,
            "producer": producer,
            "schemaURL": DATASET_EVENT,
            "dataset": described,
        }
    for name in sorted(graph.jobs):
        job = graph.jobs[name]

        def named(names: tuple[str, ...]) -> list[Mapping[str, str]]:
            return [
                {"namespace": graph.datasets[d].namespace, "name": d}
                for d in names
                if d in graph.datasets
            ]

        yield {
            "eventTime": when,
            "producer": producer,
            "schemaURL": JOB_EVENT,
            "job": {"namespace": job.namespace, "name": name, "facets": job.facets},
            "inputs": named(job.inputs),
            "outputs": named(job.outputs),
        }
