"""The generated project's production Dagster instance (``deploy/dagster.yaml``): storage on a
real PostgreSQL server, the daemon, the run queue, a schedule, lineage over HTTP.

Fast: the rendered instance file loads as Dagster's instance configuration and reaches the
storage check, whose errors name the variable and never the password.

Slow (``test_production_instance_runs_queued_and_scheduled_runs_with_lineage_over_http``): a
PostgreSQL server started as floe-lineage's warehouse tests start one, a project rendered with
the ``http`` lineage transport pointed at an HTTP collector in the test (every request stored),
``dagster-daemon run`` and ``dagster-webserver`` from the project root with
``DAGSTER_HOME=deploy``. Three runs launched at once through the webserver's GraphQL API (the
UI's way) and the floe.yaml schedule (``* * * * *``, enabled) all succeed; the daemon is killed
(SIGKILL) while a run's dbt step is running and started again, and the collector answers 503
until that run ends. Every lineage event is then either delivered or in the project's spool,
``floe-lineage replay`` delivers the rest, and the collector holds each (run id, event type)
once, every START closed, every dbt node under its Dagster step run under its Dagster run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, Renders, assert_schema_valid, render
from test_generated_project import REDIRECTING, suite_env

PG_VARIABLES = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD")
DEADLINE = 420  # seconds any one wait may take on a busy 2-core machine
TERMINAL_RUN = {"SUCCESS", "FAILURE", "CANCELED"}
TERMINAL_EVENT = {"COMPLETE", "FAIL", "ABORT"}


def _floe_lineage_test_module(name: str) -> Any:
    """A helper module of floe-lineage's tests, loaded by path (another pytest root)."""
    path = ROOT / "floe-lineage" / "tests" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"floe_lineage_tests_{name}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def instance_load(deploy: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Load the instance of ``deploy`` as every Dagster process does (``DAGSTER_HOME``) and
    list its runs."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import dagster; print(len(dagster.DagsterInstance.get().get_runs()))",
        ],
        env={**suite_env(deploy), "DAGSTER_HOME": str(deploy), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


# -- fast: the instance file --------------------------------------------------------------


def test_the_production_instance_takes_postgres_and_the_queue_from_the_environment(
    rendered: Renders, tmp_path: Path
) -> None:
    project = rendered("defaults")
    config = yaml.safe_load((project / "deploy" / "dagster.yaml").read_text())
    assert config["storage"] == {
        "custom": {
            "module": "floe_lineage.dagster.production",
            "class": "PostgresStorageFromEnvironment",
        }
    }
    assert config["run_coordinator"]["class"] == "QueuedRunsFromEnvironment"
    assert config["run_coordinator"]["config"]["max_concurrent_runs"] == 4
    assert config["concurrency"] == {"pools": {"default_limit": 1}}
    assert config["run_monitoring"] == {"enabled": True, "free_slots_after_run_end_seconds": 60}
    # the project's default instance is untouched, its dbt step in the pool the file limits
    assert "sqlite" in yaml.safe_load((project / "dagster.yaml").read_text())["storage"]
    defs = project / "src" / "floe_defaults" / "defs" / "transform" / "defs.yaml"
    op = yaml.safe_load(defs.read_text())["attributes"]["op"]
    assert op == {"name": "floe_defaults", "pool": "dbt_warehouse"}  # the name dagster-dbt gives
    pyproject = (project / "pyproject.toml").read_text()
    assert 'production = [\n    "dagster-postgres>=0.29,<0.30",' in pyproject

    # Dagster accepts the file as instance configuration and builds the storage, whose check
    # of the variables is what stops it: nothing listens on the port
    deploy = shutil.copytree(project / "deploy", tmp_path / "deploy")
    password = "s3cr3t-never-shown"
    port = free_port()
    env = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(port),
        "DAGSTER_PG_USER": "floe",
        "DAGSTER_PG_PASSWORD": password,
        "DAGSTER_PG_DB": "dagster",
    }
    done = instance_load(deploy, env)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("floe_lineage.dagster.production.ProductionInstanceError: "), last
    assert f"DAGSTER_PG_PORT={port}: no PostgreSQL server answers" in last
    assert password not in done.stdout + done.stderr
    assert "Retrying" not in done.stderr  # one error, not dagster-postgres's retries

    missing = instance_load(deploy, {k: v for k, v in env.items() if k != "DAGSTER_PG_DB"})
    last = missing.stderr.strip().splitlines()[-1]
    assert "DAGSTER_PG_DB is not set" in last, missing.stderr[-2000:]
    assert password not in missing.stdout + missing.stderr


# -- slow: a real server, the daemon, queued and scheduled runs, lineage over HTTP ---------


class Collector:
    """An OpenLineage HTTP backend for the test: stores the body of every request and answers
    200; while ``refusing``, it stores nothing and answers 503 (a backend that is away)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.refusing = False
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with collector._lock:
                    refused = collector.refusing
                    if not refused:
                        collector.bodies.append(body)
                self.send_response(503 if refused else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for body in self.bodies]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Service:
    """A Dagster process of the deployment (daemon, webserver) in a process group of its own,
    so stopping it stops what it started (code servers, run workers)."""

    def __init__(self, args: list[str], project: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                args,
                cwd=project,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill_only_itself(self) -> None:
        """SIGKILL to this process alone, as a crash: its children live on."""
        self.process.kill()
        self.process.wait()

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def wait_for(what: str, check: Any, services: list[Service], deadline: float = DEADLINE) -> Any:
    """Poll ``check`` until it returns a true value; fail after ``deadline`` seconds, or when
    a service exited, with the services' log tails."""
    end = time.monotonic() + deadline
    while True:
        found = check()
        if found:
            return found
        exited = [s for s in services if s.process.poll() is not None]
        if exited or time.monotonic() > end:
            tails = "\n".join(s.log.read_text(errors="replace")[-3000:] for s in services)
            why = "a service exited" if exited else "timeout"
            pytest.fail(f"waiting for {what}: {why}\n{tails}")
        time.sleep(1)


def graphql(port: int, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer
    return answer["data"]


RUNS = """{ runsOrError { ... on Runs { results {
  runId status tags { key value } } } } }"""
LAUNCH = """mutation($selector: JobOrPipelineSelector!) {
  launchRun(executionParams: {selector: $selector}) {
    __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
SCHEDULES = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
  name location { name } schedules { id name scheduleState { status } } } } } }"""
STOP_SCHEDULE = """mutation($id: String!) { stopRunningSchedule(id: $id) { __typename } }"""


def runs(port: int) -> dict[str, dict[str, Any]]:
    """Run id -> {status, tags} of every run the instance has."""
    try:
        results = graphql(port, RUNS)["runsOrError"]["results"]
    except OSError:
        return {}
    return {
        r["runId"]: {"status": r["status"], "tags": {t["key"]: t["value"] for t in r["tags"]}}
        for r in results
    }


@pytest.fixture(scope="module")
def postgres() -> Iterator[Any]:
    """A real PostgreSQL server (floe-lineage's tests' ``postgres_server``), skipped where the
    server binaries are missing unless ``CI`` requires them."""
    module = _floe_lineage_test_module("postgres_server")
    try:
        module.binaries()
    except RuntimeError as missing:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(missing))
    if os.geteuid() != 0:
        pytest.skip("starts PostgreSQL as the postgres user: run as root (CI) for this test")
    with module.server_as_postgres_user() as server:
        yield server


@pytest.mark.slow
def test_production_instance_runs_queued_and_scheduled_runs_with_lineage_over_http(
    postgres: Any, tmp_path: Path
) -> None:
    started = time.monotonic()
    postgres.create_database("dagster")
    project = render(
        tmp_path / "project", {"project_name": "Prod Line", "lineage_transport": "http"}
    )
    spec = project / "floe.yaml"  # the floe.yaml schedule, every minute and running
    spec.write_text(
        spec.read_text()
        .replace('cron: "0 6 * * *"', 'cron: "* * * * *"')
        .replace("enabled: false", "enabled: true")
    )
    collector = Collector()
    deploy = project / "deploy"
    env = {key: value for key, value in suite_env(project).items() if key not in REDIRECTING}
    env |= {
        "DAGSTER_HOME": str(deploy),
        "DAGSTER_PG_HOST": postgres.host,
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_USER": postgres.user,
        "DAGSTER_PG_PASSWORD": postgres.password,
        "DAGSTER_PG_DB": "dagster",
        "OPENLINEAGE_URL": collector.url,
    }
    bin_dir = Path(sys.executable).parent
    port = free_port()
    daemon = Service(
        [str(bin_dir / "dagster-daemon"), "run"], project, env, tmp_path / "daemon.log"
    )
    webserver = Service(
        [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)],
        project,
        env,
        tmp_path / "webserver.log",
    )
    services = [daemon, webserver]
    try:
        repository = wait_for("the webserver's repository", lambda: repository_of(port), services)
        selector = {
            "repositoryLocationName": repository["location"]["name"],
            "repositoryName": repository["name"],
            "jobName": "prod_line_job",
        }
        # three runs launched at once, as three users of the UI would
        with_threads: list[dict[str, Any]] = []
        threads = [
            threading.Thread(
                target=lambda: with_threads.append(
                    graphql(port, LAUNCH, {"selector": selector})["launchRun"]
                )
            )
            for _ in range(3)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [r["__typename"] for r in with_threads] == ["LaunchRunSuccess"] * 3, with_threads
        launched = {r["run"]["runId"] for r in with_threads}

        # the daemon is killed while a run's dbt step runs (its dbt nodes have started)
        def dbt_running() -> str | None:
            statuses = runs(port)
            for event in collector.events():
                root = event["run"]["facets"].get("parent", {}).get("root", {})
                run_id = root.get("run", {}).get("runId")
                if (
                    event["job"]["name"].startswith(("model.", "seed."))
                    and statuses.get(run_id, {}).get("status") == "STARTED"
                ):
                    return run_id
            return None

        killed_during = wait_for("a run's dbt nodes to start", dbt_running, services)
        # ... and the backend is away until that run ends: the rest of its events are spooled
        collector.refusing = True
        daemon.kill_only_itself()
        daemon = Service(
            [str(bin_dir / "dagster-daemon"), "run"], project, env, tmp_path / "daemon.log"
        )
        services = [daemon, webserver]
        wait_for(
            "the run the daemon was killed during to end",
            lambda: runs(port).get(killed_during, {}).get("status") in TERMINAL_RUN,
            services,
        )
        collector.refusing = False

        def scheduled(found: dict[str, dict[str, Any]]) -> set[str]:
            return {
                run_id
                for run_id, run in found.items()
                if run["tags"].get("dagster/schedule_name") == "prod_line_schedule"
            }

        wait_for("the schedule's first run", lambda: scheduled(runs(port)), services)
        for schedule in repository["schedules"]:  # one scheduled run is enough
            graphql(port, STOP_SCHEDULE, {"id": schedule["id"]})

        def everything_ended() -> dict[str, dict[str, Any]] | None:
            found = runs(port)
            done = {run_id for run_id, run in found.items() if run["status"] in TERMINAL_RUN}
            # a run the schedule queued while it was being stopped may stay queued
            queued = {run_id for run_id, run in found.items() if run["status"] == "QUEUED"}
            if launched <= done and scheduled(found) & done and done | queued == set(found):
                return found
            return None

        final = wait_for("the launched runs and a scheduled one to end", everything_ended, services)
    finally:
        for service in services:
            service.stop()
    ended = {run_id: run["status"] for run_id, run in final.items() if run["status"] != "QUEUED"}
    assert all(status == "SUCCESS" for status in ended.values()), (ended, killed_during)
    assert launched <= set(ended)
    scheduled = [r for r in final.values() if r["tags"].get("dagster/schedule_name")]
    assert scheduled, final

    # nothing lost: what the collector missed is in the spool, and replay delivers it
    spool = project / ".lineage" / "spool.jsonl"
    spooled = len(spool.read_text().splitlines()) if spool.exists() else 0
    before_replay = len(collector.events())
    if spooled:
        replay = subprocess.run(
            [str(bin_dir / "floe-lineage"), "replay"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert replay.returncode == 0, replay.stdout + replay.stderr
    events = collector.events()
    assert spooled > 0  # the killed daemon's run ended while the backend was away
    assert len(events) == before_replay + spooled
    collector.close()

    once = Counter((e["run"]["runId"], e["eventType"]) for e in events)
    assert [key for key, count in once.items() if count > 1] == []
    started_runs = {run for run, kind in once if kind == "START"}
    closed = {run for run, kind in once if kind in TERMINAL_EVENT}
    assert started_runs == closed

    dagster_runs = set(ended)
    by_run = {e["run"]["runId"]: e for e in events if e["eventType"] == "START"}
    steps = {}
    for run_id, event in by_run.items():
        parent = event["run"]["facets"]["parent"]
        if parent["run"]["runId"] in dagster_runs:  # the Dagster step's run
            assert parent["root"]["run"]["runId"] == parent["run"]["runId"]
            assert event["job"]["name"] == "prod_line_job.prod_line"  # the step: the dbt project
            steps[run_id] = parent["run"]["runId"]
    assert set(steps.values()) == dagster_runs  # every run's step emitted lineage
    nodes = [e for e in by_run.values() if e["run"]["runId"] not in steps]
    assert len(nodes) == 23 * len(dagster_runs)  # the sample's dbt nodes, in every run
    for node in nodes:
        parent = node["run"]["facets"]["parent"]
        assert parent["run"]["runId"] in steps, node["job"]["name"]
        assert parent["root"]["run"]["runId"] == steps[parent["run"]["runId"]]

    events_file = tmp_path / "collected.jsonl"
    events_file.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert_schema_valid(events_file, minimum=len(events))
    print(
        f"runs {len(dagster_runs)} (daemon killed during {killed_during}), events"
        f" {len(events)}, spooled {spooled}, {time.monotonic() - started:.0f}s"
    )


def repository_of(port: int) -> dict[str, Any] | None:
    """The project's repository as the webserver serves it, once it does."""
    try:
        nodes = graphql(port, SCHEDULES)["repositoriesOrError"]["nodes"]
    except (OSError, KeyError, TypeError, ValueError):
        return None
    return nodes[0] if nodes else None
