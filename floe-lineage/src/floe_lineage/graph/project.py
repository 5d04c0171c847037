"""The lineage a dbt project would emit, from its compiled manifest: lineage before the first
run (no warehouse, no Dagster).

Contract of ``project_events(manifest, project_dir, producer)``: one COMPLETE run event per
runnable dbt node (seeds, models, snapshots, tests), built by the same pure core as a run's
(``openlineage.run_events.node_end``), in an order where every node comes after what it reads,
so ``LineageGraph.from_events`` reads them like a capture. What a run learns from the warehouse
is replaced by what the project says:

- columns: a seed's CSV header (``project_dir`` / its ``original_file_path``, else its
  ``root_path``), a node's or source's documented columns (with their ``data_type`` when given),
  a model's or snapshot's traced output columns;
- column lineage: traced (``openlineage.column_lineage.trace_models``, in parallel wave by
  wave) from each model's and snapshot's ``compiled_code``, the columns of what it reads as
  known by then; a node whose SQL cannot be traced gets none.

Types are those the YAML declares (else empty, and an empty type never counts as retyped).
A manifest with no compiled SQL (``dbt parse`` only) raises ``ValueError``: run ``dbt compile``.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from openlineage.client.event_v2 import RunState

from ..dbt.manifest import DbtGraph, DbtNode
from ..dbt.relation import Relation
from ..delivery.serialization import event_line
from ..openlineage.column_lineage import ColumnLineage, snapshot_columns, trace_models
from ..openlineage.observations import Columns, WarehouseFacts
from ..openlineage.run_events import EmissionContext, JobRun, NodeOutcome, RunFacts, node_end

TRACED = frozenset({"model", "snapshot"})
SNAPSHOT_COLUMNS = ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to")
"""The columns dbt adds to a snapshot (its default ``snapshot_meta_column_names``)."""


def project_events(
    manifest: Mapping[str, Any],
    project_dir: Path | None,
    producer: str,
    namespace: str = "floe",
) -> list[dict[str, Any]]:
    """The events of every runnable node (see the module's contract)."""
    graph = DbtGraph(manifest)
    order = _ordered(graph)
    compiled = {uid: _sql(graph.node(uid)) for uid in order}
    if not any(compiled.values()):
        raise ValueError("the manifest holds no compiled SQL: build it with `dbt compile`")
    columns = _declared_columns(graph, manifest, project_dir)
    dialect = graph.adapter_type
    traced: dict[str, ColumnLineage] = {}
    for level in _levels(graph, order, compiled):
        tasks = [
            (uid, sql, dialect, _input_columns(graph, uid, columns), ())
            for uid, sql in ((uid, compiled[uid] or "") for uid in level)
        ]
        for uid, found in trace_models(tasks):
            node = graph.node(uid)
            if isinstance(found, str) or node is None or node.relation is None:
                continue  # SQL that cannot be traced: no column lineage, as in a run
            declared = dict(columns.get(node.relation, []))
            output = [(c, declared.get(c, "")) for c in found.fields]
            parents = graph.inputs(uid)
            if node.resource_type == "snapshot" and len(parents) == 1 and parents[0].relation:
                config = node.properties.get("config", {})
                output += [
                    (c, declared.get(c, "")) for c in SNAPSHOT_COLUMNS if c not in found.fields
                ]
                added = snapshot_columns(config, parents[0].relation, output)
                found = replace(found, fields={**found.fields, **added})
            columns[node.relation] = output  # traced: every column, not only documented ones
            traced[uid] = found
    at = datetime.now(timezone.utc)
    dataset_namespace = f"{dialect}://{graph.metadata.get('project_name') or 'dbt'}"
    root = JobRun(namespace, "project", "00000000-0000-4000-8000-000000000000")
    ctx = EmissionContext(producer, namespace, dataset_namespace, root, ("DBT", "PROJECT"), root)
    facts = RunFacts(WarehouseFacts(columns=columns), traced)
    events = []
    for uid in order:
        node = graph.node(uid)
        if node is None:
            continue
        outcome = NodeOutcome(RunState.COMPLETE, at, compiled_code=compiled[uid])
        events.append(orjson.loads(event_line(node_end(ctx, graph, node, outcome, facts))))
    return events


def _levels(
    graph: DbtGraph, order: list[str], compiled: Mapping[str, str | None]
) -> list[list[str]]:
    """The models and snapshots to trace, in waves: each after every traced node it reads, so a
    wave's nodes are traced together (in parallel, ``trace_models``) once the columns of what
    they read are known."""
    level: dict[str, int] = {}
    for uid in order:
        node = graph.node(uid)
        if node is None or node.resource_type not in TRACED or not compiled[uid]:
            continue
        if node.relation is None:
            continue
        below = [level[p.unique_id] for p in graph.inputs(uid) if p.unique_id in level]
        level[uid] = 1 + max(below, default=-1)
    waves: list[list[str]] = [[] for _ in range(1 + max(level.values(), default=-1))]
    for uid, at in level.items():
        waves[at].append(uid)
    return waves


def _input_columns(graph: DbtGraph, uid: str, columns: Mapping[Relation, Columns]) -> dict:
    return {p.relation: columns.get(p.relation, []) for p in graph.inputs(uid) if p.relation}


def _sql(node: DbtNode | None) -> str | None:
    return (node.properties.get("compiled_code") or None) if node is not None else None


def _ordered(graph: DbtGraph) -> list[str]:
    """The runnable nodes, each after the runnable nodes it reads (through ephemeral ones)."""
    runnable = graph.runnable_ids()
    wanted = set(runnable)
    order: list[str] = []
    seen: set[str] = set()
    for start in sorted(runnable):
        stack = [(start, False)]
        while stack:
            uid, done = stack.pop()
            if done:
                if uid in wanted:
                    order.append(uid)
                continue
            if uid in seen:
                continue
            seen.add(uid)
            stack.append((uid, True))
            node = graph.node(uid)
            for parent in sorted(node.parents if node else (), reverse=True):
                if parent not in seen:  # ephemeral models too, to reach what they read
                    stack.append((parent, False))
    return order


def _declared_columns(
    graph: DbtGraph, manifest: Mapping[str, Any], project_dir: Path | None
) -> dict[Relation, Columns]:
    """Columns known without a warehouse: seeds' CSV headers, documented columns."""
    found: dict[Relation, Columns] = {}
    for part in ("sources", "nodes"):
        for uid in manifest.get(part, {}):
            node = graph.node(uid)
            if node is None or node.relation is None:
                continue
            declared = [(n, str(c.get("data_type") or "")) for n, c in node.columns.items()]
            if node.resource_type == "seed":
                header = _csv_header(node, project_dir)
                types = dict(declared)
                declared = [(n, types.get(n, "")) for n in header] or declared
            if declared:
                found[node.relation] = declared
    return found


def _csv_header(node: DbtNode, project_dir: Path | None) -> list[str]:
    relative = node.properties.get("original_file_path")
    for root in (project_dir, node.properties.get("root_path")):
        if root and relative and (Path(root) / relative).is_file():
            with (Path(root) / relative).open(newline="", encoding="utf-8") as rows:
                return next(csv.reader(rows), [])
    return []
