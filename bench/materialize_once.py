"""One measured run: materialize every dbt asset of a dbt project, in process, as a generated
floe project does (floe-lineage's ``DbtProjectWithLineage`` component).

    python bench/materialize_once.py [--prepare] [--profile OUT] [--record-events RAW.jsonl]

Run by ``run_bench.py`` in a fresh process per measurement, with ``DBT_PROJECT_DIR`` and
``DBT_PROFILES_DIR`` naming the dbt project and its profiles folder, and ``OPENLINEAGE_CONFIG``
(and ``OPENLINEAGE_DISABLED``) set, which the component reads as in a generated project. The
definitions are built before the timed part (``--prepare``: only that, which runs ``dbt parse``
when the project has no manifest yet). Prints one JSON line: the seconds ``dg.materialize``
took (imports and definitions excluded), the CPU seconds it used (this process, all threads,
plus its finished subprocesses: dbt), whether it succeeded, and the wall-clock seconds spent
inside the lineage of the dbt invocation (``InvocationLineage.start``/``observe``/``finish``,
``finish`` including the emitter's ``close``, which delivers what is left) and the process's
CPU seconds meanwhile (timed with ``perf_counter``/``process_time`` around each call; with
``--profile``, also profiled with cProfile, which slows them down). ``--record-events`` writes
the raw dbt events the lineage observes, one JSON line each as it comes (outside the timed
calls, and none kept in memory, which would slow the rest of the run down through the garbage
collector), for ``profile_replay.py``.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import json
import os
import resource
import time
from collections.abc import Callable
from typing import Any

NAMESPACE = "bench"
PRODUCER = "https://github.com/example/bench"
"""Lineage settings of the measured runs (also used by the replay and the micro-benchmarks)."""


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its finished, waited-for children
    (dbt, worker processes)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def instrument(
    cls: type,
    names: tuple[str, ...],
    profiler: cProfile.Profile | None,
    record: Callable[[Any], None] | None = None,
) -> dict:
    """Wrap methods of ``cls`` to add up their wall-clock and CPU time (``cpu_seconds``
    while they run) and profile them; the first positional argument of every
    ``observe`` call is passed to ``record``."""
    spent: dict[str, Any] = {name: 0.0 for name in names}
    spent |= {"cpu": dict.fromkeys(names, 0.0), "calls": dict.fromkeys(names, 0)}

    def wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if record is not None and name == "observe":
                record(args[1])
            if profiler is not None:
                profiler.enable()
            started, cpu_started = time.perf_counter(), cpu_seconds()
            try:
                return method(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - started
                spent["cpu"][name] += cpu_seconds() - cpu_started
                spent["calls"][name] += 1
                if profiler is not None:
                    profiler.disable()

        return timed

    for name in names:
        setattr(cls, name, wrap(name, getattr(cls, name)))
    return spent


def definitions() -> Any:
    """The definitions ``DbtProjectWithLineage`` builds for ``$DBT_PROJECT_DIR`` (its manifest
    prepared with ``dbt parse`` when missing), with lineage configured as in a generated
    project: ``openlineage.yml`` found through ``$OPENLINEAGE_CONFIG``, not strict."""
    import dagster as dg
    from dagster_dbt import DbtProject
    from floe_lineage.dagster import DbtProjectWithLineage, LineageSettings

    component = DbtProjectWithLineage(
        project=DbtProject(
            project_dir=os.environ["DBT_PROJECT_DIR"],
            profiles_dir=os.environ.get("DBT_PROFILES_DIR") or None,
        ),
        lineage=LineageSettings(namespace=NAMESPACE, producer=PRODUCER),
    )
    return dg.component_defs(component=component)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--prepare", action="store_true", help="only build the definitions (dbt parse), no run"
    )
    parser.add_argument(
        "--profile",
        help="write a cProfile of start()/observe() to OUT.observe.prof and of finish() and the"
        " emitter's close() to OUT.finish.prof",
    )
    parser.add_argument(
        "--record-events",
        help="after the run, write the raw dbt events observe() saw to this JSON-lines file",
    )
    args = parser.parse_args()

    import dagster as dg
    from floe_lineage.delivery.emitter import LineageEmitter
    from floe_lineage.invocation import InvocationLineage

    defs = definitions()
    if args.prepare:
        return
    observe_profiler = cProfile.Profile() if args.profile else None
    finish_profiler = cProfile.Profile() if args.profile else None
    recording = None
    if args.record_events:  # closed after the run
        recording = open(args.record_events, "w", encoding="utf-8")  # noqa: SIM115

    def record(raw: Any) -> None:
        recording.write(json.dumps(raw, default=str) + "\n")

    spent = instrument(
        InvocationLineage, ("start", "observe"), observe_profiler, record if recording else None
    )
    finished = instrument(InvocationLineage, ("finish",), finish_profiler)
    # the emitter is closed after finish() (by the component), which used to close it
    closed = instrument(LineageEmitter, ("close",), finish_profiler)

    self_started = time.process_time()
    cpu_started = cpu_seconds()
    started = time.perf_counter()
    result = dg.materialize(list(defs.assets), raise_on_error=False)
    seconds = time.perf_counter() - started
    cpu_total = cpu_seconds() - cpu_started
    cpu_self = time.process_time() - self_started
    if args.profile:
        observe_profiler.dump_stats(f"{args.profile}.observe.prof")
        finish_profiler.dump_stats(f"{args.profile}.finish.prof")
    if recording is not None:
        recording.close()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu_total,
                "cpu_seconds_self": cpu_self,
                "cpu_seconds_children": cpu_total - cpu_self,
                "success": result.success,
                "lineage_seconds": {
                    "start": spent["start"],
                    "observe": spent["observe"],
                    "finish": finished["finish"] + closed["close"],
                },
                "lineage_cpu_seconds": {
                    "start": spent["cpu"]["start"],
                    "observe": spent["cpu"]["observe"],
                    "finish": finished["cpu"]["finish"] + closed["cpu"]["close"],
                },
                "observe_calls": spent["calls"]["observe"],
            }
        )
    )


if __name__ == "__main__":
    main()
