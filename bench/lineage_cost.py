"""What lineage costs with the defaults, and how soon each materialization has its facts.

    python bench/lineage_cost.py [--sizes sample,200] [--pairs 3] [--out .bench/lineage-cost.json]
    python bench/lineage_cost.py --warehouse postgres [--sizes 200] [--pairs 5]

For each project (the template's sample dbt project, synthetic ones of ``make_dbt_project.py``):
alternated pairs of in-process materializations of every asset (``dg.materialize`` of the
``DbtProjectWithLineage`` definitions, a fresh DuckDB file each time; the project parsed once, as
``dg`` keeps it), lineage on (file transport, ``asset_metadata: auto``) and off
(``OPENLINEAGE_DISABLED=true``), the order reversed every other pair; wall-clock seconds of each and
``/proc/loadavg`` before each. On the lineage-on runs, for every dbt model, seed and snapshot: the
delay from dbt's node end (its ``node_finished_at``, as dbt logged it in ``dbt.log``) to the moment
Dagster recorded its materialization, and whether that materialization carries
``dagster/column_schema``, ``dagster/column_lineage`` (models with parents) and
``dagster/row_count`` (tables). Every run must succeed; a materialization without its facts is
reported.

``--warehouse postgres``: the same on PostgreSQL (dbt-postgres, the projects' ``postgres``
profile target). A real server is started for the whole script from the machine's binaries
(``floe-lineage/tests/postgres_server.py``: as root, as the ``postgres`` system user; loopback
TCP, scram-sha-256, ``fsync=off``) and every run gets a fresh database (dropped and created
again before the run, untimed), as floe-lineage's PostgreSQL tests run the sample
(``make_postgres_workspace``). Results default to ``.bench/lineage-cost-postgres.json``.

A first, untimed lineage-on run parses the project and traces every model's column lineage once
(what the first run after a change pays); the pairs measure the runs after it.

This measures inside one process (no ``dg launch`` start-up), so the on/off ratio is the lineage
work and what waits for it, not Python's start-up; ``run_bench.py`` measures ``dg launch``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "floe-lineage" / "tests")]

import dagster as dg  # noqa: E402
from conftest import (  # noqa: E402
    copy_dbt_project,
    make_postgres_workspace,
    make_workspace,
    materialize,
)
from make_dbt_project import make_project  # noqa: E402
from postgres_server import PostgresServer, server_as_postgres_user  # noqa: E402

DATABASE = "warehouse"
"""The PostgreSQL database every run gets afresh (the same name each run: dbt keeps the
database it parsed, and the column lineage kept in the target folder names it)."""


def load() -> str:
    return (
        Path("/proc/loadavg").read_text().split(" ")[0] if Path("/proc/loadavg").exists() else "?"
    )


def project_for(size: str, folder: Path, warehouse: str = "duckdb") -> Path:
    if size == "sample":
        return copy_dbt_project(folder / "dbt")
    make_project(int(size), folder / "dbt", warehouse=warehouse)
    return folder / "dbt"


def node_ends(target: Path) -> dict[str, datetime]:
    """dbt's node end per unique id, from the JSON ``dbt.log`` of the newest run folder (and
    ``dbt.log.1``... if dbt rotated it: ``main`` sets ``DBT_LOG_FILE_MAX_BYTES=0``, as dbt keeps
    only five 10 MB files, which 2,000 models overflow)."""
    ends: dict[str, datetime] = {}
    newest = sorted(target.glob("*/dbt.log"), key=lambda p: p.stat().st_mtime)[-1:]
    logs = [rotated for first in newest for rotated in first.parent.glob("dbt.log*")]
    for log in logs:
        for line in log.read_text(encoding="utf-8").splitlines():
            if '"NodeFinished"' not in line:
                continue
            node = json.loads(line)["data"]["node_info"]
            if node.get("node_finished_at"):
                ends[node["unique_id"]] = datetime.fromisoformat(node["node_finished_at"])
    return ends


def one_run(
    project: Path, folder: Path, lineage_on: bool, server: PostgresServer | None = None
) -> dict[str, Any]:
    root = folder / ("on" if lineage_on else "off")
    if server is None:
        ws = make_workspace(root, project)
        ws.database.unlink(missing_ok=True)
    else:  # drops the database (with force) and creates it again: untimed
        ws = make_postgres_workspace(root, project, server, DATABASE)
    os.environ.pop("OPENLINEAGE_DISABLED", None)
    if not lineage_on:
        os.environ["OPENLINEAGE_DISABLED"] = "true"
    instance = dg.DagsterInstance.ephemeral()
    before = load()
    started = time.perf_counter()
    result = materialize(ws, instance=instance, strict=False)
    seconds = time.perf_counter() - started
    os.environ.pop("OPENLINEAGE_DISABLED", None)
    run: dict[str, Any] = {"on": lineage_on, "seconds": seconds, "load": before}
    run["success"] = result.success
    if not lineage_on:
        return run
    ends = node_ends(project / "target")
    delays, missing = [], []
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        unique_id = metadata["unique_id"].value
        record = instance.get_latest_materialization_event(event.asset_key)
        if unique_id in ends:
            recorded = datetime.utcfromtimestamp(record.timestamp)
            delays.append((recorded - ends[unique_id]).total_seconds())
        if "dagster/column_schema" not in metadata:
            missing.append(unique_id)
    run["delays_s"] = sorted(delays)
    run["without_facts"] = missing
    return run


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    on = [r["seconds"] for r in runs if r["on"]]
    off = [r["seconds"] for r in runs if not r["on"]]
    ratios = [a / b for a, b in zip(on, off, strict=False)]
    delays = [d for r in runs if r["on"] for d in r["delays_s"]]
    return {
        "on_s": on,
        "off_s": off,
        "pair_overheads_pct": [(r - 1) * 100 for r in ratios],
        "median_overhead_pct": (statistics.median(ratios) - 1) * 100 if ratios else None,
        "delay_median_s": statistics.median(delays) if delays else None,
        "delay_p95_s": delays and sorted(delays)[int(0.95 * (len(delays) - 1))],
        "delay_max_s": max(delays) if delays else None,
        "materializations_without_facts": sorted(
            {u for r in runs if r["on"] for u in r["without_facts"]}
        ),
        "all_succeeded": all(r["success"] for r in runs),
        "loads": [r["load"] for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warehouse", choices=("duckdb", "postgres"), default="duckdb")
    parser.add_argument("--sizes", default=None, help="default: sample,200 (postgres: 200)")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument(
        "--first",
        choices=("on", "off"),
        default="on",
        help="the arm that runs first in the first pair (then the order alternates)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    postgres = args.warehouse == "postgres"
    sizes = args.sizes or ("200" if postgres else "sample,200")
    out = args.out or ROOT / ".bench" / (
        "lineage-cost-postgres.json" if postgres else "lineage-cost.json"
    )
    # one dbt.log per run, not rotated (dbt keeps five 10 MB files: the node ends of the first
    # nodes of 2,000 models would be lost); the same in both arms
    os.environ.setdefault("DBT_LOG_FILE_MAX_BYTES", "0")
    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory(prefix="floe-lineage-cost-") as scratch,
        contextlib.ExitStack() as stack,
    ):
        server = stack.enter_context(server_as_postgres_user()) if postgres else None
        if server is not None:
            print(f"[lineage-cost] PostgreSQL server on {server.host}:{server.port}", flush=True)
        for size in sizes.split(","):
            name = f"{size} ({args.warehouse})"
            folder = Path(scratch) / size
            project = project_for(size, folder, args.warehouse)
            # untimed: dbt parses the project and lineage traces every model once (the column
            # lineage cache), as the first run after a change does; the pairs are the runs after
            warm_up = one_run(project, folder, lineage_on=True, server=server)
            print(f"[lineage-cost] {name} first run, lineage on: {warm_up['seconds']:.1f}s")
            runs = []
            for pair in range(args.pairs):
                on_first = (pair % 2 == 0) == (args.first == "on")
                for lineage_on in (True, False) if on_first else (False, True):
                    run = one_run(project, folder, lineage_on, server)
                    runs.append(run)
                    print(
                        f"[lineage-cost] {name} pair {pair + 1}: lineage"
                        f" {'on ' if lineage_on else 'off'} {run['seconds']:.1f}s"
                        f" (load {run['load']})",
                        flush=True,
                    )
            results[size] = {
                "warehouse": args.warehouse,
                "first_run": warm_up,
                "runs": runs,
                "summary": summary(runs),
            }
            print(f"[lineage-cost] {name}: {json.dumps(results[size]['summary'])}", flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    failed = [s for s, r in results.items() if not r["summary"]["all_succeeded"]]
    unfinished = [s for s, r in results.items() if r["summary"]["materializations_without_facts"]]
    if failed or unfinished:
        sys.exit(f"runs failed: {failed}; materializations without facts: {unfinished}")


if __name__ == "__main__":
    main()
