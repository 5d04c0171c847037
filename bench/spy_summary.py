"""Where the wall-clock time of one ``dg launch`` went, from a py-spy recording.

    py-spy record --subprocesses --idle --threads --rate 20 --format raw -o RUN.raw -- dg launch ...
    python bench/spy_summary.py RUN.raw [--rate 20] [--top 25]

With ``--idle`` every sample of a thread counts, waiting or not, so a process's main thread
adds up to its lifetime. Each sample of the main thread of the ``dg`` process, of the step
process (the multiprocess executor's child) and of dbt goes to the first phase below whose
function is on its stack (``PHASES``: floe-lineage's own work first, then Dagster's and
dagster-dbt's, then imports); dbt's worker threads are split into time blocked writing their log
lines (a full pipe: the reader, Dagster's step, is behind) and the rest. ``--top`` also lists the
functions with the most inclusive time per process.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path
from typing import Any

PHASES = (
    # (phase, a function on the stack, as "Class.method (file" or "function (file")
    ("lineage: observe (floe-lineage)", "InvocationLineage.observe ("),
    ("lineage: finish, facts, close (floe-lineage)", "InvocationLineage.finish ("),
    ("lineage: finish, facts, close (floe-lineage)", "LineageEmitter.close ("),
    ("lineage: start (floe-lineage)", "InvocationLineage.start ("),
    ("dbt --version subprocess (dagster-dbt DbtCliResource._cli_version)", "._cli_version ("),
    (
        "dbt adapter built in process (dagster-dbt _initialize_dbt_core_adapter)",
        "._initialize_dbt_core_adapter (",
    ),
    ("dbt parse, dev-mode prepare (DbtProjectWithLineage.build_defs)", "._prepare_manifest ("),
    (
        "Dagster output check: get_output_asset_keys (quadratic)",
        "StepExecutionContext.get_output_asset_keys (",
    ),
    (
        "Dagster output check: get_output_asset_keys (quadratic)",
        "AssetLayer.get_selected_entity_keys_for_node (",
    ),
    ("run creation: planned events", "RunDomain._log_asset_planned_events ("),
    ("event log writes (SQLite)", "SqliteEventLogStorage.store_event ("),
    ("Dagster: asset records for data versions", "DataVersionCache."),
    ("Dagster: outputs, type checks, materializations", "_type_check_and_store_output ("),
    ("Dagster event handling", "DagsterEvent.from_step ("),
    ("dagster-dbt event conversion", ".to_default_asset_events ("),
    ("reading dbt's output (waiting for dbt)", "DbtCliInvocation._stream_stdout ("),
    ("reading dbt's output (waiting for dbt)", "_observed ("),
    ("definitions: dagster-dbt build_dbt_specs", "build_dbt_specs ("),
    ("definitions: component JSON schemas (dg)", "get_library_json_enriched_defs ("),
    ("definitions: component tree, rest", "load_from_defs_folder ("),
    ("execution plan", "create_execution_plan ("),
    ("instance", "DagsterInstance.from_ref ("),
    ("imports", "_find_and_load ("),
    ("waiting for the step process", "execute_step_out_of_process ("),
    ("waiting for the step process", "MultiprocessExecutor.execute ("),
)
DBT_LOG_WRITE = "_Logger.write_line ("
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def split_stack(stack: str) -> list[str]:
    """Frames of one py-spy raw line; a ``process N:"command"`` frame may hold ``;``."""
    frames: list[str] = []
    pending: str | None = None
    for piece in stack.split(";"):
        if pending is not None:
            pending += ";" + piece
            if piece.count('"') % 2:
                frames.append(pending)
                pending = None
        elif piece.startswith("process ") and piece.count('"') % 2:
            pending = piece
        else:
            frames.append(piece)
    return frames


def kind_of(command: str) -> str:
    if " launch " in f" {command} " and "/dg" in command:
        return "dg launch"
    if "multiprocessing.spawn" in command or "multiprocessing-fork" in command:
        return "step process"
    if "/dbt " in command or command.endswith("/dbt"):
        return "dbt " + command.split("/dbt", 1)[1].strip().split(" ")[0]
    return "other"


def summarize_launch(raw: Path, rate: float = 20, top: int = 0) -> dict[str, Any]:
    """Seconds per process (main thread) and phase; ``lines``: the same as text."""
    processes: dict[str, dict[str, Any]] = {}
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = split_stack(stack)
        at = max((i for i, f in enumerate(frames) if f.startswith("process ")), default=-1)
        if at < 0:
            continue
        match = re.match(r'process (\d+):"(.*)"', frames[at], re.S)
        pid, command = (match.group(1), match.group(2)) if match else ("?", frames[at])
        rest = frames[at + 1 :]
        thread = ""
        if rest and rest[0].startswith("thread "):
            thread = rest[0].split(": ", 1)[1] if ": " in rest[0] else ""
            rest = rest[1:]
        seconds = int(count) / rate
        kind = kind_of(command)
        entry = processes.setdefault(
            pid,
            {
                "kind": kind,
                "command": command[:120],
                "seconds": 0.0,
                "phases": collections.Counter(),
                "functions": collections.Counter(),
                "workers": 0.0,
                "workers_writing_log": 0.0,
            },
        )
        if thread != "MainThread":
            if kind.startswith("dbt") and "worker" in thread:
                entry["workers"] += seconds
                if any(DBT_LOG_WRITE in f for f in rest):
                    entry["workers_writing_log"] += seconds
            continue
        entry["seconds"] += seconds
        joined = ";".join(rest)
        phase = next((name for name, marker in PHASES if marker in joined), "other")
        if kind.startswith("dbt"):
            phase = "dbt"
        entry["phases"][phase] += seconds
        if top:
            seen = set()
            for frame in rest:
                found = FRAME.match(frame)
                name = f"{found['function']} ({found['file']})" if found else frame
                if name not in seen:
                    seen.add(name)
                    entry["functions"][name] += seconds
    lines = []
    ordered = sorted(processes.items(), key=lambda kv: -kv[1]["seconds"])
    for pid, entry in ordered:
        if entry["seconds"] < 0.5 or entry["kind"] == "other":
            continue
        lines.append(f"{entry['kind']} (pid {pid}): {entry['seconds']:.1f}s")
        for phase, seconds in entry["phases"].most_common():
            if seconds >= 0.2 and phase != "dbt":
                lines.append(f"    {seconds:8.1f}s  {phase}")
        if entry["workers"]:
            share = entry["workers_writing_log"] / entry["workers"] * 100
            lines.append(
                f"    worker threads blocked writing log lines to Dagster's pipe: {share:.0f}%"
            )
        for name, seconds in entry["functions"].most_common(top):
            lines.append(f"      {seconds:8.1f}s  {name}")
    return {
        "processes": {
            pid: {k: (dict(v) if isinstance(v, collections.Counter) else v) for k, v in e.items()}
            for pid, e in ordered
            if e["kind"] != "other"
        },
        "lines": lines,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path)
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--top", type=int, default=0)
    args = parser.parse_args()
    print("\n".join(summarize_launch(args.raw, args.rate, args.top)["lines"]))


if __name__ == "__main__":
    main()
