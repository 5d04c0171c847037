"""Speed of a generated floe project as users feel it, measured on this machine.

    python bench/run_bench.py --project DST [--out .bench] [--quick]

``DST`` is a project rendered from this template whose dependencies, floe-lineage and
``dagster-dg-cli`` included, are installed in the running interpreter (``nox -s bench`` does
both). Every measurement is what a user runs, in a fresh process, wall clock and CPU seconds
(the process and everything it started):

- ``dg launch --assets '*'`` in ``DST`` (the project's own ``definitions.py``, ``defs.yaml`` and
  ``openlineage.yml`` lookup; ``DAGSTER_HOME`` unset, so ``dg`` uses the project's own instance
  in ``.dagster/``, emptied before each run: every run starts from the same state, as a new
  user's first, not from an instance grown by every earlier run's events), in three arms:
  lineage on (file transport, the project as generated), ``OPENLINEAGE_DISABLED=true``, and
  lineage on in a copy of the project whose ``defs.yaml`` sets ``lineage.asset_metadata:
  true`` (the opt-in that holds DuckDB's materializations until dbt exits); the order
  alternates per round (on, off, on with ``asset_metadata: true``; then the reverse);
- plain ``dbt build`` of the same dbt project, once per round, for the Dagster-vs-dbt ratio;

on the template's sample dbt project and on synthetic dbt projects of 200 and 2,000 models
(``make_dbt_project.py``, pointed at through ``DBT_PROJECT_DIR``/``DBT_PROFILES_DIR`` as a
generated project allows). The projects take turns, so load on the machine spreads over all.
Between runs the DuckDB file and the run's target folder go; the column lineage floe-lineage
keeps (``floe-column-lineage.json``) stays, as it does for a user: a project's first lineage-on
run traces every model, later ones only what changed (nothing). Which pairs traced every model,
and ``finish`` with and without the kept lineage, are reported.

Inside the ``dg launch`` runs, ``probe/sitecustomize.py`` adds up the seconds spent in
floe-lineage's ``InvocationLineage.start/observe/finish`` and the emitter's ``close`` ("in
process"): the lineage work itself, far less noisy than the difference of two end-to-end
times; it also records the CPU seconds of each process of the run (the ``dg`` process and dbt,
apart), and each pair's on - off difference per process is printed. The last lineage-on run
of each project is checked as ``floe-lineage check`` does (every node a START and one terminal
event, edges as in the DAG, strict OpenLineage schemas, no run left open) and must carry column
lineage, typed schemas and row counts.

Then, on the largest project: a profile of the lineage work (``profile_replay.py`` replays the
recorded dbt events of its last lineage-on run) and the micro-benchmarks (``micro.py``).
``--py-spy`` also samples one lineage-off and one lineage-on ``dg launch`` per project with
py-spy (every process: ``dg``, the step process, dbt) and writes where the time went
(``spy_summary.py``). Writes ``OUT/results.json``, ``OUT/scaling.png``, ``OUT/profile.*`` and
prints a table with the targets.
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from floe_lineage.column_lineage_cache import FILE_NAME as COLUMN_LINEAGE_CACHE

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TARGETS = {
    "lineage_overhead_pct": 2.0,
    "dagster_vs_dbt_sample": 3.0,
    "dagster_vs_dbt": 1.5,
    "per_event_vs_plain_json": 2.0,
    "linear_exponent_max": 1.15,
    "memory_growth_kib_max": 4096,
}
LINEAGE_TARGET_MODELS = 2000
"""The lineage overhead target is judged at this size (with at least MIN_PAIRS pairs)."""
RATIO_TARGET_MODELS = (200, 2000)
MIN_PAIRS = 3
ARMS = {
    "on": "lineage on",
    "off": "lineage off",
    "on_asset_metadata_true": "lineage on, asset_metadata: true",
}
"""The ``dg launch`` arms of a round; the last one runs in ASSET_METADATA_TRUE_PROJECT."""
ASSET_METADATA_TRUE_PROJECT = "project-asset-metadata-true"
INSTANCE_FOLDER = ".dagster"
"""The project's own Dagster instance (its ``dagster.yaml``), used while DAGSTER_HOME is unset."""
PRESETS = {
    # name: (synthetic sizes, pairs for sample + each size). One plain dbt build per round.
    # A 2,000-model `dg launch` takes many minutes on 2 cores: the full run takes hours.
    "full": ((200, 2000), {"sample": 3, 200: 3, 2000: 3}),
    "quick": ((100,), {"sample": 2, 100: 1}),
}
SCRUBBED_ENV = (
    "OPENLINEAGE_",
    "DBT_",
    "FLOE_",
    "BENCH_",
    "DAGSTER_HOME",
    "DAGSTER_IS_DEV_CLI",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPATH",
)
OWN_CODE = "/floe_lineage/"
"""In a profiled file's path: floe-lineage's code (editable or installed)."""


@dataclass
class Project:
    name: str
    dbt_dir: Path
    duckdb_var: str
    duckdb_file: Path
    pairs: int
    models: int = 0
    runnable: int = 0
    keep: bool = False
    """Keep the target folder, DuckDB file and raw dbt events of the last lineage-on run."""
    baseline: set[str] = field(default_factory=set)
    runs: list[dict[str, Any]] = field(default_factory=list)
    dbt_runs: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The full check of the last run of each lineage-on arm."""


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def child_env(
    project: Project, dst: Path, ol_config: Path, lineage: bool, probe: Path | None = None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV)}
    env |= {
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROJECT_DIR": str(project.dbt_dir),
        "DBT_PROFILES_DIR": str(project.dbt_dir),
        "OPENLINEAGE_CONFIG": str(ol_config),
        project.duckdb_var: str(project.duckdb_file),
        # the project's package, as an editable install would put it on the path; the probe
        "PYTHONPATH": os.pathsep.join([str(dst / "src"), str(HERE / "probe")]),
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
    }
    if probe is not None:
        env["BENCH_PROBE_DIR"] = str(probe)
    if not lineage:
        env["OPENLINEAGE_DISABLED"] = "true"
    return env


def compile_bytecode() -> float:
    """Compile the environment's modules once, as an installer does (pip; ``uv pip install
    --compile-bytecode``): without ``.pyc`` files every process of every run would compile
    dagster, dbt and their dependencies from source again, seconds each."""
    started = time.perf_counter()
    roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    for root in sorted(roots):
        compileall.compile_dir(root, quiet=1, workers=0)
    try:  # an editable floe-lineage lives outside site-packages
        import floe_lineage

        compileall.compile_dir(Path(floe_lineage.__file__).parent, quiet=1, workers=0)
    except ImportError:
        pass
    return time.perf_counter() - started


PREPARE = """
import sys
from dagster_dbt import DbtProject
from floe_lineage.dagster.preparation import prepare
prepare(DbtProject(project_dir=sys.argv[1], profiles_dir=sys.argv[1]))
"""


def prepare(project: Project, dst: Path, ol_config: Path) -> None:
    """Prepare the dbt project once (``dbt parse``) as floe-lineage's component does when
    ``dg`` loads it, so no measured run parses it again: the project does not change between
    runs."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", PREPARE, str(project.dbt_dir)],
        env=child_env(project, dst, ol_config, lineage=False),
        cwd=project.dbt_dir,
        check=True,
        capture_output=True,
    )
    manifest = json.loads((project.dbt_dir / "target" / "manifest.json").read_bytes())
    types = [n["resource_type"] for n in manifest["nodes"].values()]
    project.models = types.count("model")
    project.runnable = sum(t in ("model", "seed", "snapshot", "test") for t in types)
    (project.dbt_dir / "target" / COLUMN_LINEAGE_CACHE).unlink(missing_ok=True)
    project.baseline = {p.name for p in (project.dbt_dir / "target").iterdir()}
    log(
        f"{project.name}: {project.models} models, {project.runnable} runnable nodes,"
        f" parsed in {time.perf_counter() - started:.0f}s"
    )


def count_events(path: Path) -> dict[str, int]:
    counts = {"events": 0, "START": 0, "terminal": 0}
    if not path.exists():
        return counts
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            kind = json.loads(line).get("eventType")
            counts["events"] += 1
            if kind == "START":
                counts["START"] += 1
            elif kind in ("COMPLETE", "FAIL", "ABORT"):
                counts["terminal"] += 1
    return counts


def clean_run_files(project: Project, events_file: Path) -> None:
    for path in (project.duckdb_file, Path(f"{project.duckdb_file}.wal"), events_file):
        path.unlink(missing_ok=True)


def empty_instance(dst: Path) -> None:
    """Empty the project's own Dagster instance (``dagster.yaml``: ``.dagster/``): it keeps every
    run's events (its SQLite index 383 MB after 42 runs of 2,000 models), which each later run
    writes to and reads from, so the arms would not start from the same state."""
    shutil.rmtree(dst / INSTANCE_FOLDER, ignore_errors=True)


def timed_run(command: list[str], env: dict[str, str], cwd: Path, log_file: Path) -> dict:
    """Run ``command`` to its end: wall-clock seconds, CPU seconds of it and everything it
    started and waited for, exit code. Its output goes to ``log_file``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    with log_file.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, timeout=6 * 3600
        )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": seconds, "cpu_seconds": cpu, "returncode": done.returncode}


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def new_outputs(project: Project) -> list[Path]:
    """What runs added to the target folder, but the column lineage lineage keeps across runs
    (as it does for a user: only a project's first lineage-on run traces every model)."""
    return [
        p
        for p in (project.dbt_dir / "target").iterdir()
        if p.name not in project.baseline and p.name != COLUMN_LINEAGE_CACHE
    ]


def remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def read_probe(probe: Path) -> dict[str, Any]:
    """The lineage seconds the probe wrote (one file per process that ran a dbt step)."""
    phases = ("start", "observe", "finish")
    found = {"lineage_seconds": dict.fromkeys(phases, 0.0)}
    found["lineage_cpu_seconds"] = dict.fromkeys(phases, 0.0)
    found["observe_calls"] = 0
    found["probed_processes"] = 0
    found["cpu_seconds_by_process"] = cpu_by_process(probe)
    for path in sorted(probe.glob("probe-*.json")):
        spent = json.loads(path.read_text(encoding="utf-8"))
        found["probed_processes"] += 1
        found["observe_calls"] += spent["calls"]["observe"]
        for key, source in (("lineage_seconds", "seconds"), ("lineage_cpu_seconds", "cpu_seconds")):
            for phase in ("start", "observe"):
                found[key][phase] += spent[source][phase]
            # the warehouse's facts once dbt exited (add_facts) and delivering what is left
            # when the emitter is closed after finish() are part of the end-of-run work
            found[key]["finish"] += sum(
                spent[source].get(phase, 0.0) for phase in ("add_facts", "finish", "close")
            )
    return found


PROCESS_KINDS = {"dg": "dg", "dbt": "dbt", "floe-lineage-dbt": "dbt"}
"""The probe's command names, by the process they are: ``dg`` (Dagster, running the step in
process), and dbt (plain, or as ``floe-lineage-dbt``, which reads the facts inside it)."""


def cpu_by_process(probe: Path) -> dict[str, float]:
    """CPU seconds of the run's ``dg`` and dbt processes (``cpu-<pid>.json``, written by the
    probe at each Python process's exit); any other Python process under ``other``."""
    found = {"dg": 0.0, "dbt": 0.0, "other": 0.0}
    for path in probe.glob("cpu-*.json"):
        used = json.loads(path.read_text(encoding="utf-8"))
        kind = PROCESS_KINDS.get(used["command"], "other")
        found[kind] += used["user"] + used["system"]
    return found


def with_asset_metadata_true(dst: Path, work: Path) -> Path:
    """A copy of the rendered project ``dst`` whose ``defs.yaml`` sets
    ``lineage.asset_metadata: true``."""
    copy = work / ASSET_METADATA_TRUE_PROJECT
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(dst, copy, ignore=shutil.ignore_patterns(".lineage", "__pycache__", "*.duckdb"))
    (defs,) = copy.glob("src/*/defs/transform/defs.yaml")
    text = defs.read_text(encoding="utf-8")
    if "\n  lineage:\n" not in text:
        raise RuntimeError(f"{defs}: no `lineage:` attributes to add asset_metadata to")
    defs.write_text(
        text.replace("\n  lineage:\n", "\n  lineage:\n    asset_metadata: true\n", 1),
        encoding="utf-8",
    )
    return copy


def launch(
    project: Project,
    dst: Path,
    ol_config: Path,
    work: Path,
    arm: str,
    spy: Path | None = None,
) -> dict[str, Any]:
    """One ``dg launch --assets '*'`` of the project's assets in one of the ARMS."""
    lineage = arm != "off"
    if arm == "on_asset_metadata_true":
        dst = work / ASSET_METADATA_TRUE_PROJECT
    events_file = work / "events.jsonl"
    raw_file = work / "raw-dbt-events.jsonl"
    probe = work / "probe"
    clean_run_files(project, events_file)
    empty_instance(dst)
    raw_file.unlink(missing_ok=True)
    shutil.rmtree(probe, ignore_errors=True)
    probe.mkdir()
    env = child_env(project, dst, ol_config, lineage, probe)
    keep = project.keep and arm == "on" and spy is None
    if keep:
        env["BENCH_RECORD_EVENTS"] = str(raw_file)
    command = [str(BIN / "dg"), "launch", "--assets", "*"]
    if spy is not None:
        # every process of the run, idle time included (wall clock), 20 samples a second
        command = [
            *("py-spy", "record", "--subprocesses", "--idle", "--threads", "--rate", "20"),
            *("--format", "raw", "--output", str(spy), "--"),
            *command,
        ]
    log_file = work / "launch.log"
    kept_lineage = (project.dbt_dir / "target" / COLUMN_LINEAGE_CACHE).exists()
    result = timed_run(command, env, dst, log_file)
    if result["returncode"] != 0:
        raise RuntimeError(f"{project.name}: dg launch failed:\n{tail(log_file)}")
    result |= {"arm": arm, "lineage": lineage, "profiled": spy is not None}
    # whether column lineage traced by an earlier run was there to reuse
    result["column_lineage_kept"] = kept_lineage if lineage else None
    result |= count_events(events_file)
    result |= read_probe(probe)
    result["success"] = "RUN_SUCCESS" in tail(log_file, 5)
    if lineage:
        result["events_ok"] = result["events"] > 0 and result["START"] == result["terminal"]
    else:
        result["events_ok"] = result["events"] == 0
    created = new_outputs(project)
    run_targets = [p for p in created if p.is_dir()]
    if lineage and spy is None:  # the last run of each lineage-on arm is checked in full
        checked = work / "checked" / project.name / arm
        shutil.rmtree(checked, ignore_errors=True)
        checked.mkdir(parents=True)
        shutil.copy(events_file, checked / "events.jsonl")
        if len(run_targets) == 1 and (run_targets[0] / "manifest.json").exists():
            shutil.copy(run_targets[0] / "manifest.json", checked / "manifest.json")
    if keep:
        kept = work / "keep" / project.name
        shutil.rmtree(kept, ignore_errors=True)
        kept.mkdir(parents=True)
        if len(run_targets) == 1:
            shutil.move(run_targets[0], kept / "target")
        shutil.move(project.duckdb_file, kept / project.duckdb_file.name)
        if raw_file.exists():
            shutil.move(raw_file, kept / raw_file.name)
    remove(new_outputs(project))
    clean_run_files(project, events_file)
    return result


def dbt_build(project: Project, dst: Path, ol_config: Path, work: Path) -> dict[str, Any]:
    """Plain ``dbt build`` of the project, as a user runs it in the dbt project's folder."""
    clean_run_files(project, work / "events.jsonl")
    log_file = work / "dbt-build.log"
    env = child_env(project, dst, ol_config, lineage=False)
    # dbt build rewrites target/manifest.json: put the prepared one back afterwards (same
    # bytes and times), or the next dg launch would see a changed project and parse it again
    manifest, saved = project.dbt_dir / "target" / "manifest.json", work / "manifest.saved"
    shutil.copy2(manifest, saved)
    result = timed_run([str(BIN / "dbt"), "build"], env, project.dbt_dir, log_file)
    shutil.copy2(saved, manifest)
    if result["returncode"] != 0:
        raise RuntimeError(f"{project.name}: dbt build failed:\n{tail(log_file)}")
    remove(new_outputs(project))
    clean_run_files(project, work / "events.jsonl")
    return result


def check_lineage(checked: Path) -> dict[str, Any]:
    """``floe-lineage check`` of the kept run (complete, as the DAG, strict schemas, nothing
    left open) and whether its events still carry column lineage, typed schemas and row
    counts."""
    from floe_lineage.dbt.manifest import DbtGraph
    from floe_lineage.tools.check import check_run, open_runs, runs_of
    from floe_lineage.tools.events_file import read_events
    from floe_lineage.tools.validation import event_problems

    events_file, manifest = checked / "events.jsonl", checked / "manifest.json"
    if not events_file.exists() or not manifest.exists():
        return {"ok": False, "problems": ["no events or manifest kept"]}
    started = time.perf_counter()
    events = list(read_events(events_file))
    run_id, run_events = list(runs_of(events).items())[-1]
    report = check_run(run_events, DbtGraph.from_file(manifest), run_id)
    invalid = event_problems(run_events)
    left_open = open_runs(events)
    facets = {"column_lineage": 0, "typed_schema": 0, "row_count": 0}
    for event in run_events:
        for output in event.get("outputs") or []:
            found = output.get("facets") or {}
            facets["column_lineage"] += bool(found.get("columnLineage"))
            fields = (found.get("schema") or {}).get("fields") or []
            facets["typed_schema"] += bool(fields) and all(f.get("type") for f in fields)
            statistics_ = (output.get("outputFacets") or {}).get("outputStatistics") or {}
            facets["row_count"] += "rowCount" in statistics_
    problems = report.problems[:20] + invalid[:20] + [f"left open: {r}" for r in left_open[:20]]
    missing = [name for name, n in facets.items() if n == 0]
    return {
        "ok": report.ok and not invalid and not left_open and not missing,
        "events": len(run_events),
        "nodes": report.nodes,
        "states": report.states,
        "schema_violations": len(invalid),
        "left_open": len(left_open),
        "outputs_with": facets,
        "missing_facets": missing,
        "problems": problems,
        "seconds": time.perf_counter() - started,
    }


def load_average() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summarize(project: Project) -> dict[str, Any]:
    measured = [r for r in project.runs if not r["profiled"]]
    on = [r for r in measured if r["arm"] == "on"]
    off = [r for r in measured if r["arm"] == "off"]
    on_held = [r for r in measured if r["arm"] == "on_asset_metadata_true"]
    on_s, off_s = [r["seconds"] for r in on], [r["seconds"] for r in off]
    pairs = [r["seconds"] / o["seconds"] for r, o in zip(on, off, strict=False)]
    cpu_pairs = [r["cpu_seconds"] / o["cpu_seconds"] for r, o in zip(on, off, strict=False)]
    held_pairs = [r["seconds"] / o["seconds"] for r, o in zip(on_held, off, strict=False)]
    lineage = {
        phase: statistics.median(r["lineage_seconds"][phase] for r in on)
        for phase in ("start", "observe", "finish")
    }
    lineage["total"] = sum(lineage.values())
    lineage_cpu = statistics.median(sum(r["lineage_cpu_seconds"].values()) for r in on)
    median_on, median_off = statistics.median(on_s), statistics.median(off_s)
    dbt_s = [r["seconds"] for r in project.dbt_runs]
    median_dbt = median_or_none(dbt_s)
    return {
        "models": project.models,
        "runnable_nodes": project.runnable,
        "pairs": len(pairs),
        "on_s": on_s,
        "off_s": off_s,
        "dbt_s": dbt_s,
        "median_on_s": median_on,
        "median_off_s": median_off,
        "median_dbt_s": median_dbt,
        "dagster_vs_dbt": median_off / median_dbt if median_dbt else None,
        "dagster_vs_dbt_cpu": (
            statistics.median(r["cpu_seconds"] for r in off)
            / statistics.median(r["cpu_seconds"] for r in project.dbt_runs)
            if project.dbt_runs
            else None
        ),
        "overhead_pct_of_medians": (median_on / median_off - 1) * 100,
        "on_asset_metadata_true_s": [r["seconds"] for r in on_held],
        "median_on_asset_metadata_true_s": median_or_none([r["seconds"] for r in on_held]),
        "held_overhead_pct_paired": (
            (statistics.median(held_pairs) - 1) * 100 if held_pairs else None
        ),
        "held_pair_overheads_pct": [(p - 1) * 100 for p in held_pairs],
        "overhead_pct_paired": (statistics.median(pairs) - 1) * 100,
        "pair_overheads_pct": [(p - 1) * 100 for p in pairs],
        "pair_column_lineage_kept": [r["column_lineage_kept"] for r in on[: len(pairs)]],
        "finish_first_run_s": [
            r["lineage_seconds"]["finish"] for r in on if not r["column_lineage_kept"]
        ],
        "median_finish_kept_s": median_or_none(
            [r["lineage_seconds"]["finish"] for r in on if r["column_lineage_kept"]]
        ),
        "cpu_on_s": [r["cpu_seconds"] for r in on],
        "cpu_off_s": [r["cpu_seconds"] for r in off],
        "cpu_dbt_s": [r["cpu_seconds"] for r in project.dbt_runs],
        "median_cpu_on_s": statistics.median(r["cpu_seconds"] for r in on),
        "median_cpu_off_s": statistics.median(r["cpu_seconds"] for r in off),
        "cpu_overhead_pct_paired": (statistics.median(cpu_pairs) - 1) * 100,
        "cpu_by_process_pair_differences_s": {
            kind: [
                r["cpu_seconds_by_process"][kind] - o["cpu_seconds_by_process"][kind]
                for r, o in zip(on, off, strict=False)
            ]
            for kind in ("dg", "dbt")
        },
        "cpu_pair_overheads_pct": [(p - 1) * 100 for p in cpu_pairs],
        "lineage_in_process_s": lineage,
        "lineage_in_process_pct_of_off": lineage["total"] / median_off * 100,
        "lineage_cpu_s": lineage_cpu,
        "lineage_cpu_pct_of_off_cpu": lineage_cpu
        / statistics.median(r["cpu_seconds"] for r in off)
        * 100,
        "events_per_run": statistics.median(r["events"] for r in on),
        "all_succeeded": all(r["success"] for r in project.runs),
        "events_ok": all(r["events_ok"] for r in project.runs),
        "lineage_check": project.checks.get("on", {}),
        "lineage_check_asset_metadata_true": project.checks.get("on_asset_metadata_true", {}),
    }


def exponent(small: dict[str, Any], large: dict[str, Any], key: Any) -> float:
    """b in cost ~ models^b between two sizes."""
    return math.log(key(large) / key(small)) / math.log(large["models"] / small["models"])


PROFILE_PHASES = ("observe", "finish", "threads", "column_lineage")
"""Profiles: the replayed run's observe() and finish(), threads they start, and (from
micro.py) column lineage in one process."""
IDLE = "<method 'get' of '_queue.SimpleQueue' objects>"
IDLE_IN_THREADS = (IDLE, "<method 'acquire' of '_thread.lock' objects>")


def profile_top(
    prof: Path, limit: int = 15, idle_names: tuple[str, ...] = (IDLE,)
) -> dict[str, Any]:
    """The costliest functions of a cProfile dump: floe-lineage's (by cumulative time) and
    any (by own time), with their share of the profiled time (less the time spent in
    ``idle_names``: a worker thread waiting for work)."""
    import pstats

    stats = pstats.Stats(str(prof))
    # a worker thread blocked on its queue is idle, not busy: shares are of the busy time
    entries = stats.stats  # type: ignore[attr-defined]
    waits = [k for k in entries if k[2] in idle_names]
    idle = sum(entries[k][2] for k in waits)
    total = max(stats.total_tt - idle, 1e-9)  # type: ignore[attr-defined]
    waiting_in: dict[Any, float] = {}  # callers (transitively) of the wait: less that time
    for wait in waits:
        seen, todo = set(), list(entries[wait][4])
        while todo:
            caller = todo.pop()
            if caller in seen or caller not in entries:
                continue
            seen.add(caller)
            waiting_in[caller] = waiting_in.get(caller, 0.0) + entries[wait][2]
            todo.extend(entries[caller][4])

    def label(key: tuple[str, int, str]) -> str:
        file, line, name = key
        for marker in (OWN_CODE, "/site-packages/", "/python3.11/"):
            if marker in file:
                file = file.split(marker, 1)[1]
                break
        return f"{file}:{line}({name})" if line else name

    rows = [
        (key, cc, tt, max(ct - waiting_in.get(key, 0.0), 0.0))
        for key, (cc, _, tt, ct, _) in entries.items()
    ]
    own = [r for r in rows if OWN_CODE in r[0][0]]

    def row(r: tuple) -> dict[str, Any]:
        key, calls, tt, ct = r
        return {
            "function": label(key),
            "calls": calls,
            "own_s": tt,
            "cumulative_s": ct,
            "cumulative_pct": ct / total * 100,
            "own_pct": tt / total * 100,
        }

    return {
        "profiled_s": total,
        "idle_s": idle,
        "package_by_cumulative": [row(r) for r in sorted(own, key=lambda r: -r[3])[:limit]],
        "all_by_cumulative": [row(r) for r in sorted(rows, key=lambda r: -r[3])[:limit]],
        "all_by_own_time": [row(r) for r in sorted(rows, key=lambda r: -r[2]) if r[0] not in waits][
            :limit
        ],
    }


def write_profile_text(out: Path, phases: list[str]) -> None:
    """``profile.txt``: pstats listings of every phase, by cumulative and by own time."""
    import io
    import pstats

    text = io.StringIO()
    for phase in phases:
        prof = out / f"profile.{phase}.prof"
        if not prof.exists():
            continue
        for order in ("cumulative", "tottime"):
            text.write(f"===== {phase}: top 40 by {order} =====\n")
            pstats.Stats(str(prof), stream=text).sort_stats(order).print_stats(40)
    (out / "profile.txt").write_text(text.getvalue(), encoding="utf-8")


def run_json(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(command[1]).name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plot(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    projects = sorted(results["projects"].items(), key=lambda kv: kv[1]["models"])
    models = [p["models"] for _, p in projects]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(17, 4.8))
    series = (
        ("on_s", "dg launch, lineage on", "tab:red"),
        ("on_asset_metadata_true_s", "dg launch, lineage on, asset_metadata: true", "tab:purple"),
        ("off_s", "dg launch, lineage off", "k"),
        ("dbt_s", "plain dbt build", "tab:green"),
    )
    for key, label, color in series:
        shown = [(n, p[key]) for (_, p), n in zip(projects, models, strict=True) if p.get(key)]
        if not shown:
            continue
        left.plot(
            [n for n, _ in shown],
            [statistics.median(v) for _, v in shown],
            "o-",
            color=color,
            label=f"{label} (median)",
        )
        for n, values in shown:
            left.scatter([n] * len(values), values, s=12, color=color, alpha=0.35)
    for (name, p), n in zip(projects, models, strict=True):
        left.annotate(
            f"{name}: lineage {p['overhead_pct_paired']:+.1f}%",
            (n, p["median_on_s"]),
            textcoords="offset points",
            xytext=(4, 6),
            fontsize=8,
        )
    left.set(ylabel="wall-clock seconds", title="What users run (medians; dots: runs)")
    ratios = [(n, p["dagster_vs_dbt"]) for (_, p), n in zip(projects, models, strict=True)]
    ratios = [(n, r) for n, r in ratios if r]
    if ratios:
        middle.plot([n for n, _ in ratios], [r for _, r in ratios], "o-", color="k")
        for n, r in ratios:
            middle.annotate(f"{r:.2f}x", (n, r), textcoords="offset points", xytext=(4, 6))
    middle.axhline(TARGETS["dagster_vs_dbt"], color="tab:green", ls=":", label="target 1.5x")
    middle.axhline(
        TARGETS["dagster_vs_dbt_sample"], color="tab:orange", ls=":", label="target 3x (sample)"
    )
    middle.set(
        xscale="log",
        xlabel="dbt models",
        ylabel="dg launch (lineage off) / dbt build",
        title="Dagster vs plain dbt (ratio of medians)",
        ylim=(0, max([r for _, r in ratios] + [3.5]) * 1.15),
    )
    middle.legend()
    middle.grid(True, which="both", alpha=0.3)
    middle.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    for phase, color in (("observe", "tab:blue"), ("finish", "tab:orange"), ("total", "tab:red")):
        right.plot(
            models,
            [max(p["lineage_in_process_s"][phase], 1e-3) for _, p in projects],
            "o-",
            color=color,
            label=f"lineage {phase}",
        )
    big = projects[-1][1]
    reference = big["lineage_in_process_s"]["total"] / big["models"]
    right.plot(
        models, [reference * n for n in models], ":", color="gray", label="linear (through largest)"
    )
    right.set(
        ylabel="seconds in process",
        title="Lineage work in the run (median, lineage on)",
    )
    for axis in (left, right):
        axis.set(xscale="log", yscale="log", xlabel="dbt models")
        axis.legend(fontsize=8)
        axis.grid(True, which="both", alpha=0.3)
        axis.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        axis.yaxis.set_minor_formatter(
            FormatStrFormatter("%g") if axis is left else NullFormatter()
        )
        axis.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    fig.suptitle(
        f"floe: dg launch vs dbt build, lineage on vs off — {results['machine']['cpus']} CPUs, "
        f"{results['started_at'][:16]} UTC",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def verdicts(results: dict[str, Any]) -> list[dict[str, Any]]:
    projects = results["projects"]
    synthetic = sorted(
        (p for name, p in projects.items() if name != "sample"), key=lambda p: p["models"]
    )
    found = []

    def add(
        target: str,
        value: float | None,
        limit: float,
        unit: str,
        note: str = "",
        role: str = "target",
    ) -> None:
        """``role``: "target" is judged against ``limit``; "check" (shown for comparison) and
        "reference" (a library baseline, not the project's code) are reported, unjudged."""
        met = None if value is None or role != "target" else value <= limit
        found.append(
            {
                "target": target,
                "role": role,
                "value": value,
                "limit": limit,
                "unit": unit,
                "met": met,
                "note": note,
            }
        )

    for name, p in sorted(projects.items(), key=lambda kv: kv[1]["models"]):
        label = "sample" if name == "sample" else f"{p['models']} models"
        lo, hi = min(p["pair_overheads_pct"]), max(p["pair_overheads_pct"])
        judged = p["models"] == LINEAGE_TARGET_MODELS and p["pairs"] >= MIN_PAIRS
        add(
            f"lineage on vs off, dg launch end to end, {label}"
            f" (median of {p['pairs']} alternated pairs)",
            p["overhead_pct_paired"],
            TARGETS["lineage_overhead_pct"],
            "%",
            f"pairs {lo:+.1f}..{hi:+.1f}%, CPU {p['cpu_overhead_pct_paired']:+.1f}%, in process"
            f" {p['lineage_in_process_s']['total']:.2f}s"
            f" ({p['lineage_in_process_pct_of_off']:.1f}% of off)"
            + kept_note(p)
            + (
                ""
                if judged
                else f"; judged at {LINEAGE_TARGET_MODELS} models with >= {MIN_PAIRS} pairs"
            ),
            role="target" if judged else "check",
        )
        if p["held_pair_overheads_pct"]:
            held = p["held_pair_overheads_pct"]
            add(
                f"lineage on with asset_metadata: true vs off, dg launch end to end, {label}"
                f" (median of {len(held)} alternated pairs)",
                p["held_overhead_pct_paired"],
                TARGETS["lineage_overhead_pct"],
                "%",
                f"pairs {min(held):+.1f}..{max(held):+.1f}%, the opt-in: on DuckDB every"
                " materialization held until dbt exits, for lineage's Dagster metadata",
                role="check",
            )
        if p["dagster_vs_dbt"] is not None:
            is_sample = name == "sample"
            judged = is_sample or p["models"] in RATIO_TARGET_MODELS
            add(
                f"Dagster vs plain dbt build, lineage off, {label} (ratio of medians)",
                p["dagster_vs_dbt"],
                TARGETS["dagster_vs_dbt_sample" if is_sample else "dagster_vs_dbt"],
                "x",
                f"dg launch {p['median_off_s']:.1f}s, dbt build {p['median_dbt_s']:.1f}s;"
                f" CPU ratio {p['dagster_vs_dbt_cpu']:.2f}x",
                role="target" if judged else "check",
            )
        for key, arm in (
            ("lineage_check", "on"),
            ("lineage_check_asset_metadata_true", "on_asset_metadata_true"),
        ):
            check = p.get(key) or {}
            if not check:
                continue
            add(
                f"fidelity, {label}, {ARMS[arm]}: events strict-valid, closed, with column"
                " lineage, typed schemas and row counts (0 = yes)",
                0.0 if check.get("ok") else 1.0,
                0.0,
                "",
                f"{check.get('events', 0)} events, {check.get('schema_violations', '?')} schema"
                f" violations, {check.get('left_open', '?')} runs left open, outputs with"
                f" {check.get('outputs_with', {})}",
            )
    if len(synthetic) >= 2:
        small, big = synthetic[0], synthetic[-1]
        b = exponent(small, big, lambda p: p["lineage_in_process_s"]["total"])
        add(
            f"linear: lineage seconds ~ models^b ({small['models']}->{big['models']})",
            b,
            TARGETS["linear_exponent_max"],
            "b",
            f"dg launch (off) exponent {exponent(small, big, lambda p: p['median_off_s']):.2f},"
            + (
                f" dbt build exponent {exponent(small, big, lambda p: p['median_dbt_s']):.2f}"
                if small["median_dbt_s"] and big["median_dbt_s"]
                else ""
            ),
        )
    micro = results.get("micro")
    if micro and "writes" in micro:
        ratios = micro["writes"]["ratio_vs_plain_json"]
        add(
            "per-event write, OpenLineage FileTransport vs plain json.dumps+write",
            ratios["openlineage_file_transport"],
            TARGETS["per_event_vs_plain_json"],
            "x",
            "the client's own transport, for comparison",
            role="reference",
        )
        add(
            "per-event write, floe-lineage LineageEmitter vs plain json.dumps+write",
            ratios["project_emitter"],
            TARGETS["per_event_vs_plain_json"],
            "x",
        )
    if micro and "memory" in micro:
        for sink, m in micro["memory"].items():
            first, last = m["checkpoints"][0], m["checkpoints"][-1]
            growth = last["peak_growth_kib"] - first["peak_growth_kib"]
            add(
                f"memory flat, {sink}: peak growth {first['events']}->{last['events']} events",
                growth,
                TARGETS["memory_growth_kib_max"],
                "KiB",
                f"peak +{first['peak_growth_kib']} KiB at {first['events']}, "
                f"+{last['peak_growth_kib']} KiB at {last['events']}"
                + (f", {last['queued']} events queued" if last.get("queued") is not None else ""),
            )
    return found


def kept_note(p: dict[str, Any]) -> str:
    """Which pairs traced every model's column lineage (none kept from an earlier run yet), and
    finish() with and without the kept lineage; "" when no run says."""
    cold = [
        f"{pct:+.1f}%"
        for pct, kept in zip(p["pair_overheads_pct"], p["pair_column_lineage_kept"], strict=True)
        if not kept
    ]
    parts = [f"pairs tracing every model: {', '.join(cold)}"] if cold else []
    if p["finish_first_run_s"]:
        parts.append(
            f"finish {statistics.median(p['finish_first_run_s']):.2f}s tracing every model"
        )
    if p["median_finish_kept_s"] is not None:
        parts.append(f"finish {p['median_finish_kept_s']:.2f}s reusing the kept column lineage")
    return "".join(f"; {part}" for part in parts)


def print_table(results: dict[str, Any]) -> None:
    print()
    print("dg launch --assets '*' (lineage on / off, alternated pairs) and plain dbt build")
    print(
        "  lineage: median of per-pair on/off wall-time ratios (pair range); CPU: the same in"
        " CPU seconds of every process; on held / held: lineage on with asset_metadata: true, and"
        " its median per-pair ratio to off; dagster/dbt: median dg launch (off) / median dbt"
        " build; in proc: seconds inside InvocationLineage and its emitter / median off seconds"
    )
    header = (
        f"{'project':<15}{'models':>7}{'pairs':>6}{'dbt s':>8}{'off s':>8}{'on s':>8}"
        f"{'on held s':>10}{'dagster/dbt':>12}{'lineage':>9}{'pair range':>17}{'CPU':>8}{'held':>8}"
        f"{'observe s':>10}{'finish s':>9}{'in proc':>9}{'checked':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, p in sorted(results["projects"].items(), key=lambda kv: kv[1]["models"]):
        lo, hi = min(p["pair_overheads_pct"]), max(p["pair_overheads_pct"])
        ls = p["lineage_in_process_s"]
        dbt = f"{p['median_dbt_s']:.1f}" if p["median_dbt_s"] else "-"
        ratio = f"{p['dagster_vs_dbt']:.2f}x" if p["dagster_vs_dbt"] else "-"
        checks = [p.get("lineage_check"), p.get("lineage_check_asset_metadata_true")]
        checked = (
            "-" if not any(checks) else "ok" if all(c.get("ok") for c in checks if c) else "FAILED"
        )
        held_s = p["median_on_asset_metadata_true_s"]
        held_pct = p["held_overhead_pct_paired"]
        print(
            f"{name:<15}{p['models']:>7}{p['pairs']:>6}{dbt:>8}{p['median_off_s']:>8.1f}"
            f"{p['median_on_s']:>8.1f}{f'{held_s:.1f}' if held_s else '-':>10}{ratio:>12}"
            f"{p['overhead_pct_paired']:>+8.1f}%"
            f"{f'{lo:+.1f}..{hi:+.1f}%':>17}{p['cpu_overhead_pct_paired']:>+7.1f}%"
            f"{f'{held_pct:+.1f}%' if held_pct is not None else '-':>8}"
            f"{ls['observe']:>10.2f}{ls['finish']:>9.2f}"
            f"{p['lineage_in_process_pct_of_off']:>8.1f}%{checked:>9}"
        )
    for name, p in sorted(results["projects"].items(), key=lambda kv: kv[1]["models"]):
        if note := kept_note(p):
            print(f"  {name}{note}")
        by_process = p["cpu_by_process_pair_differences_s"]
        print(
            f"  {name}: CPU seconds on - off per pair, dg process "
            + ", ".join(f"{d:+.1f}" for d in by_process["dg"])
            + "; dbt process "
            + ", ".join(f"{d:+.1f}" for d in by_process["dbt"])
        )
    spy = results.get("py_spy") or {}
    for name, found in spy.items():
        for mode, summary in found.items():
            print()
            print(f"py-spy, {name}, lineage {mode} (wall-clock seconds per process and phase)")
            for line in summary["lines"]:
                print(f"  {line}")
    micro = results.get("micro") or {}
    if "writes" in micro:
        w = micro["writes"]
        print()
        print(f"Per event ({w['events']} terminal events, median {w['event_bytes_median']:.0f} B)")
        for key in (
            "plain_json_write",
            "serde_to_dict_plus_plain_write",
            "serde_to_json_only",
            "openlineage_file_transport",
            "project_emitter",
        ):
            ratio = w[key]["median_us"] / w["plain_json_write"]["median_us"]
            print(f"  {key:<34}{w[key]['median_us']:>10.0f} us{ratio:>8.1f}x plain")
    if "builders" in micro:
        b = micro["builders"]
        print(
            f"  node_start {b['node_start_all']['median_us']:.0f} us, node_end "
            f"{b['node_end_all']['median_us']:.0f} us per node; column lineage "
            f"{micro['column_lineage']['median_ms']:.1f} ms median, "
            f"{micro['column_lineage']['mean_ms']:.1f} ms mean per model"
        )
    if "memory" in micro:
        for sink, m in micro["memory"].items():
            points = ", ".join(
                f"{c['events']} events: peak +{c['peak_growth_kib'] / 1024:.1f} MiB"
                for c in m["checkpoints"]
            )
            print(f"  memory {sink}: {points}")
    profile = results.get("profile") or {}
    if "finish" in profile:
        timed = profile["replay"]["timed"]
        print()
        print(
            f"Profile, {profile['project']} (replay without profiler: observe"
            f" {timed['start_and_observe']:.2f}s, finish {timed['finish']:.2f}s)"
        )
        for phase in PROFILE_PHASES:
            if phase not in profile:
                continue
            top = profile[phase]
            print(f"  {phase} ({top['profiled_s']:.2f}s profiled): cumulative, floe-lineage")
            for row in top["package_by_cumulative"][:8]:
                pct, seconds = row["cumulative_pct"], row["cumulative_s"]
                print(f"    {pct:5.1f}% {seconds:8.2f}s  {row['function']}")
            print(f"  {phase}: own time, any code")
            for row in top["all_by_own_time"][:6]:
                print(f"    {row['own_pct']:5.1f}% {row['own_s']:8.2f}s  {row['function']}")
    print()
    print("Targets (CHECK and REFERENCE rows are shown for comparison, not judged)")
    for v in results["targets"]:
        if v["role"] != "target":
            state = v["role"].upper()
        else:
            state = "n/a" if v["met"] is None else "MET" if v["met"] else "MISSED"
        value = "n/a" if v["value"] is None else f"{v['value']:.2f}"
        print(
            f"  [{state:>9}] {v['target']}: {value} {v['unit']} (limit {v['limit']})"
            + (f" — {v['note']}" if v["note"] else "")
        )
    print()


def versions() -> dict[str, str]:
    found = {}
    for name in (
        "dagster",
        "dagster-dbt",
        "dagster-dg-cli",
        "dbt-core",
        "dbt-duckdb",
        "duckdb",
        "floe-lineage",
        "openlineage-python",
        "orjson",
        "sqlglot",
    ):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a rendered floe project")
    parser.add_argument("--out", type=Path, default=HERE.parent / ".bench")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new temp folder)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (~10 minutes)")
    parser.add_argument("--sizes", help="synthetic model counts, e.g. 200,2000")
    parser.add_argument("--pairs", help="pairs per project, e.g. sample=5,200=3,2000=3")
    parser.add_argument("--skip-micro", action="store_true")
    parser.add_argument(
        "--arms",
        default=",".join(ARMS),
        help=f"dg launch arms to run, of {','.join(ARMS)} (default: all)",
    )
    parser.add_argument(
        "--py-spy",
        action="store_true",
        help="also sample one lineage-off and one lineage-on dg launch per project with py-spy"
        " (not counted in the pairs; py-spy slows the run down)",
    )
    args = parser.parse_args()
    arms = [arm for arm in args.arms.split(",") if arm]
    if not arms or set(arms) - set(ARMS):
        parser.error(f"--arms takes some of {','.join(ARMS)} (got {args.arms!r})")

    sizes, pairs = PRESETS["quick" if args.quick else "full"]
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    pairs = dict(pairs)
    for item in (args.pairs or "").split(","):
        if item:
            key, value = item.split("=")
            pairs[key if key == "sample" else int(key)] = int(value)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for stale in (*out.glob("profile.*"), *out.glob("py-spy.*"), out / "results.json"):
        stale.unlink(missing_ok=True)
    (out / "scaling.png").unlink(missing_ok=True)
    work = (args.work or Path(tempfile.mkdtemp(prefix="floe-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    dst = args.project.resolve()
    ol_config = work / "openlineage.yml"
    ol_config.write_text(
        f"transport:\n  type: file\n  log_file_path: {work / 'events.jsonl'}\n  append: true\n",
        encoding="utf-8",
    )
    started_at = datetime.now(UTC)
    log(f"work folder {work}, results in {out}")
    log(f"compiled the environment's bytecode in {compile_bytecode():.0f}s")

    projects = [
        Project(
            "sample",
            dst / "dbt",
            "FLOE_DUCKDB_PATH",
            work / "sample" / "warehouse.duckdb",
            pairs.get("sample", 3),
        )
    ]
    for n in sizes:
        dbt_dir = work / f"synthetic-{n}"
        from make_dbt_project import make_project

        counts = make_project(n, dbt_dir)
        log(f"generated {dbt_dir}: {counts}")
        projects.append(
            Project(
                f"synthetic-{n}",
                dbt_dir,
                "BENCH_DUCKDB_PATH",
                work / f"synthetic-{n}-db" / "bench.duckdb",
                pairs.get(n, 1),
                keep=n == max(sizes),
            )
        )
    for p in projects:
        p.duckdb_file.parent.mkdir(parents=True, exist_ok=True)
        prepare(p, dst, ol_config)

    with_asset_metadata_true(dst, work)
    load_before = load_average()
    rounds = max(p.pairs for p in projects)
    for r in range(rounds):
        for p in projects:
            if r >= p.pairs:
                continue
            order = arms if r % 2 == 0 else list(reversed(arms))
            # plain dbt build once per round, before the arms or after them, in turn
            steps: list[str | None] = [None, *order] if r % 2 == 0 else [*order, None]
            for arm in steps:
                if arm is None:
                    result = dbt_build(p, dst, ol_config, work)
                    result["round"] = r
                    p.dbt_runs.append(result)
                    log(
                        f"{p.name} round {r + 1}/{p.pairs} dbt build: {result['seconds']:.1f}s"
                        f" ({result['cpu_seconds']:.1f} CPU s)"
                    )
                    continue
                result = launch(p, dst, ol_config, work, arm)
                result["round"] = r
                p.runs.append(result)
                log(
                    f"{p.name} round {r + 1}/{p.pairs} dg launch, {ARMS[arm]}:"
                    f" {result['seconds']:.1f}s"
                    f" ({result['cpu_seconds']:.1f} CPU s), {result['events']} events,"
                    f" lineage in process {sum(result['lineage_seconds'].values()):.2f}s"
                    + ("" if result["success"] and result["events_ok"] else "  <-- PROBLEM")
                )
    load_after = load_average()
    for p in projects:
        for arm in arms:
            if arm == "off" or not p.pairs:
                continue
            check = p.checks[arm] = check_lineage(work / "checked" / p.name / arm)
            log(
                f"{p.name}, {ARMS[arm]}: lineage check {'ok' if check['ok'] else 'FAILED'}"
                f" ({check.get('events', 0)} events, {check.get('seconds', 0):.0f}s)"
                + ("" if check["ok"] else f": {check['problems'][:5]}")
            )

    results: dict[str, Any] = {
        "started_at": started_at.isoformat(),
        "finished_at": None,
        "mode": "quick" if args.quick else "full",
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average_before": load_before,
            "load_average_after": load_after,
        },
        "versions": versions(),
        "method": (
            "Each measurement is a fresh `dg launch --assets '*'` in the rendered project"
            " (DAGSTER_HOME unset: a temporary instance) or a plain `dbt build` in the dbt"
            " project, timed from start to exit (wall clock; CPU seconds of every process it"
            " started), with the DuckDB file deleted before every run; the column lineage"
            " floe-lineage keeps in the dbt target folder stays, as for a user, so only a"
            " project's first lineage-on run traces every model. Each round runs lineage on,"
            " off and on with asset_metadata: true (in a copy of the project), the order"
            " reversed every other round; projects take turns; one dbt build per round."
            " overhead_pct_paired is the median of the per-round ratios on/off - 1 (and"
            " held_overhead_pct_paired the same for the third arm); dagster_vs_dbt"
            " is the median dg launch"
            " (lineage off) over the median dbt build; lineage_in_process_s is the wall-clock time"
            " spent inside InvocationLineage.start/observe/finish and the emitter's close (counted"
            " in finish) in the lineage-on runs."
        ),
        "projects": {
            p.name: summarize(p) | {"runs": p.runs, "dbt_runs": p.dbt_runs} for p in projects
        },
    }

    if args.py_spy:
        results["py_spy"] = {}
        from spy_summary import summarize_launch

        for p in projects:
            found = results["py_spy"][p.name] = {}
            for mode in ("off", "on"):
                raw = out / f"py-spy.{p.name}.{mode}.raw"
                log(f"py-spy: {p.name}, lineage {mode}")
                try:
                    run = launch(p, dst, ol_config, work, mode, spy=raw)
                except RuntimeError as exc:
                    log(f"py-spy run failed: {exc}")
                    continue
                found[mode] = {"seconds": run["seconds"]} | summarize_launch(raw)

    keeper = next((p for p in projects if p.keep), None)
    kept = work / "keep" / keeper.name if keeper else None
    if keeper and kept and (kept / "target").is_dir():
        env = child_env(keeper, dst, ol_config, lineage=True)
        database = kept / keeper.duckdb_file.name
        if (kept / "raw-dbt-events.jsonl").exists():
            log(f"profiling the lineage of {keeper.name} (replay of its last lineage-on run)")
            try:
                replay = run_json(
                    [
                        sys.executable,
                        str(HERE / "profile_replay.py"),
                        "--events",
                        str(kept / "raw-dbt-events.jsonl"),
                        "--target",
                        str(kept / "target"),
                        "--database",
                        str(database),
                        "--scratch",
                        str(work / "replay"),
                        "--out",
                        str(out / "profile"),
                    ],
                    env,
                    work,
                )
                results["profile"] = {"project": keeper.name, "replay": replay}
            except RuntimeError as exc:
                results["profile"] = {"error": str(exc)}
                log(f"profile failed: {exc}")
        if not args.skip_micro:
            log(f"micro-benchmarks on {keeper.name}")
            try:
                results["micro"] = {"project": keeper.name} | run_json(
                    [
                        sys.executable,
                        str(HERE / "micro.py"),
                        "--target",
                        str(kept / "target"),
                        "--database",
                        str(database),
                        "--scratch",
                        str(work / "micro"),
                        "--profile-column-lineage",
                        str(out / "profile.column_lineage.prof"),
                        *(["--quick"] if args.quick else []),
                    ],
                    env,
                    work,
                )
            except RuntimeError as exc:
                results["micro"] = {"error": str(exc)}
                log(f"micro-benchmarks failed: {exc}")
        if "replay" in results.get("profile", {}):
            for phase in PROFILE_PHASES:
                if (out / f"profile.{phase}.prof").exists():
                    idle = IDLE_IN_THREADS if phase == "threads" else (IDLE,)
                    results["profile"][phase] = profile_top(
                        out / f"profile.{phase}.prof", idle_names=idle
                    )
            write_profile_text(out, list(PROFILE_PHASES))

    results["targets"] = verdicts(results)
    finished_at = datetime.now(UTC)
    results["finished_at"] = finished_at.isoformat()
    results["duration_s"] = (finished_at - started_at).total_seconds()
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    plot(results, out / "scaling.png")
    print_table(results)
    log(
        f"wrote {out / 'results.json'} and {out / 'scaling.png'}"
        f" in {results['duration_s'] / 60:.1f} minutes"
    )
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    broken = [
        name
        for name, p in results["projects"].items()
        if not (p["all_succeeded"] and p["events_ok"] and p["lineage_check"].get("ok"))
    ]
    if broken:
        log(f"runs failed, wrote wrong events or failed the lineage check: {', '.join(broken)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
