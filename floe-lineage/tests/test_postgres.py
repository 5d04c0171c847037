"""The same lineage on PostgreSQL (dbt-postgres), against a real server the tests start: the
sample and the clickstream project on both warehouses, names as dbt-ol gives them, facts read
while dbt runs, passwords nowhere, and the pytest plugin on a PostgreSQL target."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from conftest import (
    CLICKSTREAM,
    SAMPLE,
    Workspace,
    copy_dbt_project,
    make_postgres_workspace,
    materialize,
)
from postgres_server import PostgresServer
from schema_oracle import assert_schema_valid

from floe_lineage.dbt.log_file import DbtLogFile
from floe_lineage.dbt.manifest import DbtGraph, run_manifest
from floe_lineage.testing import Lineage
from floe_lineage.testing.capture import capture_lineage
from floe_lineage.tools.check import TERMINAL, check_run

pytestmark = pytest.mark.slow  # a server and dbt runs


def run_on_postgres(
    root: Path, source: Path, server: PostgresServer, database: str, **lineage: Any
) -> tuple[dg.ExecuteInProcessResult, Workspace]:
    project = copy_dbt_project(root / "dbt", source)
    ws = make_postgres_workspace(root / "ws", project, server, database)
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(ws, instance=instance, **lineage)
    assert result.success
    (root / "dagster-logs.txt").write_text(
        "\n".join(entry.user_message for entry in instance.all_logs(result.run_id))
    )
    return result, ws


@pytest.fixture(scope="module")
def sample_on_postgres(tmp_path_factory, postgres: PostgresServer):
    return run_on_postgres(tmp_path_factory.mktemp("pg-sample"), SAMPLE, postgres, "warehouse")


@pytest.fixture(scope="module")
def clickstream_on_postgres(tmp_path_factory, postgres: PostgresServer):
    return run_on_postgres(
        tmp_path_factory.mktemp("pg-clickstream"), CLICKSTREAM, postgres, "clickstream"
    )


def lineage_of(result: dg.ExecuteInProcessResult, ws: Workspace) -> Lineage:
    return Lineage.of_run(ws.events(), result.run_id, [ws.project])


def test_the_sample_on_postgres_is_valid_complete_and_read_live(sample_on_postgres, postgres):
    result, ws = sample_on_postgres
    events = ws.events()
    assert_schema_valid(ws.events_file)
    lineage = lineage_of(result, ws)
    lineage.assert_valid()
    lineage.assert_complete()  # every node closed, inputs and outputs as the DAG says
    report = check_run(
        lineage.events, DbtGraph.from_file(run_manifest(ws.project, result.run_id)), result.run_id
    )
    assert (report.nodes, report.states) == (23, {"COMPLETE": 23})
    # no file lock: the facts are in the terminal events; only the snapshot, whose SQL dbt
    # writes to run_results.json alone (it is defined in YAML), gets its lineage after the run
    others = [e for e in events if e["eventType"] == "OTHER"]
    assert [e["job"]["name"] for e in others] == ["snapshot.floe.customers_snapshot"]
    (snapshot,) = others  # as on DuckDB: its SQL, and the column lineage traced from it
    assert "select" in snapshot["job"]["facets"]["sql"]["query"].lower()
    (written,) = snapshot["outputs"]
    assert written["facets"]["columnLineage"]["fields"]
    namespace = f"postgres://{postgres.host}:{postgres.port}"
    assert {d["namespace"] for e in events for d in e["inputs"] + e["outputs"]} == {namespace}
    customers = next(
        e
        for e in events
        if e["job"]["name"] == "model.floe.customers" and e["eventType"] in TERMINAL
    )
    (output,) = customers["outputs"]
    assert output["name"] == "warehouse.main.customers"
    types = {f["name"]: f["type"] for f in output["facets"]["schema"]["fields"]}
    assert types["customer_id"] == "integer" and types["lifetime_value"] == "numeric"
    rows = output["outputFacets"]["outputStatistics"]["rowCount"]
    lineage_fields = output["facets"]["columnLineage"]["fields"]
    assert [
        (f["namespace"], f["name"], f["field"]) for f in lineage_fields["full_name"]["inputFields"]
    ] == [
        (namespace, "warehouse.main.stg_customers", "first_name"),
        (namespace, "warehouse.main.stg_customers", "last_name"),
    ]
    with postgres.connect("warehouse") as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from main.customers")
        assert cursor.fetchone()[0] == rows > 0  # the row count is the table's
    # asset_metadata auto: the facts were known as each node finished, so every
    # materialization carries them without waiting for dbt's exit
    metadata = {
        event.asset_key: event.materialization.metadata
        for event in result.get_asset_materialization_events()
    }[dg.AssetKey("customers")]
    assert metadata["dagster/row_count"].value == rows
    schema = metadata["dagster/column_schema"].value
    assert {c.name: c.type for c in schema.columns}["customer_id"] == "integer"
    assert metadata["openlineage/run_id"].value == customers["run"]["runId"]


def test_on_postgres_a_failure_has_its_error_text_and_a_slow_view_is_given_up(
    tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch
):
    """dbt runs as floe-lineage-dbt on PostgreSQL too: a failed model's FAIL event carries
    dbt's error text from the dbt process's line (no log file awaited, no OTHER event after),
    views are counted, and a view whose count outlasts ``view_count_timeout`` is cancelled by
    the server (``statement_timeout``) and has no row count, with a warning."""
    project = copy_dbt_project(tmp_path / "dbt", SAMPLE)
    bad = project / "models" / "staging" / "stg_orders.sql"
    bad.write_text(bad.read_text().replace("status\n", "status, no_such_column\n"))
    (project / "models" / "slow_view.sql").write_text(
        "{{ config(materialized='view') }}\nselect 1 as one from (select pg_sleep(30)) as slept\n"
    )
    ws = make_postgres_workspace(tmp_path / "ws", project, postgres, "warehouse_failed")
    asked = []  # dbt's log file: only for a dbt that does not report (not this one)
    monkeypatch.setattr(DbtLogFile, "result", lambda self, unique_id: asked.append(unique_id))
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(ws, instance=instance, view_count_timeout=0.5)
    assert not result.success  # stg_orders failed
    assert asked == []
    events = ws.events()
    ended = {e["job"]["name"]: e for e in events if e["eventType"] in TERMINAL | {"OTHER"}}
    failed = ended["model.floe.stg_orders"]
    assert failed["eventType"] == "FAIL"
    assert "no_such_column" in failed["run"]["facets"]["errorMessage"]["message"]
    assert not [
        e
        for e in events
        if e["eventType"] == "OTHER" and e["job"]["name"] == "model.floe.stg_orders"
    ]
    staged = ended["model.floe.stg_payments"]["outputs"][0]
    assert staged["outputFacets"]["outputStatistics"]["rowCount"] == 11  # a view, counted
    slow = ended["model.floe.slow_view"]
    assert slow["eventType"] == "COMPLETE"
    assert slow["outputs"][0]["facets"]["schema"]["fields"]
    assert "outputStatistics" not in slow["outputs"][0].get("outputFacets", {})
    assert [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if "no row count for" in entry.user_message
    ] == [
        "OpenLineage: no row count for warehouse_failed.main.slow_view: counting the view's"
        " rows took longer than 0.5 s (lineage.view_count_timeout)"
    ]


def neutral(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events with every namespace and column type replaced: what must stay the same across
    warehouses."""
    text = re.sub(r'"(duckdb|postgres)://[^"]*"', '"warehouse://"', json.dumps(events))
    plain = json.loads(text)
    for event in plain:
        for dataset in event.get("inputs", []) + event.get("outputs", []):
            for field in dataset.get("facets", {}).get("schema", {}).get("fields", []):
                field["type"] = "?"
    return plain


def test_the_samples_lineage_differs_only_in_namespaces_and_type_names(sample_on_postgres, build):
    on_postgres = lineage_of(*sample_on_postgres)
    on_duckdb = lineage_of(*build)
    postgres_view = Lineage(neutral(on_postgres.events), on_postgres.graph, on_postgres.run_id)
    duckdb_view = Lineage(neutral(on_duckdb.events), on_duckdb.graph, on_duckdb.run_id)
    assert postgres_view.snapshot() == duckdb_view.snapshot()
    assert on_postgres.snapshot() != on_duckdb.snapshot()  # namespaces and types do differ


def test_clickstream_on_postgres_matches_it_on_duckdb(clickstream_on_postgres, tmp_path_factory):
    from conftest import make_workspace

    root = tmp_path_factory.mktemp("duck-clickstream")
    ws = make_workspace(root / "ws", copy_dbt_project(root / "dbt", CLICKSTREAM))
    duck_result = materialize(ws)
    assert duck_result.success
    on_postgres = lineage_of(*clickstream_on_postgres)
    on_postgres.assert_valid()
    on_postgres.assert_complete()
    on_duckdb = lineage_of(duck_result, ws)
    assert (
        Lineage(neutral(on_postgres.events), on_postgres.graph, on_postgres.run_id).snapshot()
        == Lineage(neutral(on_duckdb.events), on_duckdb.graph, on_duckdb.run_id).snapshot()
    )
    on_postgres.column("DailyViews.Unique Users").derives_from("raw_web.page_views.user_id")


def test_dataset_names_equal_dbt_ols_on_postgres(sample_on_postgres, tmp_path: Path):
    _, ws = sample_on_postgres
    events_file = tmp_path / "dbt-ol.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events_file}\n  append: true\n")
    dbt_ol = Path(sys.executable).parent / "dbt-ol"
    done = subprocess.run(
        [
            str(dbt_ol),
            "build",
            "--project-dir",
            str(ws.project),
            "--profiles-dir",
            str(ws.profiles),
        ],
        env=os.environ | {"OPENLINEAGE_CONFIG": str(config)},
        capture_output=True,
        text=True,
        cwd=ws.project,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    theirs = {
        (d["namespace"], d["name"])
        for line in events_file.read_text().splitlines()
        for d in json.loads(line).get("outputs", [])
    }
    ours = {(d["namespace"], d["name"]) for e in ws.events() for d in e["outputs"]}
    assert theirs and theirs <= ours


def test_the_password_is_nowhere(sample_on_postgres, postgres: PostgresServer, tmp_path: Path):
    _, ws = sample_on_postgres
    report = tmp_path / "report.html"
    floe_lineage = Path(sys.executable).parent / "floe-lineage"
    subprocess.run(
        [str(floe_lineage), "report", str(ws.events_file), "--out", str(report)], check=True
    )
    places = [report, *ws.root.parent.rglob("*")]  # events, spool, profiles, Dagster logs
    places += [p for p in ws.project.rglob("*") if "target" in p.parts]  # dbt's own logs
    for path in places:
        if path.is_file():
            assert postgres.password.encode() not in path.read_bytes(), path


DG_PROJECT = {
    "pyproject.toml": """
        [project]
        name = "pg-plugin-check"
        version = "0.1.0"
        [tool.dg]
        directory_type = "project"
        [tool.dg.project]
        root_module = "pg_plugin_check"
    """,
    "src/pg_plugin_check/__init__.py": "",
    "src/pg_plugin_check/definitions.py": """
        from pathlib import Path

        from dagster import definitions, load_from_defs_folder


        @definitions
        def defs():
            return load_from_defs_folder(path_within_project=Path(__file__).parent)
    """,
    "src/pg_plugin_check/defs/__init__.py": "",
    "src/pg_plugin_check/defs/transform/defs.yaml": """
        type: floe_lineage.dagster.DbtProjectWithLineage
        attributes:
          project:
            project_dir: "{{ context.project_root }}/dbt"
            profiles_dir: "{{ env('DBT_PROFILES_DIR', '') }}"
          lineage:
            namespace: plugin-check
            producer: https://example.com/plugin-check
    """,
}


def test_the_pytest_plugins_capture_works_on_a_postgres_target(
    tmp_path: Path, postgres: PostgresServer, build, monkeypatch: pytest.MonkeyPatch
):
    project = tmp_path / "pg-plugin-check"
    for name, text in DG_PROJECT.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(textwrap.dedent(text).lstrip())
    copy_dbt_project(project / "dbt")
    postgres.create_database("warehouse_plugin")
    for name, value in postgres.environment("warehouse_plugin").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DBT_TARGET", "postgres")
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    monkeypatch.syspath_prepend(str(project / "src"))

    lineage = capture_lineage(project, tmp_path / "capture")

    lineage.assert_valid()
    lineage.assert_complete()
    lineage.column("customers.lifetime_value").derives_from("raw_payments.amount_cents")
    # a database of its own on the server, dropped after the run, named as configured
    assert "warehouse_plugin.main.customers [postgres]" in lineage.snapshot()
    with postgres.connect() as connection, connection.cursor() as cursor:
        cursor.execute("select datname from pg_database where datname like '%\\_\\_floe\\_%'")
        assert cursor.fetchall() == []
    on_duckdb = lineage_of(*build)
    assert (
        Lineage(neutral(lineage.events), lineage.graph, lineage.run_id, renamed=lineage.renamed)
        .snapshot()
        .replace("warehouse_plugin.", "warehouse.")
        == Lineage(neutral(on_duckdb.events), on_duckdb.graph, on_duckdb.run_id).snapshot()
    )
