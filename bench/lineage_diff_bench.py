"""How fast ``floe-lineage diff``, ``impact`` and ``publish --static`` are at 2,000 dbt nodes,
and whether their memory stays flat, from captured-event files (no dbt, no Dagster).

    python bench/lineage_diff_bench.py [--jobs 2000] [--runs 3] [--out .bench/lineage-diff.json]

The captures are ``report_render.synthetic_events`` (every dataset with a typed schema and
DIRECT and INDIRECT column lineage): BASE, and HEAD with one staging column re-routed (to
another source column, its lineage reaching everything built on it) and one column renamed.
Each command is one fresh process, timed from start to exit (the CLI's imports included), with
its peak resident memory. ``--compile`` also measures them from a synthetic dbt project of as
many models compiled with ``dbt compile`` (lineage before the first run; reported, no limit).
Memory flat: the same commands on a file holding the same lineage four times over (four runs),
and at a quarter of the nodes. Prints one JSON document and exits 1
when a median is over its limit (diff and impact 5 s, publish --static 30 s).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_render import synthetic_events

FLOE_LINEAGE = Path(sys.executable).parent / "floe-lineage"
LIMITS = {"diff": 5.0, "impact": 5.0, "publish --static": 30.0}
MEASURE = (
    "import resource, subprocess, sys, time\n"
    "start = time.perf_counter()\n"
    "done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL)\n"
    "wall = time.perf_counter() - start\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(done.returncode, wall, peak)\n"
)


def changed(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """HEAD: the first staging model's ``id`` re-routed to another column of its source, and
    one of its other columns renamed (in its schema, its lineage and every reader's lineage).
    Returns the events and the re-routed column (``dataset.column``)."""
    head = json.loads(json.dumps(events))
    outputs = [d for e in head for d in e.get("outputs", []) if d.get("facets", {}).get("schema")]
    staging = next(d for d in outputs if ".stg_" in d["name"] and "columnLineage" in d["facets"])
    table = staging["name"]
    renamed = next(f["name"] for f in staging["facets"]["schema"]["fields"] if f["name"] != "id")
    for dataset in outputs:
        lineage = dataset["facets"].get("columnLineage", {}).get("fields", {})
        if dataset["name"] == table:
            lineage["id"]["inputFields"][0]["field"] = renamed
            lineage[f"{renamed}_renamed"] = lineage.pop(renamed)
            for field in dataset["facets"]["schema"]["fields"]:
                if field["name"] == renamed:
                    field["name"] = f"{renamed}_renamed"
        for spec in lineage.values():
            for source in spec["inputFields"]:
                if (source["name"], source["field"]) == (table, renamed):
                    source["field"] = f"{renamed}_renamed"
    return head, f"{table}.id"


def write(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events), "utf-8")
    return path


def again(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same lineage as another run (new run ids)."""
    copied = json.loads(json.dumps(events))
    ids: dict[str, str] = {}
    for event in copied:
        event["run"]["runId"] = ids.setdefault(event["run"]["runId"], str(uuid.uuid4()))
    return copied


def measure(args: list[str], runs: int, cwd: Path) -> dict[str, Any]:
    walls, peaks, codes = [], [], set()
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", MEASURE, str(FLOE_LINEAGE), *args],
            capture_output=True,
            text=True,
            check=True,
            cwd=cwd,
        ).stdout.split()
        codes.add(int(out[0]))
        walls.append(float(out[1]))
        peaks.append(int(out[2]) / 1024)
    return {
        "median_s": round(statistics.median(walls), 3),
        "runs_s": [round(w, 3) for w in walls],
        "peak_rss_mib": round(max(peaks), 1),
        "exit_codes": sorted(codes),
    }


def compiled_project(models: int, work: Path) -> Path:
    """A synthetic dbt project of ``models`` models (``make_dbt_project.py``), compiled."""
    project = work / "compiled"
    here = Path(__file__).resolve().parent
    subprocess.run(
        [sys.executable, str(here / "make_dbt_project.py"), str(models), str(project)],
        check=True,
        capture_output=True,
    )
    dbt = Path(sys.executable).parent / "dbt"
    started = time.perf_counter()
    subprocess.run(
        [str(dbt), "compile", "--quiet", "--profiles-dir", str(project)],
        check=True,
        cwd=project,
        env={**os.environ, "BENCH_DUCKDB_PATH": str(work / "bench.duckdb")},
    )
    print(f"dbt compile of {models} models: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return project


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also from a compiled synthetic dbt project of --jobs models (make_dbt_project.py,"
        " dbt compile): lineage before the first run (reported, no limit)",
    )
    options = parser.parse_args()
    results: dict[str, Any] = {"jobs": options.jobs}
    with tempfile.TemporaryDirectory(prefix="floe-diff-bench-") as scratch:
        work = Path(scratch)
        started = time.perf_counter()
        events = synthetic_events(options.jobs)
        head_events, column = changed(events)
        small = synthetic_events(options.jobs // 4)
        small_head, small_column = changed(small)
        files = {
            "base": write(work / "base.jsonl", events),
            "head": write(work / "head.jsonl", head_events),
            "base x4": write(
                work / "base4.jsonl", [*events, *again(events), *again(events), *again(events)]
            ),
            "small base": write(work / "small-base.jsonl", small),
            "small head": write(work / "small-head.jsonl", small_head),
        }
        results["generated_s"] = round(time.perf_counter() - started, 1)
        results["file_mib"] = {k: round(p.stat().st_size / 2**20, 1) for k, p in files.items()}
        config = work / "openlineage.yml"
        config.write_text(
            f"transport:\n  type: file\n  log_file_path: {work / 'static.jsonl'}\n  append: true\n"
        )
        b, h = str(files["base"]), str(files["head"])
        measured = {
            "diff": ["diff", b, h, "--format", "json"],
            "diff (unchanged, 4 runs in BASE)": ["diff", str(files["base x4"]), b],
            f"diff ({options.jobs // 4} nodes)": [
                "diff",
                str(files["small base"]),
                str(files["small head"]),
            ],
            "impact": ["impact", column, h, "--format", "json"],
            "impact --upstream": ["impact", column, h, "--upstream"],
            f"impact ({options.jobs // 4} nodes)": [
                "impact",
                small_column,
                str(files["small head"]),
            ],
            "publish --static": ["publish", "--static", b, "--config", str(config)],
        }
        if options.compile:
            project = compiled_project(options.jobs, work)
            other = work / "openlineage-compiled.yml"
            other.write_text(
                f"transport:\n  type: file\n  log_file_path: {work / 'c.jsonl'}\n  append: true\n"
            )
            measured |= {
                "publish --static (compiled project)": [
                    "publish",
                    "--static",
                    str(project),
                    "--config",
                    str(other),
                ],
                "impact (compiled project)": ["impact", "stg_customers.id", str(project)],
                "diff (compiled project vs itself)": ["diff", str(project), str(project)],
            }
        results["commands"] = {name: measure(a, options.runs, work) for name, a in measured.items()}
        shown = subprocess.run(
            [str(FLOE_LINEAGE), "diff", b, h, "--format", "json"], capture_output=True, text=True
        )
        found = json.loads(shown.stdout)
        results["diff_found"] = {
            "edges_added": len(found["columnLineage"]["added"]),
            "edges_removed": len(found["columnLineage"]["removed"]),
            "columns_added": len(found["columns"]["added"]),
            "columns_removed": len(found["columns"]["removed"]),
            "impact": len(found["impact"]),
        }
        static = (work / "static.jsonl").read_text().count("\n")
        results["static_events_per_publish"] = static // options.runs
    over = [
        f"{name}: {results['commands'][name]['median_s']} s > {limit} s"
        for name, limit in LIMITS.items()
        if results["commands"][name]["median_s"] > limit
    ]
    results["over_limit"] = over
    text = json.dumps(results, indent=2)
    print(text)
    if options.out:
        options.out.parent.mkdir(parents=True, exist_ok=True)
        options.out.write_text(text + "\n", "utf-8")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
