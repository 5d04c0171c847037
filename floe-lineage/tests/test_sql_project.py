"""The SQL teams write (issue 25), run through dbt and Dagster once per warehouse: the teamsql
project (tests/projects/teamsql) with spaced, mixed-case seed columns, an external CSV source,
window functions, DuckDB's PIVOT, COLUMNS(), EXCLUDE / REPLACE and QUALIFY, a union, an
incremental model reading ``{{ this }}`` and two failing models, with dbt rotating its log file
during the run. Every expected edge is written by hand. The same cases on SQL strings alone are
in ``test_sql_fidelity.py``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from conftest import (
    Workspace,
    copy_dbt_project,
    make_postgres_workspace,
    make_workspace,
    materialize,
)
from postgres_server import PostgresServer

from floe_lineage.testing import Lineage

pytestmark = pytest.mark.slow  # two dbt runs per warehouse (~45 s on DuckDB), and a server;
# test_sql_fidelity.py covers every case fast, on SQL strings and files

TEAMSQL = Path(__file__).resolve().parent / "projects" / "teamsql"
LOG_MAX_BYTES = "40000"
"""dbt's ``--log-file-max-bytes`` for the run: its ~400 kB log rotates about ten times."""
DUCKDB_ONLY = {"status_pivot", "id_columns", "orders_slim", "latest_orders", "paid_by_order"}


class Run:
    """One run of the teamsql project, then a second run of its incremental model."""

    def __init__(self, ws: Workspace, first: dg.ExecuteInProcessResult, logs: list[Any]) -> None:
        self.ws = ws
        self.first = first
        self.events = ws.events()
        self.warnings = [
            log.user_message
            for log in logs
            if log.level == logging.WARNING and "OpenLineage" in log.user_message
        ]
        self.lineage = Lineage.of_run(self.events, first.run_id, [ws.project])
        self.db = "teamsql"

    def final(self, model: str, run: int = 0) -> dict[str, Any]:
        """The last event of ``model`` in run ``run`` (0: the first; -1: the incremental one)."""
        runs = [
            e
            for e in self.events
            if e["job"]["name"] == f"model.teamsql.{model}" and e["eventType"] != "START"
        ]
        run_ids = list(dict.fromkeys(e["run"]["runId"] for e in runs))
        return [e for e in runs if e["run"]["runId"] == run_ids[run]][-1]

    def fields(self, model: str, run: int = 0) -> dict[str, list[tuple[str, str, str, str]]]:
        facet = self.final(model, run)["outputs"][0]["facets"].get("columnLineage", {})
        return {
            column: [
                (
                    f["name"].rsplit(".", 1)[-1],
                    f["field"],
                    f["transformations"][0]["type"],
                    f["transformations"][0]["subtype"],
                )
                for f in spec["inputFields"]
            ]
            for column, spec in facet.get("fields", {}).items()
        }

    def dataset(self, model: str, run: int = 0) -> set[tuple[str, str, str]]:
        facet = self.final(model, run)["outputs"][0]["facets"].get("columnLineage", {})
        return {
            (f["name"].rsplit(".", 1)[-1], f["field"], f["transformations"][0]["subtype"])
            for f in facet.get("dataset") or []
        }


def run_teamsql(root: Path, ws: Workspace) -> Run:
    instance = dg.DagsterInstance.ephemeral()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DBT_LOG_FILE_MAX_BYTES", LOG_MAX_BYTES)
        first = materialize(ws, instance=instance)
        # the incremental model again: now it reads its own table ({{ this }})
        again = materialize(ws, instance=instance, selection="orders_incremental")
    assert again.success
    logs = [*instance.all_logs(first.run_id), *instance.all_logs(again.run_id)]
    (root / "dagster-logs.txt").write_text("\n".join(log.user_message for log in logs))
    return Run(ws, first, logs)


@pytest.fixture(scope="module")
def on_duckdb(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("teamsql")
    project = copy_dbt_project(root / "dbt", TEAMSQL)
    return run_teamsql(root, make_workspace(root / "ws", project))


@pytest.fixture(scope="module")
def on_postgres(tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer) -> Run:
    root = tmp_path_factory.mktemp("pg-teamsql")
    project = copy_dbt_project(root / "dbt", TEAMSQL)
    return run_teamsql(root, make_postgres_workspace(root / "ws", project, postgres, "teamsql"))


@pytest.fixture(params=["on_duckdb", "on_postgres"])
def run(request: pytest.FixtureRequest) -> Run:
    return request.getfixturevalue(request.param)


# -- 1. quoted, spaced, mixed-case names ----------------------------------------------------


def test_quoted_mixed_case_columns_keep_the_warehouses_spelling(run: Run):
    seed = run.lineage.dataset("teamsql.main.people").columns
    assert list(seed) == ["id", "First Name", "E-mail Address", "Signup Date"]
    assert run.fields("people_clean") == {
        "person_id": [("people", "id", "DIRECT", "IDENTITY")],
        "first_name": [("people", "First Name", "DIRECT", "IDENTITY")],
        "Contact Email": [("people", "E-mail Address", "DIRECT", "IDENTITY")],
        "Shout Name": [("people", "First Name", "DIRECT", "TRANSFORMATION")],
        "Signup Date": [("people", "Signup Date", "DIRECT", "IDENTITY")],
    }
    assert run.dataset("people_clean") == {("people", "E-mail Address", "FILTER")}
    for output, source in (
        ("first_name", "First Name"),
        ("Contact Email", "E-mail Address"),
        ("Shout Name", "First Name"),
        ("Signup Date", "Signup Date"),
    ):
        column = run.lineage.column(f"teamsql.main.people_clean.{output}")
        column.derives_only_from(f"teamsql.main.people.{source}")


# -- 3. window functions ------------------------------------------------------------------


def test_window_keys_are_indirect_window_and_only_the_aggregated_column_direct(run: Run):
    keys = [
        ("orders", "customer_id", "INDIRECT", "WINDOW"),
        ("orders", "order_date", "INDIRECT", "WINDOW"),
        ("orders", "order_id", "INDIRECT", "WINDOW"),
    ]
    assert run.fields("running_totals") == {
        "order_id": [("orders", "order_id", "DIRECT", "IDENTITY")],
        "running_amount": [("orders", "amount", "DIRECT", "AGGREGATION"), *keys],
        "order_number": keys,
    }


# -- 5. an incremental model reading {{ this }} ----------------------------------------------


def test_an_incremental_models_inputs_list_its_own_table_when_its_lineage_does(run: Run):
    first, again = run.final("orders_incremental"), run.final("orders_incremental", -1)
    own = "teamsql.main.orders_incremental"
    assert [d["name"].split(".", 1)[1] for d in first["inputs"]] == ["main.orders"]
    cited = {
        f["name"].split(".", 1)[1]
        for f in again["outputs"][0]["facets"]["columnLineage"]["dataset"]
    }
    assert "main.orders_incremental" in cited
    assert [d["name"].split(".", 1)[1] for d in again["inputs"]] == [
        "main.orders",
        "main.orders_incremental",
    ]
    assert own.split(".", 1)[1] in {d["name"].split(".", 1)[1] for d in again["outputs"]}
    assert run.fields("orders_incremental", -1) == run.fields("orders_incremental")
    assert run.dataset("orders_incremental", -1) == {
        ("orders", "order_id", "FILTER"),
        ("orders_incremental", "order_id", "FILTER"),
    }


# -- the union, and every model that ran on both ----------------------------------------------


def test_a_union_reads_each_branch(run: Run):
    assert run.fields("all_ids") == {
        "any_id": [
            ("orders", "order_id", "DIRECT", "IDENTITY"),
            ("people", "id", "DIRECT", "IDENTITY"),
        ]
    }


# -- DuckDB only: external sources, its own syntax, error text through log rotation ------------


def test_an_external_csv_source_has_columns_and_its_readers_column_lineage(on_duckdb: Run):
    payments = on_duckdb.lineage.dataset("teamsql.files.payments").columns
    assert list(payments) == ["payment_id", "order_id", "Paid Amount"]
    assert on_duckdb.fields("paid_by_order") == {
        "order_id": [("payments", "order_id", "DIRECT", "IDENTITY")],
        "paid": [("payments", "Paid Amount", "DIRECT", "AGGREGATION")],
    }
    assert on_duckdb.dataset("paid_by_order") == {("payments", "order_id", "GROUP_BY")}
    assert not [w for w in on_duckdb.warnings if "paid_by_order" in w]


def test_duckdbs_exclude_replace_and_qualify_are_traced(on_duckdb: Run):
    assert on_duckdb.fields("orders_slim") == {
        "order_id": [("orders", "order_id", "DIRECT", "IDENTITY")],
        "customer_id": [("orders", "customer_id", "DIRECT", "IDENTITY")],
        "order_date": [("orders", "order_date", "DIRECT", "IDENTITY")],
        "amount": [("orders", "amount", "DIRECT", "TRANSFORMATION")],
    }
    assert on_duckdb.fields("latest_orders") == {
        "customer_id": [("orders", "customer_id", "DIRECT", "IDENTITY")],
        "order_id": [("orders", "order_id", "DIRECT", "IDENTITY")],
        "amount": [("orders", "amount", "DIRECT", "IDENTITY")],
    }
    assert on_duckdb.dataset("latest_orders") == {
        ("orders", "customer_id", "FILTER"),
        ("orders", "order_date", "FILTER"),
        ("orders", "customer_id", "WINDOW"),
        ("orders", "order_date", "WINDOW"),
    }


def test_pivot_and_columns_get_no_column_lineage_and_one_warning_naming_why(on_duckdb: Run):
    for model, construct in (("status_pivot", "PIVOT"), ("id_columns", "COLUMNS(...)")):
        assert "columnLineage" not in on_duckdb.final(model)["outputs"][0]["facets"]
        warned = [w for w in on_duckdb.warnings if f"model.teamsql.{model}" in w]
        assert len(warned) == 1, on_duckdb.warnings
        assert f"{construct} not traced" in warned[0]
    assert len(on_duckdb.warnings) == 2, on_duckdb.warnings  # nothing else was left untraced


def test_failures_carry_dbts_error_text_after_the_log_rotated(on_duckdb: Run):
    logs = sorted(p.name for p in (on_duckdb.ws.project / "target").rglob("dbt.log*"))
    assert any(name.startswith("dbt.log.") for name in logs), logs  # dbt did rotate it
    for model in ("fails_early", "fails_late"):
        # in the FAIL event itself, not only in an OTHER event after dbt's end
        (failed,) = [
            e
            for e in on_duckdb.events
            if e["job"]["name"] == f"model.teamsql.{model}" and e["eventType"] == "FAIL"
        ]
        message = failed["run"]["facets"]["errorMessage"]["message"]
        assert "Conversion Error" in message, (model, message)
