"""Command line: ``python -m <package>.lineage summary [EVENTS]`` and ``... replay``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .config import LineageConfigError, find_config, load_config
from .spool import Spool

TERMINAL_STATES = ("COMPLETE", "FAIL", "ABORT")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m <package>.lineage")
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser(
        "summary", help="one line per captured run: job, state, inputs -> outputs"
    )
    summary.add_argument(
        "events",
        nargs="?",
        type=Path,
        help="JSON-lines events file (default: the file transport's)",
    )
    replay = commands.add_parser(
        "replay", help="send the spooled (undelivered) events through the configured transport"
    )
    replay.add_argument("--config", type=Path, help="openlineage.yml (default: the usual lookup)")
    args = parser.parse_args(argv)
    if args.command == "replay":
        return replay_spool(args.config)
    try:
        path = args.events or configured_events_file()
    except LineageConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"error: no events file at {path}", file=sys.stderr)
        return 2
    for line in summary_lines(read_events(path)):
        print(line)
    print(f"\nevents: {path.resolve()}")
    return 0


def replay_spool(config_path: Path | None) -> int:
    """Send the spool's events in order; exit 0 when the spool is empty afterwards."""
    try:
        path = config_path or find_config(Path.cwd())
        if path is None:
            raise LineageConfigError("no openlineage.yml found; pass --config")
        config = load_config(path)
        transport = config.transport()
    except LineageConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
    """The file the configured file transport writes to (config looked up from the cwd)."""
    config_path = find_config(Path.cwd())
    if config_path is None:
        raise LineageConfigError("no openlineage.yml found; name the events file")
    transport = load_config(config_path).client_config["transport"]
    if transport.get("type") != "file":
        raise LineageConfigError(f"{config_path}: transport is {transport.get('type')!r}, not file")
    return Path(transport["log_file_path"])


def read_events(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(f"{path}:{number}: not a JSON event: {exc}") from exc


def summary_lines(events: Iterable[dict[str, Any]]) -> list[str]:
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
