"""Lineage under faults: dead or slow backends, killed dbt, concurrent runs, bad input, and
secrets that must never leak. Nothing is lost, no run fails because of lineage, every START
is closed exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from conftest import (
    Backend,
    Workspace,
    copy_dbt_project,
    dbt_defs,
    make_workspace,
    materialize,
)
from schema_oracle import assert_schema_valid

pytestmark = pytest.mark.slow  # dbt runs in subprocesses, killed and blocked ones: minutes

SECRET = f"floe-{uuid.uuid4().hex}"  # made here: it cannot be in any file beforehand


def http_config(ws: Workspace, url: str) -> Path:
    config = ws.root / "openlineage-http.yml"
    config.write_text(
        "transport:\n"
        "  type: http\n"
        f"  url: {url}\n"
        "  auth:\n"
        "    type: api_key\n"
        "    apiKey: ${OPENLINEAGE_API_KEY:-}\n"
    )
    return config


def spooled(config: Path) -> list[dict[str, Any]]:
    spool = config.parent / ".lineage" / "spool.jsonl"
    return [json.loads(line) for line in spool.read_text().splitlines()] if spool.exists() else []


def closed_port() -> str:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def assert_complete(events: list[dict[str, Any]]) -> None:
    """Every run has START first and exactly one terminal event, then only OTHER events (what
    was learnt once dbt exited: a test's schema, a YAML snapshot's SQL and column lineage)."""
    runs: dict[str, list[str]] = {}
    for event in events:
        runs.setdefault(event["run"]["runId"], []).append(event["eventType"])
    for run_id, types in runs.items():
        assert types[0] == "START", (run_id, types)
        assert types[1] in {"COMPLETE", "FAIL", "ABORT"}, (run_id, types)
        assert set(types[2:]) <= {"OTHER"}, (run_id, types)


@pytest.mark.parametrize("fault", ["closed port", "HTTP 500", "never answers"])
def test_dead_backend_spools_everything_after_one_attempt(
    workspace: Workspace, backend: Backend, fault: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OPENLINEAGE_API_KEY", SECRET)
    backend.mode = {"HTTP 500": "fail", "never answers": "hang"}.get(fault, "ok")
    url = closed_port() if fault == "closed port" else backend.url
    config = http_config(workspace, url)
    instance = dg.DagsterInstance.ephemeral()

    result = materialize(
        workspace, config=config, strict=False, selection="raw_customers", instance=instance
    )

    assert result.success
    events = spooled(config)
    assert [e["job"]["name"] for e in events][-1] == f"{result.dagster_run.job_name}.floe"
    assert_complete(events)
    # one delivery attempt, then the breaker: the backend is not hammered while dbt waits
    assert backend.requests == (0 if fault == "closed port" else 1)
    logs = [entry.user_message for entry in instance.all_logs(result.run_id)]
    assert len([m for m in logs if m.startswith("OpenLineage: error while delivering")]) == 1
    assert not any(SECRET in message for message in logs)


def test_spooled_events_are_replayed_once_in_order(
    workspace: Workspace, backend: Backend, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OPENLINEAGE_API_KEY", SECRET)
    backend.mode = "fail"
    config = http_config(workspace, backend.url)
    result = materialize(workspace, config=config, strict=False)
    assert result.success
    waiting = spooled(config)
    # 23 dbt nodes and the step, START and terminal each (the facts in the seeds', models' and
    # snapshot's COMPLETE), an OTHER event per test and for the snapshot defined in YAML
    assert len(waiting) == 48 + 15

    backend.mode = "ok"
    replay = [str(Path(sys.executable).parent / "floe-lineage"), "replay", "--config", str(config)]
    done = subprocess.run(replay, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "replayed 63 events" in done.stdout
    again = subprocess.run(replay, capture_output=True, text=True, check=False)
    assert "replayed 0 events" in again.stdout

    assert backend.events == waiting  # every event exactly once, in the order they were made
    assert Counter(json.dumps(e, sort_keys=True) for e in backend.events).most_common(1)[0][1] == 1
    assert_complete(backend.events)
    assert backend.authorization == {f"Bearer {SECRET}"}
    # the key lives in the environment only: not in files, events or output
    for path in [*files_under(workspace.project), *files_under(workspace.root)]:
        try:  # tests running alongside (pytest-xdist) create and delete files meanwhile
            if path.stat().st_size < 5_000_000:
                assert SECRET.encode() not in path.read_bytes(), path
        except FileNotFoundError:
            continue
    assert SECRET not in done.stdout + done.stderr


def files_under(root: Path) -> Iterator[Path]:
    """Every file below ``root``; folders that vanish while it walks are skipped."""
    for folder, _, names in os.walk(root):
        yield from (Path(folder, name) for name in names)


def test_parse_error_fails_the_step_with_the_error_text(tmp_path: Path):
    project = copy_dbt_project(tmp_path / "dbt")
    ws = make_workspace(tmp_path / "ws", project)
    defs = dbt_defs(ws)  # parses the project as it is: the manifest lists every node
    (project / "models" / "broken.sql").write_text("select * from {{ ref('no_such_model') }}\n")

    result = dg.materialize(list(defs.assets or []), raise_on_error=False)

    assert not result.success
    events = ws.events()
    assert [e["eventType"] for e in events] == ["START", "FAIL"]  # the step only: no node ran
    assert "no_such_model" in events[1]["run"]["facets"]["errorMessage"]["message"]
    assert_schema_valid(ws.events_file)


SLOW_MODEL = "select count(*) as n from range(0, 20000000000) as t(i) where i % 7 = 3\n"


def dbt_processes(project: Path) -> list[int]:
    """Pids of the dbt processes Dagster started for ``project`` (Linux /proc)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            environ = (proc / "environ").read_bytes()
        except (OSError, ValueError):
            continue
        if f"DBT_PROJECT_DIR={project}\0".encode() in environ and proc.name.isdigit():
            found.append(int(proc.name))
    return found


def wait_for_start(ws: Workspace, job: str, running: Callable[[], bool]) -> None:
    """Until ``job``'s START is in the events file, however long that takes on a loaded
    machine; fails as soon as the run is over (``running()`` false) without it."""
    while not any(e["job"]["name"] == job and e["eventType"] == "START" for e in ws.events()):
        assert running(), f"the run ended and {job} never started"
        time.sleep(0.2)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the dbt process through /proc")
def test_killed_dbt_aborts_nodes_in_flight_and_fails_the_step(tmp_path: Path):
    project = copy_dbt_project(tmp_path / "dbt")
    (project / "models" / "marts" / "slow.sql").write_text(SLOW_MODEL)
    ws = make_workspace(tmp_path / "ws", project)
    results: list[dg.ExecuteInProcessResult] = []
    run = threading.Thread(target=lambda: results.append(materialize(ws)))
    run.start()
    wait_for_start(ws, "model.floe.slow", run.is_alive)
    for pid in dbt_processes(project):
        os.kill(pid, signal.SIGKILL)
    run.join()

    (result,) = results
    assert not result.success
    events = ws.events()
    assert_complete(events)
    final = {e["job"]["name"]: e for e in events if e["eventType"] != "START"}
    assert final["model.floe.slow"]["eventType"] == "ABORT"
    assert "dbt stopped" in final["model.floe.slow"]["run"]["facets"]["errorMessage"]["message"]
    step = [e for e in events if e["job"]["name"] == f"{result.dagster_run.job_name}.floe"]
    assert [e["eventType"] for e in step] == ["START", "FAIL"]
    assert_schema_valid(ws.events_file)


RUNNER = """
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from conftest import make_workspace, materialize

ws = make_workspace(Path(sys.argv[2]), Path(sys.argv[3]))
result = materialize(ws, config=Path(sys.argv[4]), strict=False)
sys.exit(0 if result.success else 1)
"""


def start_run(config: Path, root: Path, project: Path) -> subprocess.Popen:
    """A Dagster run of ``project`` in another process, its DuckDB file under ``root``,
    lineage configured by ``config``."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            RUNNER,
            str(Path(__file__).parent),
            str(root),
            str(project),
            str(config),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_two_runs_append_to_one_events_file_without_losing_a_line(
    tmp_path: Path, sample_project: Path
):
    shared = make_workspace(tmp_path / "shared", sample_project)
    runs = [start_run(shared.config, tmp_path / f"run{i}", sample_project) for i in range(2)]
    assert [run.wait() for run in runs] == [0, 0]
    lines = shared.events_file.read_text().splitlines()
    events = [json.loads(line) for line in lines]  # no torn or interleaved line
    assert len(events) == 2 * (48 + 15)  # OTHER events: the tests' and the YAML snapshot's
    roots = {e["run"]["facets"]["parent"]["root"]["run"]["runId"] for e in events}
    assert len(roots) == 2  # both Dagster runs are there, each complete
    assert_complete(events)
    assert_schema_valid(shared.events_file)


def test_second_run_on_a_locked_database_fails_clearly_with_complete_lineage(tmp_path: Path):
    first_project = copy_dbt_project(tmp_path / "first")
    (first_project / "models" / "marts" / "slow.sql").write_text(SLOW_MODEL)
    first_ws = make_workspace(tmp_path / "first-ws", first_project)
    first = start_run(first_ws.config, tmp_path / "first-ws", first_project)
    try:
        wait_for_start(first_ws, "model.floe.slow", lambda: first.poll() is None)
        second_ws = make_workspace(tmp_path / "second-ws", copy_dbt_project(tmp_path / "second"))
        # under the first run's folder: its profile points at the first run's DuckDB file
        second = start_run(second_ws.config, tmp_path / "first-ws", second_ws.project)
        assert second.wait() == 1  # dbt cannot take the DuckDB lock: the run fails clearly
    finally:
        first.kill()
        first.wait()
    events = second_ws.events()
    assert_complete(events)
    messages = " ".join(
        e["run"]["facets"].get("errorMessage", {}).get("message", "") for e in events
    )
    assert "lock" in messages.lower()
