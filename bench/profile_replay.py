"""Profile the lineage of one recorded dbt invocation, replayed without dbt or Dagster.

    python bench/profile_replay.py --events RAW.jsonl --target TARGET_DIR \
        --database DB --scratch DIR --out PREFIX

``RAW.jsonl`` holds the raw dbt events a real run fed to ``InvocationLineage.observe``
(recorded by ``probe/sitecustomize.py`` in a ``dg launch`` run), ``TARGET_DIR`` that run's dbt
target folder (``manifest.json``, ``run_results.json``) and ``DB`` the DuckDB file it built.
The replay drives
floe-lineage's ``InvocationLineage`` exactly as its Dagster component does (``start``,
``attach``, ``observe`` per event, ``finish``, then the emitter's ``close``) with the file
transport, twice: once timed only, once under cProfile (``PREFIX.observe.prof``,
``PREFIX.finish.prof``, and ``PREFIX.threads.prof`` for threads the code starts, such as an
emitter's delivery worker). Prints one JSON line of wall-clock seconds per phase.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import threading
import time
from pathlib import Path
from typing import Any

from bench_settings import JOB, NAMESPACE, PRODUCER
from floe_lineage.delivery.emitter import LineageEmitter
from floe_lineage.invocation import InvocationLineage
from floe_lineage.openlineage.naming import stable_run_id
from floe_lineage.openlineage.run_events import EmissionContext, JobRun
from floe_lineage.warehouse import DuckDBWarehouse

ROOT_RUN_ID = "0f6a3a4e-5b1c-4c43-9d0e-7c2b9a1d2e01"
POOL_MODULES = ("concurrent.futures", "multiprocessing")


def replay(
    raw_events: list[dict[str, Any]],
    target: Path,
    database: Path,
    scratch: Path,
    profilers: tuple[cProfile.Profile, cProfile.Profile] | None,
) -> dict[str, float]:
    out = scratch / "replay-events.jsonl"
    out.unlink(missing_ok=True)
    config = scratch / "replay-openlineage.yml"
    config.write_text(
        f"transport:\n  type: file\n  log_file_path: {out}\n  append: true\n", encoding="utf-8"
    )
    emitter = LineageEmitter.configure(None, config_path=config, strict=True)
    manifest = json.loads((target / "manifest.json").read_bytes())
    # the Dagster step, as the component names it: its op is named after the dbt project
    step = manifest["metadata"]["project_name"]
    warehouse = DuckDBWarehouse(str(database), database)
    context = EmissionContext(
        producer=PRODUCER,
        job_namespace=NAMESPACE,
        dataset_namespace=warehouse.namespace,
        parent=JobRun(NAMESPACE, f"{JOB}.{step}", stable_run_id(ROOT_RUN_ID, step)),
        parent_type=("DAGSTER", "STEP"),
        root=JobRun(NAMESPACE, JOB, ROOT_RUN_ID),
    )
    observe_profiler, finish_profiler = profilers or (None, None)
    lineage = InvocationLineage(emitter, context, warehouse)
    spent = {}
    started = time.perf_counter()
    if observe_profiler:
        observe_profiler.enable()
    lineage.start()
    lineage.attach(target, manifest)
    for raw in raw_events:
        lineage.observe(raw)
    if observe_profiler:
        observe_profiler.disable()
    spent["start_and_observe"] = time.perf_counter() - started
    started = time.perf_counter()
    if finish_profiler:
        finish_profiler.enable()
    lineage.finish()
    emitter.close()
    if finish_profiler:
        finish_profiler.disable()
    spent["finish"] = time.perf_counter() - started
    spent["events_written"] = sum(1 for line in out.open() if line.strip())
    out.unlink(missing_ok=True)
    return spent


def profile_threads(profiles: list[cProfile.Profile]) -> None:
    """Profile every thread started from now on (cProfile sees only the thread that enables
    it; an emitter may deliver events from a worker thread), except process-pool plumbing."""
    run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        if self.name == "QueueFeederThread" or type(self).__module__.startswith(POOL_MODULES):
            return run(self)  # a process pool's plumbing: it waits on pipes and locks
        profiler = cProfile.Profile()
        profiles.append(profiler)
        profiler.enable()
        try:
            run(self)
        finally:
            profiler.disable()

    threading.Thread.run = profiled_run  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--target", type=Path, required=True)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--out", required=True, help="prefix of the .prof files")
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    raw_events = [json.loads(line) for line in args.events.open() if line.strip()]
    common = (raw_events, args.target, args.database, args.scratch)
    timed = replay(*common, None)
    profilers = (cProfile.Profile(), cProfile.Profile())
    threads: list[cProfile.Profile] = []
    profile_threads(threads)
    profiled = replay(*common, profilers)
    profilers[0].dump_stats(f"{args.out}.observe.prof")
    profilers[1].dump_stats(f"{args.out}.finish.prof")
    if threads:
        import pstats

        stats = pstats.Stats(threads[0])
        for other in threads[1:]:
            stats.add(other)
        stats.dump_stats(f"{args.out}.threads.prof")
    print(json.dumps({"raw_events": len(raw_events), "timed": timed, "profiled": profiled}))


if __name__ == "__main__":
    main()
