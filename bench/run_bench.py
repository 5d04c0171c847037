"""Overhead and scale of lineage in a generated floe project, measured on this machine.

    python bench/run_bench.py --project DST [--out .bench] [--quick]

``DST`` is a project rendered from this template whose dependencies, floe-lineage included,
are installed in the running interpreter (``nox -s bench`` does both). In one interleaved run
(the pairs of all projects take turns; within a pair the order alternates: on/off, off/on, ...)
every measurement is a fresh process materializing all dbt assets of one dbt project in process
through floe-lineage's Dagster component, as a generated project does (``materialize_once.py``),
with lineage on (file transport) or ``OPENLINEAGE_DISABLED=true``:

- the sample dbt project of the template (``DST/dbt``);
- synthetic dbt projects (``make_dbt_project.py``) of 200 and 2,000 models.

Then, on the largest synthetic project: a profile of the lineage work (``profile_replay.py``
replays the recorded dbt events of its last lineage-on run) and the micro-benchmarks
(``micro.py``). Writes ``OUT/results.json``, ``OUT/scaling.png``, ``OUT/profile.*`` and prints
a table with the targets.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGETS = {
    "sample_overhead_pct": 2.0,
    "large_overhead_pct": 5.0,
    "per_event_vs_plain_json": 2.0,
    "linear_exponent_max": 1.15,
    "memory_growth_kib_max": 4096,
}
PRESETS = {
    # name: (synthetic sizes, pairs for sample + each size)
    # A 2,000-model run takes 5-9 minutes on 2 cores: one pair; more with --pairs 2000=2.
    "full": ((200, 2000), {"sample": 5, 200: 3, 2000: 1}),
    "quick": ((100,), {"sample": 2, 100: 1}),
}
SCRUBBED_ENV = ("OPENLINEAGE_", "DBT_", "FLOE_", "BENCH_", "DAGSTER_HOME")
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


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


def child_env(project: Project, ol_config: Path, lineage: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV)}
    env |= {
        "DAGSTER_DISABLE_TELEMETRY": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROJECT_DIR": str(project.dbt_dir),
        "DBT_PROFILES_DIR": str(project.dbt_dir),
        "OPENLINEAGE_CONFIG": str(ol_config),
        project.duckdb_var: str(project.duckdb_file),
    }
    if not lineage:
        env["OPENLINEAGE_DISABLED"] = "true"
    return env


def prepare(project: Project, ol_config: Path, work: Path) -> None:
    """``dbt parse`` once, as the component does when it builds the definitions of a project
    without a manifest, so no measured run parses."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(HERE / "materialize_once.py"), "--prepare"],
        env=child_env(project, ol_config, lineage=False),
        cwd=work,
        check=True,
        capture_output=True,
    )
    manifest = json.loads((project.dbt_dir / "target" / "manifest.json").read_bytes())
    types = [n["resource_type"] for n in manifest["nodes"].values()]
    project.models = types.count("model")
    project.runnable = sum(t in ("model", "seed", "snapshot", "test") for t in types)
    project.baseline = {p.name for p in (project.dbt_dir / "target").iterdir()}
    log(
        f"{project.name}: {project.models} models, {project.runnable} runnable nodes,"
        f" parsed in {time.perf_counter() - started:.0f}s"
    )


def count_events(path: Path) -> dict[str, int]:
    counts = {"events": 0, "START": 0, "terminal": 0}
    if not path.exists():
        return counts
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        counts["events"] += 1
        counts["START" if event.get("eventType") == "START" else "terminal"] += 1
    return counts


def clean_run_files(project: Project, events_file: Path) -> None:
    for path in (project.duckdb_file, Path(f"{project.duckdb_file}.wal"), events_file):
        path.unlink(missing_ok=True)


def measure(project: Project, ol_config: Path, work: Path, lineage: bool) -> dict[str, Any]:
    events_file = work / "events.jsonl"
    raw_file = work / "raw-dbt-events.jsonl"
    clean_run_files(project, events_file)
    raw_file.unlink(missing_ok=True)
    command = [sys.executable, str(HERE / "materialize_once.py")]
    if project.keep and lineage:
        command += ["--record-events", str(raw_file)]
    started = time.perf_counter()
    done = subprocess.run(
        command,
        env=child_env(project, ol_config, lineage),
        cwd=work,
        capture_output=True,
        text=True,
        timeout=3 * 3600,
    )
    process_s = time.perf_counter() - started
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-30:])
        raise RuntimeError(f"{project.name}: the measured run failed:\n{tail}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result |= {"lineage": lineage, "process_s": process_s} | count_events(events_file)
    if lineage:
        result["events_ok"] = result["events"] > 0 and result["START"] == result["terminal"]
    else:
        result["events_ok"] = result["events"] == 0
    created = [p for p in (project.dbt_dir / "target").iterdir() if p.name not in project.baseline]
    if project.keep and lineage:
        keep = work / "keep" / project.name
        shutil.rmtree(keep, ignore_errors=True)
        keep.mkdir(parents=True)
        run_targets = [p for p in created if p.is_dir()]
        if len(run_targets) == 1:
            shutil.move(run_targets[0], keep / "target")
        shutil.move(project.duckdb_file, keep / project.duckdb_file.name)
        if raw_file.exists():
            shutil.move(raw_file, keep / raw_file.name)
    for path in created:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    clean_run_files(project, events_file)
    return result


def load_average() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def summarize(project: Project) -> dict[str, Any]:
    on = [r for r in project.runs if r["lineage"]]
    off = [r for r in project.runs if not r["lineage"]]
    on_s = [r["seconds"] for r in on]
    off_s = [r["seconds"] for r in off]
    pairs = [r["seconds"] / o["seconds"] for r, o in zip(on, off, strict=False)]
    lineage = {
        phase: statistics.median(r["lineage_seconds"][phase] for r in on)
        for phase in ("start", "observe", "finish")
    }
    lineage["total"] = sum(lineage.values())
    lineage_cpu = statistics.median(sum(r["lineage_cpu_seconds"].values()) for r in on)
    median_on, median_off = statistics.median(on_s), statistics.median(off_s)
    cpu_on = [r["cpu_seconds"] for r in on]
    cpu_off = [r["cpu_seconds"] for r in off]
    cpu_pairs = [r["cpu_seconds"] / o["cpu_seconds"] for r, o in zip(on, off, strict=False)]
    return {
        "models": project.models,
        "runnable_nodes": project.runnable,
        "pairs": len(pairs),
        "on_s": on_s,
        "off_s": off_s,
        "median_on_s": median_on,
        "median_off_s": median_off,
        "overhead_pct_of_medians": (median_on / median_off - 1) * 100,
        "overhead_pct_paired": (statistics.median(pairs) - 1) * 100,
        "pair_overheads_pct": [(p - 1) * 100 for p in pairs],
        "cpu_on_s": cpu_on,
        "cpu_off_s": cpu_off,
        "median_cpu_on_s": statistics.median(cpu_on),
        "median_cpu_off_s": statistics.median(cpu_off),
        "cpu_overhead_pct_paired": (statistics.median(cpu_pairs) - 1) * 100,
        "cpu_pair_overheads_pct": [(p - 1) * 100 for p in cpu_pairs],
        "lineage_in_process_s": lineage,
        "lineage_in_process_pct_of_off": lineage["total"] / median_off * 100,
        "lineage_cpu_s": lineage_cpu,
        "lineage_cpu_pct_of_off_cpu": lineage_cpu / statistics.median(cpu_off) * 100,
        "events_per_run": statistics.median(r["events"] for r in on),
        "all_succeeded": all(r["success"] for r in project.runs),
        "events_ok": all(r["events_ok"] for r in project.runs),
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
        tail = "\n".join(done.stderr.splitlines()[-30:])
        raise RuntimeError(f"{Path(command[1]).name} failed:\n{tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plot(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    projects = sorted(results["projects"].items(), key=lambda kv: kv[1]["models"])
    models = [p["models"] for _, p in projects]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for key, label, color in (("on_s", "lineage on", "tab:red"), ("off_s", "lineage off", "k")):
        medians = [statistics.median(p[key]) for _, p in projects]
        left.plot(models, medians, "o-", color=color, label=f"{label} (median)")
        for (_, p), n in zip(projects, models, strict=True):
            left.scatter([n] * len(p[key]), p[key], s=12, color=color, alpha=0.35)
    for (name, p), n in zip(projects, models, strict=True):
        left.annotate(
            f"{name}: {p['overhead_pct_paired']:+.1f}%",
            (n, p["median_on_s"]),
            textcoords="offset points",
            xytext=(4, 6),
            fontsize=8,
        )
    left.set(ylabel="materialize seconds", title="Full materialize (medians; dots: runs)")
    for phase, color in (("observe", "tab:blue"), ("finish", "tab:orange"), ("total", "tab:red")):
        right.plot(
            models,
            [p["lineage_in_process_s"][phase] for _, p in projects],
            "o-",
            color=color,
            label=f"lineage {phase}",
        )
    big = projects[-1][1]
    reference = big["lineage_in_process_s"]["total"] / big["models"]
    from matplotlib.ticker import FormatStrFormatter, NullFormatter

    right.plot(
        models, [reference * n for n in models], ":", color="gray", label="linear (through largest)"
    )
    right.set(
        ylabel="seconds in process",
        title="Lineage work inside the run (median of lineage-on runs)",
    )
    for axis in (left, right):
        axis.set(xscale="log", yscale="log", xlabel="dbt models")
        axis.legend()
        axis.grid(True, which="both", alpha=0.3)
        axis.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        # minor labels only where the axis spans less than a decade or two (left)
        axis.yaxis.set_minor_formatter(
            FormatStrFormatter("%g") if axis is left else NullFormatter()
        )
        axis.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    fig.suptitle(
        f"floe lineage overhead — {results['machine']['cpus']} CPUs, "
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
        """``role``: "target" is judged against ``limit``; "check" (end-to-end times, whose
        pairs vary by more than the limits on a shared machine) and "reference" (a library
        baseline, not the project's code) are reported next to it, unjudged."""
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

    overheads = [("sample", projects.get("sample"), TARGETS["sample_overhead_pct"])]
    if synthetic:
        big = synthetic[-1]
        overheads.append((f"{big['models']} models", big, TARGETS["large_overhead_pct"]))
    for label, p, limit in overheads:
        if p is None:
            continue
        lo, hi = min(p["pair_overheads_pct"]), max(p["pair_overheads_pct"])
        add(
            f"overhead end to end, {label} (median of {p['pairs']} on/off pairs)",
            p["overhead_pct_paired"],
            limit,
            "%",
            f"pairs {lo:+.1f}..{hi:+.1f}%, ratio of medians {p['overhead_pct_of_medians']:+.1f}%",
            role="check",
        )
        lo, hi = min(p["cpu_pair_overheads_pct"]), max(p["cpu_pair_overheads_pct"])
        add(
            f"overhead end to end in CPU seconds, {label} (median of pairs)",
            p["cpu_overhead_pct_paired"],
            limit,
            "%",
            f"pairs {lo:+.1f}..{hi:+.1f}%, CPU {p['median_cpu_on_s']:.1f}s on,"
            f" {p['median_cpu_off_s']:.1f}s off",
            role="check",
        )
        add(
            f"overhead in process, {label} (lineage seconds / median off seconds)",
            p["lineage_in_process_pct_of_off"],
            limit,
            "%",
            f"{p['lineage_in_process_s']['total']:.2f}s of {p['median_off_s']:.1f}s",
        )
        add(
            f"overhead in process, CPU, {label} (lineage CPU s / median off CPU s)",
            p["lineage_cpu_pct_of_off_cpu"],
            limit,
            "%",
            f"{p['lineage_cpu_s']:.2f}s of {p['median_cpu_off_s']:.1f}s",
        )
    if len(synthetic) >= 2:
        small, big = synthetic[0], synthetic[-1]
        b = exponent(small, big, lambda p: p["lineage_in_process_s"]["total"])
        add(
            f"linear: lineage seconds ~ models^b ({small['models']}->{big['models']})",
            b,
            TARGETS["linear_exponent_max"],
            "b",
            f"off-run time exponent {exponent(small, big, lambda p: p['median_off_s']):.2f}",
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


def print_table(results: dict[str, Any]) -> None:
    print()
    print("Full materialize, lineage on vs off (interleaved pairs, medians)")
    print(
        "  overhead: median of per-pair on/off wall-time ratios; (medians): ratio of medians;"
        " CPU ovh: the same in CPU seconds (Dagster process + dbt);"
        " in proc: seconds inside InvocationLineage and its emitter / median off seconds"
    )
    header = (
        f"{'project':<16}{'models':>7}{'pairs':>6}{'on s':>9}{'off s':>9}"
        f"{'overhead':>10}{'(medians)':>10}{'pair range':>18}{'CPU ovh':>9}"
        f"{'observe s':>10}{'finish s':>10}{'in proc':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, p in sorted(results["projects"].items(), key=lambda kv: kv[1]["models"]):
        lo, hi = min(p["pair_overheads_pct"]), max(p["pair_overheads_pct"])
        ls = p["lineage_in_process_s"]
        print(
            f"{name:<16}{p['models']:>7}{p['pairs']:>6}{p['median_on_s']:>9.2f}"
            f"{p['median_off_s']:>9.2f}{p['overhead_pct_paired']:>+9.1f}%"
            f"{p['overhead_pct_of_medians']:>+9.1f}%{f'{lo:+.1f}..{hi:+.1f}%':>18}"
            f"{p['cpu_overhead_pct_paired']:>+8.1f}%"
            f"{ls['observe']:>10.2f}{ls['finish']:>10.2f}"
            f"{p['lineage_in_process_pct_of_off']:>8.1f}%"
        )
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
    parser.add_argument("--quick", action="store_true", help="a small smoke run (~3 minutes)")
    parser.add_argument("--sizes", help="synthetic model counts, e.g. 200,2000")
    parser.add_argument("--pairs", help="pairs per project, e.g. sample=5,200=3,2000=2")
    parser.add_argument("--skip-micro", action="store_true")
    args = parser.parse_args()

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
    for stale in (*out.glob("profile.*"), out / "results.json", out / "scaling.png"):
        stale.unlink(missing_ok=True)
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
        prepare(p, ol_config, work)

    load_before = load_average()
    rounds = max(p.pairs for p in projects)
    for r in range(rounds):
        for p in projects:
            if r >= p.pairs:
                continue
            order = (True, False) if r % 2 == 0 else (False, True)
            for lineage in order:
                result = measure(p, ol_config, work, lineage)
                result["round"] = r
                p.runs.append(result)
                log(
                    f"{p.name} round {r + 1}/{p.pairs} lineage {'on ' if lineage else 'off'}:"
                    f" {result['seconds']:.2f}s, {result['events']} events,"
                    f" lineage in process {sum(result['lineage_seconds'].values()):.2f}s"
                    + ("" if result["success"] and result["events_ok"] else "  <-- PROBLEM")
                )
    load_after = load_average()

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
            "Each measurement is a fresh process timing dg.materialize of all dbt assets "
            "of floe-lineage's DbtProjectWithLineage (imports and definitions excluded) with "
            "the DuckDB file deleted before every run. Pairs alternate on/off and off/on; "
            "projects take turns. overhead_pct_paired is the median of the per-pair ratios "
            "on/off - 1; lineage_in_process_s is the wall-clock time spent inside "
            "InvocationLineage.start/observe/finish and the emitter's close (counted in "
            "finish) in the lineage-on runs."
        ),
        "projects": {p.name: summarize(p) | {"runs": p.runs} for p in projects},
    }

    keeper = next((p for p in projects if p.keep), None)
    kept = work / "keep" / keeper.name if keeper else None
    if keeper and kept and (kept / "target").is_dir():
        env = child_env(keeper, ol_config, lineage=True)
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
        if not (p["all_succeeded"] and p["events_ok"])
    ]
    if broken:
        log(f"runs failed or wrote wrong events: {', '.join(broken)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.exit(main())
