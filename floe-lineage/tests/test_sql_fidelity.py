"""Column lineage and error text of the SQL teams write (issue 25), fast: traced on SQL strings
with the columns a warehouse would report, no dbt run. Quoted mixed-case names, window functions,
DuckDB's own syntax (traced, or refused naming what, never a wrong edge), an incremental model's
own table among its inputs, a source read in place from a CSV file, dbt's rotated log file, and
declared dependencies. The expected lineage is written by hand. The same cases run through dbt
and Dagster on DuckDB and PostgreSQL in ``test_sql_project.py`` (slow)."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import logging
import logging.handlers
import sys
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest
from openlineage.client.event_v2 import RunState
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name as canonical

from floe_lineage.dbt.log_file import DbtLogFile
from floe_lineage.dbt.manifest import DbtGraph, DbtNode
from floe_lineage.dbt.relation import Relation
from floe_lineage.invocation import in_place_sources_named
from floe_lineage.openlineage.column_lineage import (
    ColumnLineageError,
    ColumnSource,
    column_lineage,
)
from floe_lineage.openlineage.naming import stable_run_id
from floe_lineage.openlineage.observations import WarehouseFacts
from floe_lineage.openlineage.run_events import (
    EmissionContext,
    JobRun,
    NodeOutcome,
    RunFacts,
    node_end,
)
from floe_lineage.warehouse import DuckDBWarehouse

PEOPLE = Relation("db", "main", "People Raw")
ORDERS = Relation("db", "main", "orders")
INPUTS = {
    PEOPLE: [
        ("id", "INTEGER"),
        ("First Name", "VARCHAR"),
        ("E-mail Address", "VARCHAR"),
        ("Signup Date", "DATE"),
    ],
    ORDERS: [
        ("order_id", "INTEGER"),
        ("customer_id", "INTEGER"),
        ("order_date", "DATE"),
        ("amount", "INTEGER"),
        ("status", "VARCHAR"),
    ],
}
DIALECTS = ["duckdb", "postgres"]


def fields(sql: str, dialect: str, output: list[str]) -> dict[str, list[tuple[str, str, str]]]:
    lineage = column_lineage(sql, dialect, INPUTS, [(name, "X") for name in output])
    return {
        column: [(s.relation.identifier, s.column, s.subtype) for s in sources]
        for column, sources in lineage.fields.items()
    }


@pytest.mark.parametrize("dialect", DIALECTS)
def test_quoted_mixed_case_names_keep_the_warehouses_spelling(dialect: str):
    sql = """
        with renamed as (
            select id, "First Name" as first_name, "E-mail Address", "Signup Date"
            from db.main."People Raw"
        )
        select id, upper(first_name) as "Shout Name", "E-mail Address" as email, "Signup Date"
        from renamed
    """
    assert fields(sql, dialect, ["id", "Shout Name", "email", "Signup Date"]) == {
        "id": [("People Raw", "id", "IDENTITY")],
        "Shout Name": [("People Raw", "First Name", "TRANSFORMATION")],
        "email": [("People Raw", "E-mail Address", "IDENTITY")],
        "Signup Date": [("People Raw", "Signup Date", "IDENTITY")],
    }


def test_quoted_names_in_conditions_keep_the_warehouses_spelling():
    sql = """
        select id, case when "Signup Date" > date '2026-01-01' then 'new' else 'old' end as cohort
        from db.main."People Raw" where "E-mail Address" is not null
    """
    lineage = column_lineage(sql, "duckdb", INPUTS, [("id", "X"), ("cohort", "X")])
    assert lineage.fields["cohort"] == [
        ColumnSource(PEOPLE, "Signup Date", "CONDITIONAL", "INDIRECT")
    ]
    assert lineage.dataset == [ColumnSource(PEOPLE, "E-mail Address", "FILTER", "INDIRECT")]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_window_keys_are_indirect_window_only_the_aggregated_column_is_direct(dialect: str):
    sql = """
        with ordered as (select * from db.main.orders)
        select
            order_id,
            sum(amount) over (partition by customer_id order by order_date, order_id) as running,
            row_number() over (partition by customer_id order by order_date) as nth
        from ordered
    """
    assert fields(sql, dialect, ["order_id", "running", "nth"]) == {
        "order_id": [("orders", "order_id", "IDENTITY")],
        "running": [
            ("orders", "amount", "AGGREGATION"),
            ("orders", "customer_id", "WINDOW"),
            ("orders", "order_date", "WINDOW"),
            ("orders", "order_id", "WINDOW"),
        ],
        "nth": [("orders", "customer_id", "WINDOW"), ("orders", "order_date", "WINDOW")],
    }
    types = {
        (s.column, s.type)
        for s in column_lineage(sql, dialect, INPUTS).fields["running"]
        if s.subtype == "WINDOW"
    }
    assert types == {
        ("customer_id", "INDIRECT"),
        ("order_date", "INDIRECT"),
        ("order_id", "INDIRECT"),
    }


@pytest.mark.parametrize(
    ("sql", "untraced"),
    [
        (
            "pivot db.main.orders on status in ('paid', 'void') using sum(amount)"
            " group by customer_id",
            "PIVOT",
        ),
        (
            "select * from (pivot db.main.orders on status in ('paid', 'void')"
            " using sum(amount) group by customer_id)",
            "PIVOT",
        ),
        (
            "select customer_id, k, v from db.main.orders unpivot (v for k in (order_id, amount))",
            "UNPIVOT",
        ),
        ("select columns('.*_id') from db.main.orders", "COLUMNS(...)"),
        ("select columns('.*_id') + 1 from db.main.orders", "COLUMNS(...)"),
    ],
)
def test_sql_the_tracer_cannot_read_is_refused_naming_what(sql: str, untraced: str):
    """Refused, so the model's one warning says what was not traced; never a wrong edge."""
    with pytest.raises(
        ColumnLineageError, match=rf"{untraced.replace('(', '.').replace(')', '.')}"
    ):
        column_lineage(sql, "duckdb", INPUTS, [("customer_id", "X"), ("paid", "X")])


def test_output_columns_the_model_does_not_write_are_refused():
    """Whatever the construct, traced column names that are not the model's are no lineage."""
    with pytest.raises(ColumnLineageError, match="does not write"):
        column_lineage("select * from db.main.orders", "duckdb", {}, [("order_id", "X")])


def test_a_tables_star_over_a_join_using_a_key_reads_the_key_from_that_table_only():
    """``v.*`` of ``v join p using (k)`` has v's ``k``; sqlglot before 30.30 added p's."""
    people = Relation("db", "main", "people")
    inputs = {ORDERS: INPUTS[ORDERS], people: [("customer_id", "INTEGER"), ("name", "VARCHAR")]}
    sql = """
        with o as (select order_id, customer_id + 0 as customer_id from db.main.orders)
        select o.*, p.name from o left join db.main.people as p using (customer_id)
    """
    lineage = column_lineage(sql, "duckdb", inputs)
    assert lineage.fields["customer_id"] == [ColumnSource(ORDERS, "customer_id", "TRANSFORMATION")]
    assert lineage.fields["name"] == [ColumnSource(people, "name", "IDENTITY")]


def test_duckdb_star_modifiers_qualify_lambdas_and_union_are_traced():
    exclude = "select * exclude (status, order_date) from db.main.orders"
    assert fields(exclude, "duckdb", ["order_id", "customer_id", "amount"]) == {
        "order_id": [("orders", "order_id", "IDENTITY")],
        "customer_id": [("orders", "customer_id", "IDENTITY")],
        "amount": [("orders", "amount", "IDENTITY")],
    }
    replace = "select * exclude (status) replace (amount * 2 as amount) from db.main.orders"
    assert fields(replace, "duckdb", ["order_id", "customer_id", "order_date", "amount"])[
        "amount"
    ] == [("orders", "amount", "TRANSFORMATION")]
    qualify = """
        select order_id, amount from db.main.orders
        qualify row_number() over (partition by customer_id order by order_date desc) = 1
    """
    lineage = column_lineage(qualify, "duckdb", INPUTS, [("order_id", "X"), ("amount", "X")])
    assert lineage.fields["amount"] == [ColumnSource(ORDERS, "amount", "IDENTITY")]
    assert {(s.column, s.subtype) for s in lineage.dataset} == {
        ("customer_id", "FILTER"),
        ("order_date", "FILTER"),
        ("customer_id", "WINDOW"),
        ("order_date", "WINDOW"),
    }
    lambdas = """
        select order_id, list_transform([amount, customer_id], x -> x + 1) as l
        from db.main.orders
    """
    assert fields(lambdas, "duckdb", ["order_id", "l"])["l"] == [
        ("orders", "amount", "TRANSFORMATION"),
        ("orders", "customer_id", "TRANSFORMATION"),
    ]
    union = """
        select order_id as id, amount from db.main.orders
        union all
        select id, id as amount from db.main."People Raw"
    """
    assert fields(union, "duckdb", ["id", "amount"]) == {
        "id": [("People Raw", "id", "IDENTITY"), ("orders", "order_id", "IDENTITY")],
        "amount": [("People Raw", "id", "IDENTITY"), ("orders", "amount", "IDENTITY")],
    }


def node_finished(unique_id: str, padding: int) -> dict:
    """A ``NodeFinished`` line as dbt writes it to its JSON log file."""
    return {
        "info": {"name": "NodeFinished", "msg": "x" * padding},
        "data": {
            "node_info": {"unique_id": unique_id},
            "run_result": {"status": "error", "message": f"Runtime Error in {unique_id}"},
        },
    }


def test_error_text_is_read_across_dbt_log_rotations(tmp_path: Path):
    """dbt rotates ``dbt.log`` at ``--log-file-max-bytes`` as ``RotatingFileHandler`` does; a
    failure logged after one or several rotations still has its text."""
    path = tmp_path / "dbt.log"
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=20_000, backupCount=5)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("test-dbt-log-rotation")
    logger.propagate = False
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    log = DbtLogFile(path)
    try:
        for number in range(300):  # ~1.5 MB: rotates every ~30 lines
            uid = f"model.p.m{number}"
            logger.debug(json.dumps(node_finished(uid, 500)))
            if number % 7 == 0:  # read now and then: several rotations between two reads
                found = log.result(uid)
                assert found == {"status": "error", "message": f"Runtime Error in {uid}"}, uid
        assert (tmp_path / "dbt.log.5").exists()  # rotated, more than five times
        # every failure's text is there, those of the rotated files included
        assert log.result("model.p.m299")["message"] == "Runtime Error in model.p.m299"
        assert log.result("model.p.m290")["message"] == "Runtime Error in model.p.m290"
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_a_result_not_logged_yet_is_none_and_found_once_logged(tmp_path: Path):
    """The file is read as it stands, never waited for: a result written later (or a line
    being written) is found by the next call."""
    path = tmp_path / "dbt.log"
    path.write_text("not json\n")
    log = DbtLogFile(path)
    assert [log.result(f"model.p.m{n}") for n in range(3)] == [None] * 3
    line = json.dumps(node_finished("model.p.m1", 10))
    with path.open("a") as dbt_log:
        dbt_log.write(line[:40])  # half a line: not a result yet
        dbt_log.flush()
        assert log.result("model.p.m1") is None
        dbt_log.write(line[40:] + "\n")
    assert log.result("model.p.m1") == {"status": "error", "message": "Runtime Error in model.p.m1"}


INCREMENTAL_MANIFEST = {
    "metadata": {"dbt_version": "1.11.0", "adapter_type": "duckdb"},
    "nodes": {
        uid: {
            "unique_id": uid,
            "resource_type": "model",
            "package_name": "p",
            "name": name,
            "alias": name,
            "database": "db",
            "schema": "main",
            "config": {"materialized": materialized},
            "depends_on": {"nodes": parents},
        }
        for uid, name, materialized, parents in [
            ("model.p.orders", "orders", "table", []),
            ("model.p.orders_inc", "orders_inc", "incremental", ["model.p.orders"]),
        ]
    },
    "sources": {},
}


def test_an_incremental_models_inputs_list_its_own_table_when_its_lineage_cites_it():
    """On a run after the first, ``{{ this }}`` is read: the event's inputs say so, as its
    column lineage does; on the first run (not cited) it is no input."""
    graph = DbtGraph(INCREMENTAL_MANIFEST)
    node = graph.node("model.p.orders_inc")
    source, this = Relation("db", "main", "orders"), Relation("db", "main", "orders_inc")
    columns = [("order_id", "INTEGER"), ("amount", "INTEGER")]
    context = EmissionContext(
        producer="https://example.com/floe",
        job_namespace="ns",
        dataset_namespace="duckdb://db.duckdb",
        parent=JobRun("ns", "job.step", stable_run_id("run", "step")),
        parent_type=("ORCHESTRATOR", "STEP"),
        root=JobRun("ns", "job", stable_run_id("run")),
    )
    outcome = NodeOutcome(RunState.COMPLETE, datetime(2026, 1, 1, tzinfo=timezone.utc))

    def inputs(sql: str) -> list[str]:
        lineage = column_lineage(sql, "duckdb", {source: columns, this: columns}, columns)
        facts = RunFacts(WarehouseFacts(), {"model.p.orders_inc": lineage})
        return [d.name for d in node_end(context, graph, node, outcome, facts).inputs]

    first = "select order_id, amount from db.main.orders"
    again = f"{first} where order_id > (select max(order_id) from db.main.orders_inc)"
    assert inputs(first) == ["db.main.orders"]
    assert inputs(again) == ["db.main.orders", "db.main.orders_inc"]


def test_a_source_read_in_place_has_its_files_columns(tmp_path: Path, monkeypatch):
    """A dbt-duckdb source with an ``external_location``: dbt writes the expression into the
    SQL; its columns are read from the file (relative to the dbt project), and its readers'
    SQL names the source's relation for tracing."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "payments.csv").write_text("payment_id,Paid Amount\n1,30\n")
    database = project / "db.duckdb"
    duckdb.connect(str(database)).close()
    monkeypatch.chdir(tmp_path)  # not where dbt runs
    source = DbtNode(
        "source.p.files.payments",
        "source",
        "payments",
        Relation("db", "files", "payments"),
        (),
        {"relation_name": "read_csv_auto('data/payments.csv')"},
    )
    assert source.external == "read_csv_auto('data/payments.csv')"
    table = DbtNode("source.p.raw.t", "source", "t", None, (), {"relation_name": '"db"."r"."t"'})
    assert table.external is None
    facts = DuckDBWarehouse("db.duckdb", database, project).inspect(
        [source.relation], [], external={source.relation: source.external}
    )
    assert facts.columns == {source.relation: [("payment_id", "BIGINT"), ("Paid Amount", "BIGINT")]}
    sql = f'select sum("Paid Amount") as paid from {source.external}'
    lineage = column_lineage(
        in_place_sources_named(sql, [source]), "duckdb", facts.columns, [("paid", "HUGEINT")]
    )
    assert lineage.fields == {"paid": [ColumnSource(source.relation, "Paid Amount", "AGGREGATION")]}


def test_every_imported_distribution_is_a_declared_dependency():
    """What floe-lineage imports at its top level is declared in its pyproject.toml (or comes
    with an extra that needs it), so a lower bound can be stated and tested (``nox -s lowest``)."""
    root = Path(__file__).resolve().parents[1]
    declared = {
        canonical(requirement.name)
        for requirement in map(Requirement, importlib.metadata.requires("floe-lineage") or [])
        if "extra" not in str(requirement.marker or "")
    }
    # imported where an extra is used (duckdb, postgres, pytest, production)
    optional = {"duckdb", "psycopg2", "pytest", "syrupy", "dagster_postgres"}
    distributions = importlib.metadata.packages_distributions()
    imported = set()
    for path in (root / "src").rglob("*.py"):
        for module in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in module.names]
                if isinstance(module, ast.Import)
                else [module.module]
                if isinstance(module, ast.ImportFrom) and module.level == 0 and module.module
                else []
            )
            imported |= {n.split(".")[0] for n in names}
    third_party = {
        m for m in imported - optional - set(sys.stdlib_module_names) if m != "floe_lineage"
    }
    undeclared = {
        m: distributions.get(m)
        for m in third_party
        if not {canonical(d) for d in distributions.get(m, [m])} & declared
    }
    assert undeclared == {}
