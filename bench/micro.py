"""Micro-benchmarks of the lineage core, in process and without dbt.

    python bench/micro.py --target TARGET_DIR --database DB --scratch DIR [--quick]

``TARGET_DIR`` is the dbt target folder of a finished ``dbt build`` (its ``manifest.json`` and
``run_results.json``, whose ``compiled_code`` feeds column lineage) and ``DB`` the DuckDB file
that build wrote (real column types and row counts). Measures floe-lineage, per node or per
event:

- building START and terminal events (``floe_lineage.openlineage.run_events.node_start``/
  ``node_end``) with the run's real facts (``RunFacts``: warehouse columns, row counts, column
  lineage);
- column lineage (``floe_lineage.openlineage.column_lineage.column_lineage``) per model;
- writing events through the OpenLineage file transport (``append: true``) and through
  floe-lineage's ``LineageEmitter``, against ``json.dumps`` + ``write`` of the same event dicts
  to an already-open file;
- memory while emitting many events (the file transport, floe-lineage's emitter): growth of
  the resident set and of its peak (Linux ``VmHWM``) after 1k and after 10k events.

Prints one JSON document.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench_settings import JOB, NAMESPACE, PRODUCER
from floe_lineage.dbt.manifest import RUNNABLE_TYPES, DbtGraph
from floe_lineage.dbt.run_results import read_run_results
from floe_lineage.delivery.emitter import LineageEmitter
from floe_lineage.openlineage.column_lineage import column_lineage
from floe_lineage.openlineage.run_events import (
    EmissionContext,
    JobRun,
    NodeOutcome,
    RunFacts,
    node_end,
    node_start,
)
from floe_lineage.warehouse import DuckDBWarehouse
from openlineage.client.event_v2 import RunState

ROOT_RUN_ID = "0f6a3a4e-5b1c-4c43-9d0e-7c2b9a1d2e01"
STEP_RUN_ID = "0f6a3a4e-5b1c-4c43-9d0e-7c2b9a1d2e02"


def per_item(run: Callable[[], int], repeats: int) -> dict[str, float]:
    """Median (and min) over ``repeats`` of the seconds per item of ``run()``, which returns
    how many items it processed."""
    samples = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        items = run()
        samples.append((time.perf_counter() - started) / max(items, 1))
    return {
        "median_us": statistics.median(samples) * 1e6,
        "min_us": min(samples) * 1e6,
        "items": items,
        "repeats": repeats,
    }


def interleaved(runs: dict[str, Any], repeats: int) -> dict[str, dict[str, float]]:
    """Like ``per_item`` for several variants, run in turn within every repeat (so a noisy
    neighbour slows all of them alike). A variant is ``run()`` or ``(setup, run)``: then
    ``run(setup())`` is timed, not ``setup()``."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    items = 0
    for _ in range(repeats):
        for name, variant in runs.items():
            setup, run = variant if isinstance(variant, tuple) else (None, variant)
            prepared = setup() if setup else None
            gc.collect()
            started = time.perf_counter()
            items = run(prepared) if setup else run()
            samples[name].append((time.perf_counter() - started) / max(items, 1))
    return {
        name: {
            "median_us": statistics.median(v) * 1e6,
            "min_us": min(v) * 1e6,
            "items": items,
            "repeats": repeats,
        }
        for name, v in samples.items()
    }


class Fixture:
    """A finished dbt run, reduced to what the event builders take."""

    def __init__(self, target: Path, database: Path) -> None:
        started = time.perf_counter()
        self.graph = DbtGraph.from_file(target / "manifest.json")
        self.load_manifest_s = time.perf_counter() - started
        started = time.perf_counter()
        self.results = read_run_results(target)
        self.load_run_results_s = time.perf_counter() - started
        self.ids = [uid for uid in self.results if self._runnable(uid)]
        database_reader = DuckDBWarehouse(str(database), database)
        step = self.graph.metadata["project_name"]  # the op is named after the dbt project
        self.context = EmissionContext(
            producer=PRODUCER,
            job_namespace=NAMESPACE,
            dataset_namespace=database_reader.namespace,
            parent=JobRun(NAMESPACE, f"{JOB}.{step}", STEP_RUN_ID),
            parent_type=("DAGSTER", "STEP"),
            root=JobRun(NAMESPACE, JOB, ROOT_RUN_ID),
        )
        self.at = datetime(2026, 1, 1, tzinfo=UTC)
        self.outcomes = {uid: self._outcome(uid, i) for i, uid in enumerate(self.ids)}
        written = [self.graph.output(uid) for uid in self.ids]
        written = [n.relation for n in written if n is not None and n.relation is not None]
        read = [n.relation for uid in self.ids for n in self.graph.inputs(uid)]
        counted = [
            n.relation
            for n in (self.graph.output(uid) for uid in self.ids)
            if n is not None and n.relation is not None and n.materialized != "view"
        ]
        started = time.perf_counter()
        self.warehouse = database_reader.inspect(describe=[*written, *read], count=counted)
        self.inspect_warehouse_s = time.perf_counter() - started
        self.models = [
            uid
            for uid in self.ids
            if uid.startswith("model.") and self.results[uid].get("compiled_code")
        ]
        self.lineage, self.lineage_seconds = {}, {}
        for uid in self.models:
            started = time.perf_counter()
            self.lineage[uid] = self.column_lineage(uid)
            self.lineage_seconds[uid] = time.perf_counter() - started
        self.column_lineage_s = sum(self.lineage_seconds.values())
        self.facts = RunFacts(self.warehouse, self.lineage)

    def _runnable(self, uid: str) -> bool:
        node = self.graph.node(uid)
        return node is not None and node.resource_type in RUNNABLE_TYPES

    def _outcome(self, uid: str, index: int) -> NodeOutcome:
        result = self.results[uid]
        return NodeOutcome(
            state=RunState.COMPLETE
            if result["status"] in ("success", "pass", "warn")
            else RunState.FAIL,
            finished_at=self.at + timedelta(milliseconds=index),
            dbt_status=result["status"],
            message=None,
            compiled_code=result.get("compiled_code"),
            failures=result.get("failures"),
        )

    def column_lineage(self, uid: str) -> Any:
        graph, columns = self.graph, self.warehouse.columns
        node = graph.node(uid)
        inputs = {n.relation: columns.get(n.relation, []) for n in graph.inputs(uid)}
        output = columns.get(node.relation, []) if node.relation else []
        return column_lineage(
            self.results[uid]["compiled_code"], graph.adapter_type, inputs, output
        )

    def start_event(self, uid: str) -> Any:
        return node_start(self.context, self.graph, self.graph.node(uid), self.at)

    def end_event(self, uid: str) -> Any:
        return node_end(
            self.context, self.graph, self.graph.node(uid), self.outcomes[uid], self.facts
        )


def profile_column_lineage(fx: Fixture, out: Path, sample: int) -> dict[str, Any]:
    """cProfile of ``column_lineage`` over ``sample`` models, in this process (a run may trace
    them in worker processes, which a profile of the run does not see into)."""
    import cProfile

    models = spread(fx.models, sample)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for uid in models:
        fx.column_lineage(uid)
    profiler.disable()
    profiler.dump_stats(str(out))
    return {"models": len(models), "seconds": time.perf_counter() - started, "profile": str(out)}


def sql_kind(sql: str) -> str:
    lowered = sql.lower()
    if " join " in lowered:
        return "join"
    if "group by" in lowered:
        return "aggregate"
    return "select_star_ctes"


def spread(items: list[str], count: int) -> list[str]:
    """``count`` items evenly spread over ``items`` (all of them if fewer)."""
    if len(items) <= count:
        return list(items)
    step = len(items) / count
    return [items[int(i * step)] for i in range(count)]


def bench_builders(fx: Fixture, repeats: int, sample: int) -> dict[str, Any]:
    def build(builder: Callable[[str], Any], ids: Iterable[str]) -> Callable[[], int]:
        ids = list(ids)

        def run() -> int:
            for uid in ids:
                builder(uid)
            return len(ids)

        return run

    ids = spread(fx.ids, sample)
    tests = [uid for uid in ids if uid.startswith("test.")]
    writers = [uid for uid in ids if not uid.startswith("test.")]
    return {
        "nodes": len(ids),
        "node_start_all": per_item(build(fx.start_event, ids), repeats),
        "node_end_all": per_item(build(fx.end_event, ids), repeats),
        "node_end_models_seeds": per_item(build(fx.end_event, writers), repeats),
        "node_end_tests": per_item(build(fx.end_event, tests), repeats),
    }


def bench_column_lineage(fx: Fixture) -> dict[str, Any]:
    """Seconds per model of column lineage, each model analysed once (in ``Fixture``)."""
    by_kind: dict[str, list[float]] = {}
    for uid, seconds in fx.lineage_seconds.items():
        by_kind.setdefault(sql_kind(fx.results[uid]["compiled_code"]), []).append(seconds)
    values = sorted(fx.lineage_seconds.values())
    slowest = max(fx.lineage_seconds, key=fx.lineage_seconds.__getitem__)
    return {
        "models": len(values),
        "median_ms": statistics.median(values) * 1e3,
        "mean_ms": statistics.fmean(values) * 1e3,
        "p95_ms": values[int(0.95 * (len(values) - 1))] * 1e3,
        "max_ms": values[-1] * 1e3,
        "slowest_model": slowest,
        "slowest_sql_chars": len(fx.results[slowest]["compiled_code"]),
        "total_s": sum(values),
        "by_kind_median_ms": {k: statistics.median(v) * 1e3 for k, v in sorted(by_kind.items())},
        "by_kind_count": {k: len(v) for k, v in sorted(by_kind.items())},
    }


def file_transport(path: Path) -> Any:
    from openlineage.client.transport.file import FileConfig, FileTransport

    return FileTransport(FileConfig(log_file_path=str(path), append=True))


def project_emitter(scratch: Path, path: Path) -> LineageEmitter:
    """floe-lineage's emitter writing to ``path`` (still ``project_emitter`` in the results,
    comparable with runs from when it was the generated project's own)."""
    config = scratch / "micro-openlineage.yml"
    config.write_text(
        f"transport:\n  type: file\n  log_file_path: {path}\n  append: true\n", encoding="utf-8"
    )
    emitter = LineageEmitter.configure(None, config_path=config, strict=True)
    if not emitter.enabled:
        raise RuntimeError("floe-lineage's emitter is disabled (OPENLINEAGE_DISABLED set?)")
    return emitter


def bench_writes(fx: Fixture, scratch: Path, repeats: int, sample: int) -> dict[str, Any]:
    from openlineage.client.serde import Serde

    events = [fx.end_event(uid) for uid in spread(fx.ids, sample)]
    dicts = [Serde.to_dict(e) for e in events]
    sizes = [len(json.dumps(d)) for d in dicts]
    out = scratch / "micro-events.jsonl"

    def fresh() -> None:
        out.unlink(missing_ok=True)

    def plain_json() -> int:
        fresh()
        with out.open("a", encoding="utf-8") as handle:
            for d in dicts:
                handle.write(json.dumps(d) + "\n")
        return len(dicts)

    def serde_plain() -> int:
        fresh()
        with out.open("a", encoding="utf-8") as handle:
            for e in events:
                handle.write(json.dumps(Serde.to_dict(e)) + "\n")
        return len(events)

    def serde_to_dict() -> int:
        for e in events:
            Serde.to_dict(e)
        return len(events)

    def serde_to_json() -> int:
        for e in events:
            Serde.to_json(e)
        return len(events)

    def open_write_close() -> int:
        fresh()
        lines = [json.dumps(d) for d in dicts]
        for line in lines:
            with out.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        return len(lines)

    def new_transport() -> Any:
        fresh()
        return file_transport(out)

    def transport(t: Any) -> int:
        for e in events:
            t.emit(e)
        return len(events)

    def new_emitter() -> Any:
        fresh()
        return project_emitter(scratch, out)

    def emitter(em: Any) -> int:
        """Until every event is written: ``close()`` waits for a queue to drain."""
        for e in events:
            em.emit(e)
        em.close()
        return len(events)

    found: dict[str, Any] = {
        "events": len(events),
        "event_bytes_median": statistics.median(sizes),
        "event_bytes_max": max(sizes),
    }
    found |= interleaved(
        {
            "plain_json_write": plain_json,
            "serde_to_dict_plus_plain_write": serde_plain,
            "serde_to_dict_only": serde_to_dict,
            "serde_to_json_only": serde_to_json,
            "open_append_close_per_line": open_write_close,
            "openlineage_file_transport": (new_transport, transport),
            "project_emitter": (new_emitter, emitter),
        },
        repeats,
    )
    written = sum(1 for line in out.read_text().splitlines() if line.strip())
    if written != len(events):
        raise RuntimeError(f"floe-lineage's emitter wrote {written} of {len(events)} events")
    fresh()
    base = found["plain_json_write"]["median_us"]
    found["ratio_vs_plain_json"] = {
        key: found[key]["median_us"] / base
        for key in (
            "openlineage_file_transport",
            "project_emitter",
            "serde_to_dict_plus_plain_write",
        )
    }
    return found


def memory_kib() -> dict[str, int]:
    """Resident set size now and its peak since the last ``reset_peak_rss`` (Linux)."""
    status = Path("/proc/self/status").read_text()
    return {
        key: int(re.search(rf"^{name}:\s+(\d+)", status, re.M).group(1))
        for key, name in (("rss_kib", "VmRSS"), ("peak_kib", "VmHWM"))
    }


def reset_peak_rss() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def memory_while_emitting(
    fx: Fixture, scratch: Path, sink: str, checkpoints: list[int]
) -> dict[str, Any]:
    """Resident memory while ``sink`` writes ``checkpoints[-1]`` terminal events, each built
    fresh as a run builds them: the peak since the sink started at each checkpoint and after
    closing. Flat memory: the same peak after 1k events as after 10k."""
    out = scratch / f"memory-{sink}.jsonl"
    out.unlink(missing_ok=True)
    target = project_emitter(scratch, out) if sink == "project_emitter" else None
    target = target or file_transport(out)
    ids = fx.ids
    for uid in ids[:20]:  # warm up: worker thread, imports, first file open
        target.emit(fx.end_event(uid))
    gc.collect()
    reset_peak_rss()
    base = memory_kib()["rss_kib"]
    rows, done = [], 20
    started = time.perf_counter()
    for checkpoint in checkpoints:
        for i in range(done, checkpoint):
            target.emit(fx.end_event(ids[i % len(ids)]))
        done = checkpoint
        now = memory_kib()
        queue = getattr(target, "_queue", None)
        rows.append(
            {
                "events": done,
                "rss_growth_kib": now["rss_kib"] - base,
                "peak_growth_kib": now["peak_kib"] - base,
                "queued": queue.qsize() if hasattr(queue, "qsize") else None,
            }
        )
    if hasattr(target, "close"):
        target.close()
    seconds = time.perf_counter() - started
    closed = memory_kib()
    written = sum(1 for line in out.open() if line.strip())
    out.unlink(missing_ok=True)
    if written != done:
        raise RuntimeError(f"{sink} wrote {written} of {done} events")
    return {
        "checkpoints": rows,
        "peak_growth_after_close_kib": closed["peak_kib"] - base,
        "baseline_rss_kib": base,
        "seconds": seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--target", type=Path, required=True)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--profile-column-lineage", type=Path, help="write a cProfile here")
    args = parser.parse_args()
    os.environ.pop("OPENLINEAGE_DISABLED", None)
    args.scratch.mkdir(parents=True, exist_ok=True)
    fx = Fixture(args.target, args.database)
    repeats = 2 if args.quick else 3
    found: dict[str, Any] = {
        "fixture": {
            "runnable_nodes": len(fx.ids),
            "models_with_sql": len(fx.models),
            "load_manifest_s": fx.load_manifest_s,
            "load_run_results_s": fx.load_run_results_s,
            "inspect_warehouse_s": fx.inspect_warehouse_s,
            "column_lineage_all_models_s": fx.column_lineage_s,
            "relations_with_columns": len(fx.warehouse.columns),
        }
    }
    found["builders"] = bench_builders(fx, repeats, sample=300 if args.quick else 800)
    found["column_lineage"] = bench_column_lineage(fx)
    if args.profile_column_lineage:
        found["column_lineage_profile"] = profile_column_lineage(
            fx, args.profile_column_lineage, sample=100 if args.quick else 300
        )
    found["writes"] = bench_writes(fx, args.scratch, repeats, sample=200 if args.quick else 500)
    checkpoints = [1000, 3000] if args.quick else [1000, 10000]
    found["memory"] = {
        sink: memory_while_emitting(fx, args.scratch, sink, checkpoints)
        for sink in ("file_transport", "project_emitter")
    }
    print(json.dumps(found))


if __name__ == "__main__":
    main()
