"""``floe-lineage``: look at, check and deliver captured lineage, from a project's folder.

``summary`` prints each captured run (a header with its state and the dbt nodes' states, then a
line per node; WARN: a dbt test that completed with a failed assertion); ``check`` verifies a
run's events against the manifest of the dbt project they came from (``manifest_lookup``) and
the OpenLineage schemas, counts the warned tests, and finds runs left open anywhere in the file
(exit 1 on problems); ``report`` writes a self-contained HTML lineage graph; ``replay`` sends
the spooled, undelivered events; ``recover`` closes, with ABORT, the runs a killed process left
open; ``diff BASE HEAD`` compares the lineage of two captures (datasets, jobs, columns, column
lineage, classification, and every column downstream of a changed edge; exit 1 when something
changed; either side may be a compiled dbt project instead: lineage before any run); ``impact
MODEL.COLUMN`` lists the columns downstream (``--upstream``: upstream) of one column with their
paths; ``publish --static`` sends the lineage (captured, or of a compiled project) as static
JobEvents and DatasetEvents; ``capture PROJECT --out FILE`` runs a Dagster project's dbt assets
once in isolation and keeps the run's events. Events default to the file the configured file
transport writes, and the run to the last one captured. A file, configuration or manifest that
cannot be used is one line of error, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..delivery.config import LineageConfigError, resolve_config
from ..delivery.emitter import LineageEmitter, redact
from ..delivery.replay import DEFAULT_REPLAY_DEADLINE, Stopped, replay
from ..graph.diff import diff_graphs
from ..graph.impact import column_impact, resolve_column
from ..graph.model import LineageGraph
from ..graph.static import static_events
from ..producer import default_producer
from .check import RECOVER_HINT, check_run, open_runs, runs_of
from .diff_output import FORMATS, RENDER_DIFF, impact_output
from .events_file import read_events
from .lineage_input import read_graph
from .manifest_lookup import find_manifest
from .report import render_report
from .summary import summary_lines
from .validation import event_problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="floe-lineage", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", type=Path, help="openlineage.yml (default: the OpenLineage lookup from here)"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=summary, parents=[common])

    summary = command("summary", "each run: its state, then a line per dbt node")
    check = command("check", "check the last run's events (manifest, schemas)")
    report = command("report", "write an HTML lineage graph of the last run")
    for reader in (summary, check, report):
        reader.add_argument("events", nargs="?", type=Path, help="JSON-lines events file")
    for reader in (check, report):
        reader.add_argument(
            "--run", help="root run id or a unique prefix, e.g. a Dagster run (default: the last)"
        )
    check.add_argument(
        "--manifest",
        type=Path,
        help="dbt manifest.json (default: that of the events' dbt project: $DBT_PROJECT_DIR, else"
        " the first of the defs.yaml project_dir, ./dbt and . whose dbt_project.yml names it;"
        " there the one dagster-dbt wrote for the run, else target/manifest.json)",
    )
    report.add_argument("--out", type=Path, help="HTML file (default: report.html beside events)")
    diff = command("diff", "what changed in the lineage between two captures (exit 1: changes)")
    lineage_source = (
        " events file, or a compiled dbt project: its folder, target folder or manifest.json"
    )
    diff.add_argument("base", help="the base (e.g. main):" + lineage_source)
    diff.add_argument("head", nargs="?", help="the head (e.g. a pull request):" + lineage_source)
    diff.add_argument(
        "--git",
        action="store_true",
        help="BASE and HEAD are git refs of the dbt project (HEAD omitted: the working tree),"
        " each compiled with `dbt compile` into a temporary target (no run)",
    )
    diff.add_argument(
        "--project-dir",
        type=Path,
        help="with --git: the dbt project (default: $DBT_PROJECT_DIR, else ./dbt, else .)",
    )
    impact = command("impact", "the columns downstream (or upstream) of one column, with paths")
    impact.add_argument("column", help="MODEL.COLUMN (the model as any unique suffix of its name)")
    impact.add_argument("events", nargs="?", type=Path, help=lineage_source.strip())
    impact.add_argument("--upstream", action="store_true", help="upstream instead of downstream")
    for shown in (diff, impact):
        shown.add_argument("--format", choices=FORMATS, default="text", help="default: text")
    publish = command("publish", "send the captured lineage as static lineage (--static)")
    publish.add_argument("events", nargs="?", type=Path, help=lineage_source.strip())
    publish.add_argument(
        "--static",
        action="store_true",
        required=True,
        help="a DatasetEvent per dataset and a JobEvent per dbt job (OpenLineage static lineage)",
    )
    publish.add_argument("--producer", help="the events' producer URI (default: floe-lineage's)")
    capture = command("capture", "run a Dagster project's dbt assets once in isolation")
    capture.add_argument("project", nargs="?", type=Path, default=Path("."), help="default: .")
    capture.add_argument("--out", type=Path, required=True, help="JSON-lines events file")
    replay = command("replay", "send the spooled (undelivered) events")
    replay.add_argument(
        "--deadline",
        type=float,
        default=DEFAULT_REPLAY_DEADLINE,
        help=f"seconds the replay may take in all (default: {DEFAULT_REPLAY_DEADLINE:g})",
    )
    command("recover", "ABORT the runs a killed process left open")
    args = parser.parse_args(argv)
    try:
        if args.command == "replay":
            return replay_spool(args.config, args.deadline)
        if args.command == "recover":
            return recover(args.config)
        if args.command == "capture":
            return capture_events(args.project, args.out)
        if args.command == "publish":
            source = args.events or configured_events_file(args.config)
            return publish_static(read_graph(source), args.config, args.producer)
        if args.command == "diff":
            if args.git:
                return show_git_diff(args.base, args.head, args.project_dir, args.format)
            if args.head is None:
                raise ValueError("diff: name BASE and HEAD (or git refs with --git)")
            return show_diff(Path(args.base), Path(args.head), args.format)
        if args.command == "impact":
            graph = read_graph(args.events or configured_events_file(args.config))
            try:
                asked = resolve_column(graph, args.column)
            except LookupError as exc:
                raise ValueError(str(exc).strip('"')) from exc
            reached = column_impact(graph, asked, args.upstream)
            print(impact_output(asked, reached, args.upstream, args.format))
            return 0
        path = args.events or configured_events_file(args.config)
        if not path.is_file():
            raise LineageConfigError(f"no events file at {path}")
        events = list(read_events(path))
        if args.command == "summary":
            print("\n".join(summary_lines(events)) + f"\nevents: {path.resolve()}")
            return 0
        run_id, run_events = pick_run(events, args.run)
        if args.command == "check":
            return check_events(run_id, run_events, args.manifest, open_runs(events))
        out = args.out or path.parent / "report.html"
        out.write_text(render_report(run_events, f"Lineage of run {run_id}"), "utf-8")
        print(f"report: {out.resolve()}")
        return 0
    except BrokenPipeError:  # `floe-lineage summary | head`: the reader has read enough
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (LineageConfigError, ValueError, OSError) as exc:
        print(f"error: {redact(str(exc))}", file=sys.stderr)
        return 2


def show_diff(base: Path, head: Path, form: str) -> int:
    """Print the lineage diff of two captures; 0 when nothing changed, 1 when something did."""
    found = diff_graphs(read_graph(base), read_graph(head))
    print(RENDER_DIFF[form](found, str(base), str(head)))
    return 1 if found.changed else 0


def publish_static(graph: LineageGraph, config_path: Path | None, producer: str | None) -> int:
    """Send the graph's static lineage through the configured transport; 0 when all was sent."""
    config = resolve_config(Path.cwd(), config_path)
    transport = config.transport()
    sent = 0
    try:
        for event in static_events(
            graph, producer or default_producer(), datetime.now(timezone.utc)
        ):
            transport.emit(event)
            sent += 1
    finally:
        transport.close()
    print(f"published {len(graph.datasets)} datasets and {len(graph.jobs)} jobs ({sent} events)")
    return 0


def capture_events(project: Path, out: Path) -> int:
    """Run the project's dbt assets once in isolation (``testing.capture``: a database and an
    events file of their own) and write the run's events to ``out``, datasets under the names
    the project configures, so two captures (e.g. of a pull request's base and head) diff.
    The project's code is imported from its ``src/`` (else its root) before any installed copy."""
    import tempfile

    from ..testing.capture import CaptureError, capture_lineage

    # the project's own code, even where another checkout of it is installed (a base branch)
    sources = project.resolve() / "src"
    sys.path.insert(0, str(sources if sources.is_dir() else project.resolve()))
    with tempfile.TemporaryDirectory(prefix="floe-capture-") as scratch:
        try:
            captured = capture_lineage(project.resolve(), Path(scratch))
        except CaptureError as exc:
            raise ValueError(str(exc)) from exc
        lines = [json.dumps(event) for event in captured.events]
    for copy, configured in captured.renamed.items():
        lines = [line.replace(f'"{copy}.', f'"{configured}.') for line in lines]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(f"{line}\n" for line in lines), "utf-8")
    print(f"captured {len(lines)} events of run {captured.run_id}: {out}")
    return 0


def show_git_diff(base: str, head: str | None, project_dir: Path | None, form: str) -> int:
    """The lineage diff of the dbt project at two git refs (``head`` None: the working tree)."""
    import tempfile

    from .git_refs import default_project_dir, graph_at

    project = project_dir or default_project_dir(Path.cwd())
    with tempfile.TemporaryDirectory(prefix="floe-diff-") as scratch:
        (Path(scratch) / "base").mkdir()
        (Path(scratch) / "head").mkdir()
        before = graph_at(base, project, Path(scratch) / "base")
        after = graph_at(head, project, Path(scratch) / "head")
    found = diff_graphs(before, after)
    print(RENDER_DIFF[form](found, base, head or "working tree"))
    return 1 if found.changed else 0


def pick_run(
    events: Sequence[Mapping[str, Any]], run_id: str | None
) -> tuple[str, list[Mapping[str, Any]]]:
    runs = runs_of(events)
    if not runs:
        raise ValueError("the events file holds no events")
    if run_id is None:
        chosen = list(runs)[-1]
        return chosen, runs[chosen]
    matching = [run for run in runs if run.startswith(run_id)]
    if len(matching) != 1:
        why = "names several runs" if matching else "names no run"
        raise ValueError(f"--run {run_id!r} {why}; runs: {', '.join(matching or runs)}")
    return matching[0], runs[matching[0]]


def check_events(
    run_id: str,
    events: Sequence[Mapping[str, Any]],
    manifest: Path | None,
    left_open: Sequence[str] = (),
) -> int:
    """Print the manifest compared with, the check of one run and the runs ``left_open``
    anywhere in the file; 0 when the run is complete, matches the DAG, is schema-valid and
    nothing is left open (warned tests are not problems). A manifest of another dbt project than
    the events', or none, raises ``LineageConfigError`` (see ``manifest_lookup``)."""
    found = find_manifest(events, run_id, manifest, Path.cwd(), os.environ)
    report = check_run(events, found.graph, run_id)
    invalid = event_problems(events)
    print(found.line())
    print("\n".join(report.lines()))
    if invalid:
        print(f"{len(invalid)} schema violations:")
        print("\n".join(f"  - {problem}" for problem in invalid))
    else:
        print(f"OK: all {len(events)} events are valid OpenLineage (shipped schemas, strict)")
    if left_open:
        print(f"{len(left_open)} runs in the file were started and never ended ({RECOVER_HINT}):")
        print("\n".join(f"  - {run}" for run in left_open))
    return 0 if report.ok and not invalid and not left_open else 1


def replay_spool(config_path: Path | None, deadline: float = DEFAULT_REPLAY_DEADLINE) -> int:
    """Send the spool's events in order within ``deadline`` seconds, stopping at the first
    dead-looking backend; exit 0 when the spool is empty afterwards, else 1."""
    config = resolve_config(Path.cwd(), config_path)
    done = replay(config, deadline)
    print(f"replayed {done.sent} events from {config.spool_file}; {done.left} still spooled")
    if isinstance(done.stopped, Stopped):
        print(f"error: stopped: {done.stopped}; run replay again later", file=sys.stderr)
    elif done.stopped is not None:
        message = redact(f"{type(done.stopped).__name__}: {done.stopped}", config.secrets)
        print(f"error: delivery failed: {message}", file=sys.stderr)
    return 0 if done.left == 0 else 1


class _Stderr:
    """The emitter's warnings, printed as they come."""

    def warning(self, msg: str, *args: Any) -> None:
        print(msg % args if args else msg, file=sys.stderr)


def recover(config_path: Path | None) -> int:
    """ABORT the runs recorded open by processes that are gone; 0 unless it failed, else the
    error is printed (an ABORT that could not be delivered is in the spool) and 2."""
    try:
        with LineageEmitter.configure(
            Path.cwd(), config_path=config_path, strict=True, log=_Stderr()
        ) as emitter:
            closed = emitter.close_orphans()
    except LineageConfigError:
        raise
    except Exception as exc:  # a transport's own errors are of any type
        print(f"error: {redact(f'{type(exc).__name__}: {exc}')}", file=sys.stderr)
        return 2
    print(f"closed {closed} runs left open by a process that is gone")
    return 0


def configured_events_file(config_path: Path | None) -> Path:
    """The file the configured file transport writes to."""
    config = resolve_config(Path.cwd(), config_path)
    transport = config.client_config.get("transport", {})
    if transport.get("type") != "file":
        where = config.path or "the OPENLINEAGE_* variables"
        raise LineageConfigError(f"{where}: the transport is not a file; name the events file")
    return Path(transport["log_file_path"])
