"""Command line: ``python -m <package>.lineage {summary,check,report,replay}``.

``summary`` prints one line per captured run; ``check`` verifies a run's events against the
dbt manifest (exit 1 on problems); ``report`` writes a self-contained HTML lineage graph;
``replay`` sends the spooled, undelivered events. Events default to the file the configured
file transport writes, and the run to the last one captured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .check import check_run, runs_of
from .config import LineageConfigError, resolve_config
from .manifest import DbtGraph
from .report import render_report
from .spool import Spool

TERMINAL_STATES = ("COMPLETE", "FAIL", "ABORT")
# src/<package>/lineage/cli.py in an editable install: the project's own openlineage.yml is here
PROJECT_ROOT = Path(__file__).resolve().parents[3]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m <package>.lineage", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help="one line per run: job, state, inputs -> outputs")
    check = commands.add_parser("check", help="check the last run's events against the manifest")
    report = commands.add_parser("report", help="write an HTML lineage graph of the last run")
    for command in (summary, check, report):
        command.add_argument("events", nargs="?", type=Path, help="JSON-lines events file")
    for command in (check, report):
        command.add_argument("--run", help="Dagster run id (default: the last captured)")
    check.add_argument("--manifest", type=Path, help="dbt manifest.json (default: the project's)")
    check.add_argument("--validator", type=Path, help="also run this validate_ol_events.py")
    report.add_argument("--out", type=Path, help="HTML file (default: report.html beside events)")
    replay = commands.add_parser("replay", help="send the spooled (undelivered) events")
    replay.add_argument("--config", type=Path, help="openlineage.yml (default: the usual lookup)")
    args = parser.parse_args(argv)
    try:
        if args.command == "replay":
            return replay_spool(args.config)
        path = args.events or configured_events_file()
        if not path.is_file():
            raise LineageConfigError(f"no events file at {path}")
        events = list(read_events(path))
        if args.command == "summary":
            print("\n".join(summary_lines(events)) + f"\n\nevents: {path.resolve()}")
            return 0
        run_id, run_events = pick_run(events, args.run)
        if args.command == "check":
            return check_events(path, run_id, run_events, args.manifest, args.validator)
        out = args.out or path.parent / "report.html"
        out.write_text(render_report(run_events, f"Lineage of Dagster run {run_id}"), "utf-8")
        print(f"report: {out.resolve()}")
        return 0
    except (LineageConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def pick_run(
    events: Sequence[Mapping[str, Any]], run_id: str | None
) -> tuple[str, list[Mapping[str, Any]]]:
    runs = runs_of(events)
    if not runs:
        raise ValueError("the events file holds no events")
    chosen = run_id or list(runs)[-1]
    if chosen not in runs:
        raise ValueError(f"no events of Dagster run {chosen}; runs: {', '.join(runs)}")
    return chosen, runs[chosen]


def check_events(
    path: Path,
    run_id: str,
    events: Sequence[Mapping[str, Any]],
    manifest: Path | None,
    validator: Path | None,
) -> int:
    manifest = manifest or default_manifest()
    report = check_run(events, DbtGraph.from_file(manifest), run_id)
    print("\n".join(report.lines()))
    ok = report.ok
    validator = validator or (
        Path(os.environ["FLOE_OL_VALIDATOR"]) if os.environ.get("FLOE_OL_VALIDATOR") else None
    )
    if validator is not None:
        done = subprocess.run([sys.executable, str(validator), "--strict", "-q", str(path)])
        ok = ok and done.returncode == 0
    return 0 if ok else 1


def default_manifest() -> Path:
    """``target/manifest.json`` of ``$DBT_PROJECT_DIR``, else of the project's ``dbt/``."""
    project = Path(os.environ.get("DBT_PROJECT_DIR") or PROJECT_ROOT / "dbt")
    return project / "target" / "manifest.json"


def replay_spool(config_path: Path | None) -> int:
    """Send the spool's events in order; exit 0 when the spool is empty afterwards."""
    config = resolve_config(PROJECT_ROOT, config_path)
    transport = config.transport()
    spool = Spool(config.spool_file)
    sent, left, failure = spool.drain(transport.emit)
    transport.close()
    print(f"replayed {sent} events from {spool.path}; {left} still spooled")
    if failure is not None:
        message = f"{type(failure).__name__}: {failure}"
        for secret in config.secrets:
            message = message.replace(secret, "***")
        print(f"error: delivery failed: {message}", file=sys.stderr)
    return 0 if left == 0 else 1


def configured_events_file() -> Path:
    """The file the configured file transport writes to."""
    config = resolve_config(PROJECT_ROOT)
    transport = config.client_config.get("transport", {})
    if transport.get("type") != "file":
        where = config.path or "the OPENLINEAGE_* variables"
        raise LineageConfigError(f"{where}: the transport is not a file; name the events file")
    return Path(transport["log_file_path"])


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON event: {exc}") from exc


def summary_lines(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """One row per run, in order of first event: job, final state, inputs -> outputs."""
    runs: dict[str, dict[str, Any]] = {}
    for event in events:
        run = runs.setdefault(
            event["run"]["runId"], {"job": event["job"]["name"], "state": "START"}
        )
        if event.get("eventType") in TERMINAL_STATES or run["state"] == "START":
            run["state"] = event.get("eventType", "?")
            run["inputs"] = [d["name"] for d in event.get("inputs", [])]
            run["outputs"] = [d["name"] for d in event.get("outputs", [])]
    width = max((len(r["job"]) for r in runs.values()), default=3)
    rows = [f"{'job':<{width}}  {'state':<8}  inputs -> outputs"]
    for run in runs.values():
        flow = f"{', '.join(run['inputs']) or '-'} -> {', '.join(run['outputs']) or '-'}"
        rows.append(f"{run['job']:<{width}}  {run['state']:<8}  {flow}")
    return rows
