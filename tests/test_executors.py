"""The generated project's dbt project split into several Dagster steps (docs/executors.md: one
``DbtProjectWithLineage`` per selection, each its own op and step, in the DuckDB pool), run by
the multiprocess executor and by two Celery workers (Debian's ``redis-server`` as broker and
result backend, started here on 127.0.0.1, bounded), each run's lineage checked against the
default project's run by the in-process executor; on PostgreSQL, without the pool, two steps at
once appending to the one events file. Those are marked ``slow``; the choice of the executor by
``FLOE_EXECUTOR`` is not.

Every test renders projects with the defaults and runs them with ``dg launch`` from the
project root as a user does (the project's own ``dagster.yaml`` instance, here named by
``DAGSTER_HOME`` so the workers and the test read the same one), with this session's
interpreter and the project's ``src`` on ``PYTHONPATH`` instead of an installed virtualenv.
Without ``redis-server`` the Celery test skips, unless ``FLOE_REQUIRE_REDIS`` is set (CI);
without PostgreSQL's server binaries, or as another user than root, the PostgreSQL test skips.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, VARIANTS, Renders, assert_schema_valid, load_module, render, tool
from test_generated_project import free_port, suite_env

PACKAGE = "floe_defaults"
JOB = "__ASSET_JOB"  # the job `dg launch --assets` runs
# The split of the sample that docs/executors.md shows: step name -> dbt selection.
STEPS = {
    "staging": "resource_type:seed path:models/staging",
    "marts": "path:models/marts",
    "snapshots": "resource_type:snapshot",
}
# Where each step's dbt nodes come from (the dbt tests go with the models they test).
STEP_OF = {
    "seed.floe_defaults.raw_orders": "staging",
    "model.floe_defaults.stg_payments": "staging",
    "model.floe_defaults.orders": "marts",
    "model.floe_defaults.customers": "marts",
    "test.floe_defaults.assert_order_amounts_not_negative": "marts",
    "snapshot.floe_defaults.customers_snapshot": "snapshots",
}
POOL = "dbt_warehouse"
TERMINAL = {"COMPLETE", "FAIL", "ABORT"}
DEADLINE = 600  # seconds any one command or wait may take (2 shared cores)


# -- the project -------------------------------------------------------------------------------


def split_into_steps(
    project: Path, queues: dict[str, str] | None = None, pool: str | None = POOL
) -> None:
    """Replace the project's one dbt component with one per ``STEPS`` selection, as
    docs/executors.md does: the same attributes, plus ``select`` and ``op`` (a name, the
    ``pool`` unless None, and the Celery queue ``queues`` gives the step); with a pool, the
    project's ``dagster.yaml`` limits it to one step at a time."""
    path = project / "src" / PACKAGE / "defs" / "transform" / "defs.yaml"
    one = yaml.safe_load(path.read_text())
    documents = []
    for name, select in STEPS.items():
        op: dict[str, Any] = {"name": name} | ({"pool": pool} if pool else {})
        if queues:
            op["tags"] = {"dagster-celery/queue": queues[name]}
        attributes = {**one["attributes"], "select": select, "op": op}
        documents.append({"type": one["type"], "attributes": attributes})
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    if pool:  # DuckDB: the pool's steps take turns (docs/executors.md)
        instance = project / "dagster.yaml"
        config = yaml.safe_load(instance.read_text())
        config["concurrency"] = {"pools": {"default_limit": 1}}
        instance.write_text(yaml.safe_dump(config, sort_keys=False))


def project_env(project: Path, **extra: str) -> dict[str, str]:
    """The environment of ``dg launch`` and the workers: the project's package importable, its
    own ``dagster.yaml`` as the instance."""
    return suite_env(project, DAGSTER_HOME=str(project), **extra)


def launch(project: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``dg launch --assets '*'`` in ``project``, output in ``launch.log`` beside it."""
    with (project.parent / "launch.log").open("w") as log:
        return subprocess.Popen(
            [tool("dg"), "launch", "--assets", "*", *args],
            cwd=project,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )


def finished(process: subprocess.Popen[str], project: Path) -> None:
    try:
        code = process.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        code = None
    output = (project.parent / "launch.log").read_text(errors="replace")
    assert code == 0, f"dg launch exited {code}:\n{output[-4000:]}"


@dataclass
class InProcessRun:
    """The default project, one dbt step, run by its default executor (in-process) in the
    background from the first test that asks, so it runs beside that test's own run."""

    project: Path
    process: subprocess.Popen[str]
    _facts: dict[str, Any] | None = None

    def facts(self) -> dict[str, Any]:
        """Per dbt node, the facts of its events (``node_facts``), once the run ended."""
        if self._facts is None:
            finished(self.process, self.project)
            events = read_events(self.project)
            assert {e["job"]["name"] for e in events if is_step(e)} == {f"{JOB}.{PACKAGE}"}
            self._facts = node_facts(events)
        return self._facts


@pytest.fixture(scope="module")
def in_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessRun]:
    project = render(tmp_path_factory.mktemp("in-process") / "project", VARIANTS["defaults"])
    run = InProcessRun(project, launch(project, project_env(project)))
    yield run
    if run.process.poll() is None:
        run.process.kill()
        run.process.wait()


# -- lineage ---------------------------------------------------------------------------------


def read_events(project: Path) -> list[dict[str, Any]]:
    """Every line of the project's events file, each one whole JSON event (a torn or
    interleaved write fails here), every one valid OpenLineage."""
    path = project / ".lineage" / "events.jsonl"
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"", "the events file ends inside an event"
    events = [json.loads(line) for line in lines[:-1]]
    assert_schema_valid(path, minimum=len(events))
    return events


def is_step(event: dict[str, Any]) -> bool:
    return event["job"]["name"].startswith(f"{JOB}.")


def node_facts(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Per dbt node, everything its events say that does not depend on the run or the step:
    event types, run facet names, job facets, inputs and outputs with all their facets (column
    types, column lineage, row counts, test assertions)."""
    facts: dict[str, Any] = {}
    for event in events:
        if is_step(event):
            continue
        node = facts.setdefault(event["job"]["name"], [])
        node.append(
            {
                "eventType": event["eventType"],
                "run": sorted(event["run"].get("facets", {})),
                "job": event["job"].get("facets", {}),
                "inputs": event["inputs"],
                "outputs": event["outputs"],
            }
        )
    return facts


def check_steps(events: list[dict[str, Any]]) -> tuple[str, dict[str, tuple[datetime, datetime]]]:
    """Lineage right per step: one parent run per step of ``STEPS`` (job ``<job>.<step>``,
    started and completed once, its parent and root the one Dagster run), every dbt node's
    START closed once and its parent its own step's run with the same root. Returns the Dagster
    run id and each step's span (START to COMPLETE)."""
    steps = [e for e in events if is_step(e)]
    dagster_runs = {e["run"]["facets"]["parent"]["run"]["runId"] for e in steps}
    assert len(dagster_runs) == 1, dagster_runs
    (dagster_run,) = dagster_runs
    step_runs: dict[str, str] = {}
    spans: dict[str, tuple[datetime, datetime]] = {}
    for name in STEPS:
        mine = [e for e in steps if e["job"]["name"] == f"{JOB}.{name}"]
        assert [e["eventType"] for e in mine] == ["START", "COMPLETE"], (name, mine)
        assert len({e["run"]["runId"] for e in mine}) == 1
        parent = mine[0]["run"]["facets"]["parent"]
        assert parent["job"]["name"] == JOB and parent["run"]["runId"] == dagster_run
        assert parent["root"]["run"]["runId"] == dagster_run
        step_runs[name] = mine[0]["run"]["runId"]
        spans[name] = tuple(datetime.fromisoformat(e["eventTime"]) for e in mine)  # type: ignore[assignment]
    assert len(steps) == 2 * len(STEPS)

    step_of_run = {run: name for name, run in step_runs.items()}
    by_run: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        if not is_step(event):
            by_run.setdefault(event["run"]["runId"], []).append(event)
    node_steps: dict[str, str] = {}
    for run, node_events in by_run.items():
        kinds = [e["eventType"] for e in node_events]
        assert kinds[0] == "START" and sum(k in TERMINAL for k in kinds) == 1, (run, kinds)
        assert kinds[1] in TERMINAL, (run, kinds)  # then only OTHER (the warehouse's facts)
        parents = {json.dumps(e["run"]["facets"]["parent"], sort_keys=True) for e in node_events}
        assert len(parents) == 1, parents
        parent = node_events[0]["run"]["facets"]["parent"]
        step = step_of_run[parent["run"]["runId"]]
        assert parent["job"]["name"] == f"{JOB}.{step}"
        assert parent["root"]["run"]["runId"] == dagster_run
        assert parent["root"]["job"]["name"] == JOB
        node_steps[node_events[0]["job"]["name"]] = step
    assert {node: node_steps.get(node) for node in STEP_OF} == STEP_OF
    assert set(node_steps.values()) == set(STEPS)
    return dagster_run, spans


def one_at_a_time(spans: dict[str, tuple[datetime, datetime]]) -> bool:
    ordered = sorted(spans.values())
    return all(end <= start for (_, end), (start, _) in pairwise(ordered))


def step_processes(project: Path, run_id: str) -> tuple[int, dict[str, int], dict[str, str]]:
    """From the project's Dagster instance: the pid of the run's own process (RUN_START), the
    pid each step started in (STEP_START), and the Celery worker each step was handed to."""
    from dagster import DagsterEventType, DagsterInstance

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", str(project))
        patch.chdir(project)  # dagster.yaml's base_dir is relative to the working folder
        with DagsterInstance.get() as instance:
            logs = instance.all_logs(run_id)
    run_pid = next(
        e.dagster_event.pid for e in logs if e.dagster_event_type == DagsterEventType.RUN_START
    )
    started = {
        e.step_key: e.dagster_event.pid
        for e in logs
        if e.dagster_event_type == DagsterEventType.STEP_START
    }
    workers = {}
    for entry in logs:
        if entry.dagster_event_type != DagsterEventType.ENGINE_EVENT or not entry.step_key:
            continue
        metadata = entry.dagster_event.engine_event_data.metadata  # type: ignore[union-attr]
        if "Celery worker" in metadata:
            workers[entry.step_key] = metadata["Celery worker"].value
    return run_pid, started, workers


def test_floe_executor_names_the_executor(rendered: Renders) -> None:
    """``executor()`` of the generated ``definitions.py``: each ``FLOE_EXECUTOR`` value its
    executor (Celery's only with the ``celery`` extra, which ``nox -s tests`` does not install:
    then an ImportError naming it), anything else a ValueError naming the choices."""
    src = rendered("defaults") / "src"
    script = f"""
import sys
sys.path.insert(0, {str(src)!r})
from {PACKAGE}.definitions import executor
for name in ("in_process", "multiprocess", "celery", "threads"):
    try:
        print(name, executor(name).name)
    except (ImportError, ValueError) as error:
        print(name, type(error).__name__, error)
"""
    done = subprocess.run(
        [sys.executable, "-B", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[:2] == ["in_process in_process", "multiprocess multiprocess"]
    if importlib.util.find_spec("dagster_celery"):  # this interpreter's, the script's too
        assert lines[2] == "celery celery"
    else:
        assert (
            lines[2] == 'celery ImportError FLOE_EXECUTOR=celery needs pip install -e ".[celery]"'
        )
    assert lines[3] == (
        "threads ValueError FLOE_EXECUTOR must be in_process, multiprocess or celery, not 'threads'"
    )


# -- the multiprocess executor ---------------------------------------------------------------


@pytest.mark.slow
def test_several_steps_run_in_processes_of_their_own_with_lineage_per_step(
    tmp_path: Path, in_process: InProcessRun
) -> None:
    """``FLOE_EXECUTOR=multiprocess``: the three dbt steps each run in a process of its own,
    one at a time (the DuckDB pool's limit of 1 in the project's ``dagster.yaml``), all
    writing the one events file; each node's parent is its own step's run; the lineage of
    every node is the in-process run's, but for the step it names."""
    project = render(tmp_path / "project", VARIANTS["defaults"])
    split_into_steps(project)
    started = time.monotonic()
    finished(launch(project, project_env(project, FLOE_EXECUTOR="multiprocess")), project)
    seconds = time.monotonic() - started
    events = read_events(project)
    run_id, spans = check_steps(events)
    assert one_at_a_time(spans), spans
    assert node_facts(events) == in_process.facts()
    run_pid, pids, _ = step_processes(project, run_id)
    assert set(pids) == set(STEPS)
    assert len({run_pid, *pids.values()}) == 1 + len(STEPS), (run_pid, pids)
    print(f"multiprocess, {len(STEPS)} steps: {seconds:.1f} s")


@pytest.fixture
def postgres() -> Iterator[Any]:
    """A PostgreSQL server of the test's own (floe-lineage's tests' ``postgres_server``: the
    machine's server binaries run as the ``postgres`` user, as root must), on a free loopback
    port, with the sample's database ``warehouse``."""
    servers = load_module(ROOT / "floe-lineage" / "tests" / "postgres_server.py")
    try:
        servers.binaries()
    except RuntimeError as missing:
        pytest.skip(str(missing))
    if os.geteuid() != 0:
        pytest.skip("starts PostgreSQL as the postgres system user: run as root (CI)")
    with servers.server_as_postgres_user() as server:
        server.create_database("warehouse")
        yield server


@pytest.mark.slow
def test_independent_steps_on_postgresql_write_one_events_file_at_once(
    tmp_path: Path, postgres: Any, in_process: InProcessRun
) -> None:
    """On PostgreSQL, without the pool (docs/executors.md): ``marts`` and ``snapshots`` both
    wait only for ``staging``, then run side by side in two processes that append to the one
    events file at the same time; every line stays one whole valid event, each step keeps its
    own parent run, and every node of the in-process run is there, closed once."""
    project = render(tmp_path / "project", VARIANTS["defaults"])
    split_into_steps(project, pool=None)
    env = project_env(
        project,
        FLOE_EXECUTOR="multiprocess",
        DBT_TARGET="postgres",
        **postgres.environment("warehouse"),
    )
    started = time.monotonic()
    finished(launch(project, env), project)
    seconds = time.monotonic() - started
    events = read_events(project)
    _, spans = check_steps(events)
    assert spans["staging"][1] <= min(spans["marts"][0], spans["snapshots"][0]), spans
    assert max(spans["marts"][0], spans["snapshots"][0]) < min(
        spans["marts"][1], spans["snapshots"][1]
    ), f"marts and snapshots did not run at the same time: {spans}"
    # in the file too: each step's START comes before the other's COMPLETE
    lines = {(e["job"]["name"], e["eventType"]): i for i, e in enumerate(events) if is_step(e)}
    for one, other in (("marts", "snapshots"), ("snapshots", "marts")):
        assert lines[(f"{JOB}.{one}", "START")] < lines[(f"{JOB}.{other}", "COMPLETE")]
    facts = node_facts(events)
    assert set(facts) == set(in_process.facts())
    for node, node_events in facts.items():
        assert [e["eventType"] for e in node_events][:2] == ["START", "COMPLETE"], node
    print(f"multiprocess on PostgreSQL, {len(STEPS)} steps: {seconds:.1f} s")


# -- Celery ----------------------------------------------------------------------------------


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """Debian's ``redis-server`` on a free loopback port: no persistence, 64 MB at most,
    stopped after the test."""
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("FLOE_REQUIRE_REDIS"):
            pytest.fail("FLOE_REQUIRE_REDIS is set but redis-server is not installed")
        pytest.skip("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    command = [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly"]
    command += ["no", "--maxmemory", "64mb", "--dir", str(tmp_path), "--protected-mode", "yes"]
    log = tmp_path / "redis.log"
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + DEADLINE
        while True:  # until it accepts connections, or exits
            assert process.poll() is None, f"redis-server exited:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"redis-server never listened:\n{log.read_text()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def celery_workers(
    project: Path, env: dict[str, str], config: Path, queues: list[str]
) -> Iterator[None]:
    """One ``dagster-celery worker start`` per queue, one task at a time each, in the project
    root; yields once every one is ready, stops them (their process groups) after."""
    workers = []
    try:
        for queue in queues:
            log = project.parent / f"worker-{queue}.log"
            command = [tool("dagster-celery"), "worker", "start", "-A", "dagster_celery.app"]
            command += ["-y", str(config), "-n", queue, "-q", queue, "--", "--concurrency=1"]
            with log.open("w") as output:
                process = subprocess.Popen(
                    command,
                    cwd=project,
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # the worker's own group: its pool goes with it
                )
            workers.append((process, log))
        deadline = time.monotonic() + DEADLINE
        for process, log in workers:
            while f"{log.stem.removeprefix('worker-')}@" not in ready_lines(log):
                assert process.poll() is None, f"worker exited:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"worker not ready:\n{log.read_text()}"
                time.sleep(0.2)
        yield
    finally:
        for process, _ in workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process, _ in workers:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def ready_lines(log: Path) -> str:
    return "".join(
        line for line in log.read_text(errors="replace").splitlines() if "ready." in line
    )


@pytest.mark.slow
def test_celery_workers_run_the_steps_with_lineage_as_complete_as_in_process(
    tmp_path: Path, redis_url: str, in_process: InProcessRun
) -> None:
    """``FLOE_EXECUTOR=celery``, the broker and backend in the run config and the workers'
    ``-y`` file: two workers, each on a queue of its own (the steps' ``dagster-celery/queue``
    tags: marts to the second), run every step, none in the launching process; the events
    they write to the one events file are those of the in-process run, node for node, but for
    the step each names."""
    queues = {"staging": "first", "marts": "second", "snapshots": "first"}
    project = render(tmp_path / "project", VARIANTS["defaults"])
    split_into_steps(project, queues)
    config = tmp_path / "celery.yaml"
    config.write_text(
        yaml.safe_dump(
            {"execution": {"config": {"broker": f"{redis_url}/0", "backend": f"{redis_url}/1"}}}
        )
    )
    env = project_env(project, FLOE_EXECUTOR="celery")
    # the instance's SQLite databases, made once before the workers open them side by side
    done = subprocess.run(
        [tool("dagster"), "instance", "migrate"], cwd=project, env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    with celery_workers(project, env, config, sorted(set(queues.values()))):
        started = time.monotonic()
        finished(launch(project, env, "--config", str(config)), project)
        seconds = time.monotonic() - started
    events = read_events(project)
    run_id, spans = check_steps(events)
    assert one_at_a_time(spans), spans
    assert node_facts(events) == in_process.facts()
    run_pid, pids, workers = step_processes(project, run_id)
    assert {step: name.split("@")[0] for step, name in workers.items()} == queues
    assert set(pids) == set(STEPS) and run_pid not in pids.values(), (run_pid, pids)
    print(f"celery, {len(STEPS)} steps on 2 workers: {seconds:.1f} s")
