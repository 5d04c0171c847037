"""Profile the lineage of one recorded dbt invocation, replayed without dbt or Dagster.

    python bench/profile_replay.py PACKAGE --events RAW.jsonl --target TARGET_DIR \
        --database DB --scratch DIR --out PREFIX

``RAW.jsonl`` holds the raw dbt events a real run fed to ``DbtRunLineage.observe``
(``materialize_once.py --record-events``), ``TARGET_DIR`` that run's dbt target folder
(``manifest.json``, ``run_results.json``) and ``DB`` the DuckDB file it built. The replay drives
the project's own ``DbtRunLineage`` exactly as the Dagster bridge does (``start``, ``attach``,
``observe`` per event, ``finish``) with the file transport, twice: once timed only, once under
cProfile (``PREFIX.observe.prof``, ``PREFIX.finish.prof``, and ``PREFIX.threads.prof`` for
threads the code starts, such as an emitter's delivery worker). Prints one JSON line of
wall-clock seconds per phase.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import threading
import time
from pathlib import Path
from typing import Any

ROOT_RUN_ID = "0f6a3a4e-5b1c-4c43-9d0e-7c2b9a1d2e01"
POOL_MODULES = ("concurrent.futures", "multiprocessing")


def replay(
    package: str,
    raw_events: list[dict[str, Any]],
    target: Path,
    database: Path,
    scratch: Path,
    profilers: tuple[cProfile.Profile, cProfile.Profile] | None,
) -> dict[str, float]:
    def load(name: str) -> Any:
        return importlib.import_module(f"{package}.{name}")

    events, naming, dbt_run = (
        load("lineage.events"),
        load("lineage.naming"),
        load("lineage.dbt_run"),
    )
    emitter_module, settings = load("lineage.emitter"), load("settings")
    out = scratch / "replay-events.jsonl"
    out.unlink(missing_ok=True)
    config = scratch / "replay-openlineage.yml"
    config.write_text(
        f"transport:\n  type: file\n  log_file_path: {out}\n  append: true\n", encoding="utf-8"
    )
    emitter = emitter_module.LineageEmitter.configure(None, config_path=config, strict=True)
    job = "__ephemeral_asset_job__"
    context = events.EmissionContext(
        producer=settings.LINEAGE_PRODUCER,
        job_namespace="bench",
        dataset_namespace=naming.duckdb_namespace(str(database)),
        step=events.JobRun(
            "bench", f"{job}.dbt_models", naming.stable_run_id(ROOT_RUN_ID, "dbt_models")
        ),
        root=events.JobRun("bench", job, ROOT_RUN_ID),
        source_code=None,
    )
    manifest = json.loads((target / "manifest.json").read_bytes())
    observe_profiler, finish_profiler = profilers or (None, None)
    tracker = dbt_run.DbtRunLineage(emitter, context, database)
    spent = {}
    started = time.perf_counter()
    if observe_profiler:
        observe_profiler.enable()
    tracker.start()
    tracker.attach(target, manifest)
    for raw in raw_events:
        tracker.observe(raw)
    if observe_profiler:
        observe_profiler.disable()
    spent["start_and_observe"] = time.perf_counter() - started
    started = time.perf_counter()
    if finish_profiler:
        finish_profiler.enable()
    tracker.finish()
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
    parser.add_argument("package")
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--target", type=Path, required=True)
    parser.add_argument("--database", type=Path, required=True)
    parser.add_argument("--scratch", type=Path, required=True)
    parser.add_argument("--out", required=True, help="prefix of the .prof files")
    args = parser.parse_args()
    args.scratch.mkdir(parents=True, exist_ok=True)
    raw_events = [json.loads(line) for line in args.events.open() if line.strip()]
    common = (args.package, raw_events, args.target, args.database, args.scratch)
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
