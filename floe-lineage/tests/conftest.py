"""Shared fixtures: the template's sample dbt project and a differently shaped one, run through
the Dagster component; every test gets its own DuckDB file, profiles folder and events file, so
the tests can run in parallel (``pytest -n auto``)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dagster as dg
import jinja2
import pytest
import pytest_postgresql.factories
from dagster_dbt import DbtProject
from postgres_server import PostgresServer, server_as_postgres_user

from floe_lineage.dagster import DbtProjectWithLineage, LineageSettings
from floe_lineage.dbt.profile import read_target, write_profiles
from floe_lineage.warehouse import warehouse_for

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "template" / "dbt"
"""The sample dbt project every generated project starts with, as the template holds it: its
``dbt_project.yml`` and ``profiles.yml`` are copier templates (``.jinja``) naming the dbt project
after the generated project; ``copy_dbt_project`` renders them with ``SAMPLE_ANSWERS``."""
SAMPLE_ANSWERS = {"dbt_project_name": "floe", "project_slug": "floe"}
"""The answers the tests render the sample with: the dbt project ``floe`` (``model.floe.*``)."""
CLICKSTREAM = Path(__file__).resolve().parent / "projects" / "clickstream"
"""A dbt-duckdb project shaped unlike the sample (hooks, ephemeral, incremental, quoting)."""
NAMESPACE = "floe-tests"
PRODUCER = "https://example.com/floe-tests"
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")


@dataclass
class Workspace:
    """A dbt project, a profiles folder pointing it at a DuckDB file of its own, and an
    OpenLineage file-transport config, all under ``root``."""

    root: Path
    project: Path
    profiles: Path
    database: Path
    config: Path
    events_file: Path
    target: str | None = None
    """The profile's target to run (None: its default)."""

    def events(self) -> list[dict[str, Any]]:
        if not self.events_file.exists():
            return []
        return [json.loads(line) for line in self.events_file.read_text().splitlines() if line]


def step_name(result: dg.ExecuteInProcessResult, op: str = "floe") -> str:
    """The parent job of the dbt nodes: the Dagster job and the op (the dbt project's name)."""
    return f"{result.dagster_run.job_name}.{op}"


def copy_dbt_project(destination: Path, source: Path = SAMPLE) -> Path:
    """A copy of a dbt project (without ``target/`` and ``logs/``), to run or break; the
    template's ``.jinja`` files rendered with ``SAMPLE_ANSWERS`` as copier renders them."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("target", "logs"))
    templates = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    for template in destination.rglob("*.jinja"):
        text = templates.from_string(template.read_text()).render(SAMPLE_ANSWERS)
        template.with_suffix("").write_text(text)
        template.unlink()
    return destination


def make_workspace(root: Path, project: Path) -> Workspace:
    """A workspace under ``root`` that runs ``project`` (not copied: share it, or copy it
    first with ``copy_dbt_project`` to change it)."""
    root.mkdir(parents=True, exist_ok=True)
    target = read_target(project, project)
    with warehouse_for(target).isolated(root / "db") as isolation:
        output = dict(isolation.output)
    write_profiles(root / "profiles", [(target, output)])
    events_file = root / "lineage" / "events.jsonl"
    config = root / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events_file}\n  append: true\n")
    return Workspace(root, project, root / "profiles", Path(output["path"]), config, events_file)


def dbt_defs(
    ws: Workspace,
    *,
    config: Path | None = None,
    strict: bool = True,
    include_metadata: list[str] | None = None,
    **lineage: Any,
) -> dg.Definitions:
    """The definitions ``DbtProjectWithLineage`` builds for the workspace's project, with
    lineage configured by ``config`` (default: the workspace's file transport)."""
    component = DbtProjectWithLineage(
        project=DbtProject(project_dir=ws.project, profiles_dir=ws.profiles, target=ws.target),
        include_metadata=include_metadata or [],
        lineage=LineageSettings(
            namespace=NAMESPACE,
            producer=PRODUCER,
            config_path=str(config or ws.config),
            strict=strict,
            **lineage,
        ),
    )
    return dg.component_defs(component=component)


def materialize(
    ws: Workspace,
    *,
    config: Path | None = None,
    strict: bool = True,
    selection: str | None = None,
    instance: dg.DagsterInstance | None = None,
    include_metadata: list[str] | None = None,
    **lineage: Any,
) -> dg.ExecuteInProcessResult:
    """Materialize the workspace's dbt assets in-process (all, or ``selection``)."""
    defs = dbt_defs(ws, config=config, strict=strict, include_metadata=include_metadata, **lineage)
    return dg.materialize(
        list(defs.assets or []), selection=selection, instance=instance, raise_on_error=False
    )


@pytest.fixture(scope="session")
def sample_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample dbt project shared by the tests that run it unchanged (its manifest
    is parsed once per test process)."""
    return copy_dbt_project(tmp_path_factory.mktemp("sample") / "dbt")


@pytest.fixture
def workspace(
    tmp_path: Path, sample_project: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    monkeypatch.delenv("OPENLINEAGE_DISABLED", raising=False)
    yield make_workspace(tmp_path / "ws", sample_project)


@pytest.fixture(scope="session")
def build_instance() -> dg.DagsterInstance:
    """The Dagster instance ``build`` ran in (to read what Dagster recorded)."""
    return dg.DagsterInstance.ephemeral()


@pytest.fixture(scope="session")
def build(
    tmp_path_factory: pytest.TempPathFactory,
    sample_project: Path,
    build_instance: dg.DagsterInstance,
) -> tuple[dg.ExecuteInProcessResult, Workspace]:
    """One successful materialization of every asset, shared by the tests that only read it
    (``asset_metadata: true``: every materialization completed with lineage's facts)."""
    ws = make_workspace(tmp_path_factory.mktemp("build"), sample_project)
    result = materialize(ws, instance=build_instance, asset_metadata=True)
    assert result.success
    return result, ws


WARNED_TEST = "test.floe.gift_card_payments_are_rare"
"""The test of ``failed_build`` that fails with severity warn (2 gift-card payments): dbt reports
it ``warn``, its run is COMPLETE and its assertion on ``stg_payments`` is ``success: false``."""


@pytest.fixture(scope="session")
def failed_build(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dg.ExecuteInProcessResult, Workspace]:
    """A run of a copy of the sample where the model ``stg_orders`` fails (unknown column), the
    test ``unique_stg_payments_payment_id`` fails (a duplicate payment) and the test
    ``gift_card_payments_are_rare`` (severity warn, see ``WARNED_TEST``) warns, with
    ``count_view_rows: false`` (views not counted)."""
    root = tmp_path_factory.mktemp("failed")
    project = copy_dbt_project(root / "dbt")
    model = project / "models" / "staging" / "stg_orders.sql"
    model.write_text(model.read_text().replace("status\n", "status, no_such_column\n"))
    with (project / "seeds" / "raw_payments.csv").open("a") as payments:
        payments.write("11,10,card,100\n")
    (project / "tests" / "gift_card_payments_are_rare.sql").write_text(
        "{{ config(severity='warn') }}\n"
        "select payment_id from {{ ref('stg_payments') }} where payment_method = 'gift_card'\n"
    )
    ws = make_workspace(root / "ws", project)
    return materialize(ws, count_view_rows=False), ws


class Backend:
    """A lineage backend on loopback: ``mode`` is ok (records events), fail (HTTP 500), hang
    (takes the request and never answers), slow (answers after ``delay`` seconds) or drip
    (records the event, then sends its answer one byte every ``delay`` seconds)."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.delay = 0.3
        self.events: list[dict[str, Any]] = []
        self.requests = 0
        self.paths: list[str] = []
        """The path and query string of every request."""
        self.authorization: set[str] = set()
        self.released = threading.Event()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                backend.requests += 1
                backend.paths.append(self.path)
                backend.authorization.add(self.headers.get("Authorization", ""))
                if backend.mode == "hang":
                    backend.released.wait(30)
                    return
                if backend.mode == "slow":
                    time.sleep(backend.delay)
                if backend.mode == "drip":
                    backend.events.append(json.loads(body))
                    answer = b'{"status": "ok, but slowly"}'
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    for byte in answer:
                        if backend.released.wait(backend.delay):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    return
                if backend.mode == "fail":
                    self.send_response(500)
                else:
                    backend.events.append(json.loads(body))
                    self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    yield server
    server.close()


PG_PASSWORD = f"floe-pg-{os.getpid()}-secret"
"""The non-root test server's password (as root, postgres_server makes a random one)."""
postgresql_server_proc = pytest_postgresql.factories.postgresql_proc(
    user="floe", password=PG_PASSWORD
)


@pytest.fixture(scope="session")
def postgres(request: pytest.FixtureRequest) -> Iterator[PostgresServer]:
    """A real PostgreSQL server of this test process: pytest-postgresql's, or, as root (where
    PostgreSQL refuses to start), one run as the ``postgres`` system user."""
    if os.geteuid() == 0:
        with server_as_postgres_user() as server:
            yield server
        return
    executor = request.getfixturevalue("postgresql_server_proc")
    yield PostgresServer(executor.host, int(executor.port), executor.user, PG_PASSWORD)


def make_postgres_workspace(
    root: Path, project: Path, server: PostgresServer, database: str
) -> Workspace:
    """A workspace whose profile is ``project``'s ``postgres`` target, on a fresh ``database``
    of ``server`` (its connection values written into the profile, the password as an
    ``env_var`` reference the test process sets)."""
    root.mkdir(parents=True, exist_ok=True)
    server.create_database(database)
    os.environ["FLOE_PG_PASSWORD"] = server.password  # only read through env_var
    target = read_target(project, project, target="postgres")
    values = server.environment(database) | {"FLOE_PG_PASSWORD": None}
    output = {
        "host": values["FLOE_PG_HOST"],
        "port": server.port,
        "user": values["FLOE_PG_USER"],
        "dbname": database,
        "schema": "main",
    }
    write_profiles(root / "profiles", [(target, output)])
    events_file = root / "lineage" / "events.jsonl"
    config = root / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events_file}\n  append: true\n")
    return Workspace(
        root, project, root / "profiles", root / "no-database-file", config, events_file, "postgres"
    )
