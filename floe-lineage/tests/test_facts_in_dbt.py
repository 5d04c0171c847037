"""``floe-lineage-dbt``: dbt as the ``dbt`` command runs it, reporting each finished node's
facts, read through dbt's own connection, in a ``FloeLineageFacts`` line among dbt's JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
import threading
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import duckdb
from conftest import copy_dbt_project, make_workspace, materialize
from google.protobuf.struct_pb2 import Struct

from floe_lineage.dbt.manifest import DbtGraph
from floe_lineage.dbt.relation import Relation
from floe_lineage.in_dbt.facts_line import FactsRead, facts_line, read_facts_line
from floe_lineage.in_dbt.reader import FactsReader
from floe_lineage.openlineage.observations import WarehouseFacts
from floe_lineage.warehouse.base import gave_up
from floe_lineage.warehouse.duckdb import read_facts

SCRIPTS = Path(sysconfig.get_path("scripts"))


def run(executable: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return subprocess.run(
        [str(SCRIPTS / executable), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_it_answers_as_dbt_does():
    """Same exit codes and answers as ``dbt``: ``--version`` 0, a usage error 2."""
    ours, theirs = run("floe-lineage-dbt", "--version"), run("dbt", "--version")
    assert (ours.returncode, theirs.returncode) == (0, 0)
    assert ours.stdout.splitlines()[:2] == theirs.stdout.splitlines()[:2]
    assert run("floe-lineage-dbt", "no-such-command").returncode == 2
    assert run("dbt", "no-such-command").returncode == 2


def test_a_build_reports_every_written_nodes_facts_after_its_result(tmp_path: Path):
    """Every stdout line is whole JSON; each seed, model and snapshot dbt finished gets exactly
    one facts line, after its result line and before dbt's last line, with the real columns of
    its relation and, for tables, seeds and snapshots, its row count; exit code 0."""
    project = copy_dbt_project(tmp_path / "project")
    env_args = ("--log-format", "json", "--profiles-dir", str(project))
    os.environ["FLOE_DUCKDB_PATH"] = str(tmp_path / "warehouse.duckdb")
    try:
        done = run("floe-lineage-dbt", "build", *env_args, cwd=project)
    finally:
        del os.environ["FLOE_DUCKDB_PATH"]
    assert done.returncode == 0, done.stdout[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    names = [line["info"]["name"] for line in lines]
    results = {
        line["data"]["node_info"]["unique_id"]: i
        for i, line in enumerate(lines)
        if line["info"]["name"] in ("LogSeedResult", "LogModelResult", "LogSnapshotResult")
    }
    facts = {}
    for i, line in enumerate(lines):
        read = read_facts_line(line)
        if read is not None:
            assert read.unique_id not in facts
            facts[read.unique_id] = (i, read)
    assert set(facts) == set(results) and len(results) == 9
    assert max(i for i, _ in facts.values()) < len(names) - 1
    for unique_id, (i, read) in facts.items():
        assert i > results[unique_id], unique_id
        assert read.error is None
        own = next(r for r in read.warehouse.columns if r.identifier == unique_id.split(".")[-1])
        assert all(data_type for _, data_type in read.warehouse.columns[own]), unique_id
        assert read.warehouse.row_counts[own] > 0, unique_id  # views too


def test_a_facts_line_reads_back_as_written():
    relation = Relation("warehouse", "main", "orders")
    slow = Relation("warehouse", "main", "slow_view")
    written = FactsRead(
        "model.floe.orders",
        WarehouseFacts(
            columns={relation: [("id", "INTEGER")]},
            row_counts={relation: 10},
            not_counted={slow: "took too long"},
        ),
        rows_written=4,
        read_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    assert read_facts_line(json.loads(json.dumps(facts_line(written, "inv")))) == written
    assert read_facts_line({"info": {"name": "LogModelResult"}, "data": {}}) is None


def finished(
    unique_id: str, resource_type: str, status: str, message: str | None = None
) -> SimpleNamespace:
    """A ``NodeFinished`` message as dbt hands it to callbacks (its adapter response a
    protobuf ``Struct``, as in dbt's own)."""
    response = Struct()
    response.update({"_message": "OK", "rows_affected": 5})
    return SimpleNamespace(
        info=SimpleNamespace(name="NodeFinished", invocation_id="inv-1"),
        data=SimpleNamespace(
            node_info=SimpleNamespace(
                unique_id=unique_id, resource_type=resource_type, node_status=status
            ),
            run_result=SimpleNamespace(adapter_response=response, message=message),
        ),
    )


def test_the_callback_only_records_what_finished_and_never_raises():
    """dbt's threads call ``record``: it queues a successful seed, model or snapshot and any
    node that failed (with dbt's error text), ignores passing tests, skips and other events,
    and swallows anything malformed (a raising callback would fail dbt's node)."""
    reader = FactsReader(lambda: None, lambda: None, lambda line: None, reports=lambda: False)
    reader.record(finished("test.p.t", "test", "pass"))
    reader.record(finished("model.p.skipped", "model", "skipped"))
    reader.record(SimpleNamespace(info=SimpleNamespace(name="LogStartLine")))
    reader.record(object())
    assert reader._queue.empty()
    reader.record(finished("model.p.a", "model", "success"))
    reader.record(finished("model.p.bad", "model", "error", "Binder Error: no column x"))
    reader.record(finished("test.p.failing", "test", "fail", "Got 1 result"))
    recorded = [reader._queue.get_nowait() for _ in range(3)]
    assert [(r.unique_id, r.rows_affected, r.invocation_id, r.message) for r in recorded] == [
        ("model.p.a", 5, "inv-1", None),
        ("model.p.bad", 5, "inv-1", "Binder Error: no column x"),
        ("test.p.failing", 5, "inv-1", "Got 1 result"),
    ]
    assert reader.drain(5)


def test_a_failed_node_gets_its_line_with_the_error_text_on_any_adapter():
    """Where the reader reads no warehouse (another adapter: no cursor), every recorded node
    still gets its line: a failed one with dbt's error text, a completed one marked not read
    (floe-lineage reads that warehouse from its own side)."""
    lines: list[str] = []
    reader = FactsReader(lambda: None, lambda: DbtGraph({}), lines.append)
    reader.record(finished("model.p.bad", "model", "error", "Binder Error: no column x"))
    reader.record(finished("model.p.a", "model", "success"))
    assert reader.drain(5)
    read = [read_facts_line(json.loads(line)) for line in lines]
    assert [(r.unique_id, r.read, r.message, r.error) for r in read] == [
        ("model.p.bad", False, "Binder Error: no column x", None),
        ("model.p.a", False, None, None),
    ]


def test_nothing_is_written_where_dbt_does_not_log_json():
    lines: list[str] = []
    reader = FactsReader(lambda: None, lambda: DbtGraph({}), lines.append, reports=lambda: False)
    reader.record(finished("model.p.bad", "model", "error", "Binder Error"))
    assert reader.drain(5)
    assert lines == []


def _model(name: str, materialized: str, *parents: str) -> dict:
    return {
        "unique_id": f"model.w.{name}",
        "resource_type": "model",
        "name": name,
        "database": "w",
        "schema": "main",
        "config": {"materialized": materialized},
        "depends_on": {"nodes": [f"model.w.{p}" for p in parents]},
    }


def _graph(*models: dict) -> DbtGraph:
    return DbtGraph({"nodes": {m["unique_id"]: m for m in models}})


def _reader_on(con: duckdb.DuckDBPyConnection, graph: DbtGraph, lines: list[str]):
    """A reader on a cursor of ``con`` whose worker starts reading only once the returned
    event is set: what is recorded before that is queued, as while the worker is busy."""
    release = threading.Event()

    @contextmanager
    def connect():
        release.wait(10)
        yield con.cursor()

    return FactsReader(connect, lambda: graph, lines.append), release


def test_nodes_that_finished_while_the_worker_was_busy_are_read_together(tmp_path: Path):
    """Nodes queued while the worker was busy are read in one go, each line carrying its own
    facts, in the order dbt finished them; a relation is described once in a run (a child's
    line does not repeat its parent's columns); a read that fails for one of them (a view whose
    query fails when counted) costs that node its facts, not the others."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table a as select range as id, 'x' as label from range(4)")
        con.execute("create table b as select id, label from a where id > 0")
        con.execute("create view c as select id from b")
        graph = _graph(_model("a", "table"), _model("b", "table", "a"), _model("c", "view", "b"))
        lines: list[str] = []
        reader, release = _reader_on(con, graph, lines)
        for name in ("a", "b", "c"):
            reader.record(finished(f"model.w.{name}", "model", "success"))
        release.set()
        assert reader.drain(10)
        read = [read_facts_line(json.loads(line)) for line in lines]
        a, b, c = (Relation("w", "main", name) for name in "abc")
        assert [r.unique_id for r in read] == ["model.w.a", "model.w.b", "model.w.c"]
        assert [r.error for r in read] == [None, None, None]
        assert read[0].warehouse.columns == {a: [("id", "BIGINT"), ("label", "VARCHAR")]}
        assert read[1].warehouse.columns == {b: [("id", "BIGINT"), ("label", "VARCHAR")]}
        assert read[2].warehouse.columns == {c: [("id", "BIGINT")]}
        assert [r.warehouse.row_counts for r in read] == [{a: 4}, {b: 3}, {c: 3}]
        assert [r.rows_written for r in read] == [5, 5, None]  # tables: rows_affected

        # a view whose query fails when it is counted, among two that read fine
        con.execute("create view bad as select id from a where cast(label as integer) > 0")
        con.execute("create table d as select * from a")
        graph = _graph(_model("a", "table"), _model("bad", "view", "a"), _model("d", "table", "a"))
        lines.clear()
        reader, release = _reader_on(con, graph, lines)
        for name in ("bad", "d"):
            reader.record(finished(f"model.w.{name}", "model", "success"))
        release.set()
        assert reader.drain(10)
        bad_line, d_line = (read_facts_line(json.loads(line)) for line in lines)
        assert bad_line.unique_id == "model.w.bad"
        assert "Conversion Error" in bad_line.error
        assert bad_line.warehouse == WarehouseFacts()
        d = Relation("w", "main", "d")
        assert d_line.error is None
        assert d_line.warehouse.row_counts == {d: 4}
        # the parent a, read for neither node before, comes with d's line: bad's read failed
        assert set(d_line.warehouse.columns) == {d, a}


def test_once_every_node_finished_dbt_waits_for_the_lines_still_to_come(tmp_path: Path):
    """dbt's ``FinishedRunningStats`` (every node finished, before dbt's summary) closes the
    batch still open and returns once its lines are written, however long ``BATCH_WINDOW``:
    the facts precede dbt's summary instead of following it."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table a as select range as id from range(2)")
        graph = _graph(_model("a", "table"))
        lines: list[str] = []
        reader = FactsReader(
            lambda: nullcontext(con.cursor()),
            lambda: graph,
            lines.append,
            window=3600,  # never closes on its own here
            flush_wait=30,
        )
        reader.record(finished("model.w.a", "model", "success"))
        reader.record(SimpleNamespace(info=SimpleNamespace(name="FinishedRunningStats")))
        assert [read_facts_line(json.loads(line)).unique_id for line in lines] == ["model.w.a"]
        assert reader.drain(10)


SLOW_VIEW = (
    "select a.range % 7 as k, sum(a.range * b.range) as s"
    " from range(200000) as a, range(200000) as b group by 1"
)
"""A view whose count runs a 40-billion-row join: far beyond any bound a test sets."""


def test_a_view_slower_than_its_bound_is_given_up_and_the_cursor_stays_usable(tmp_path: Path):
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table t as select range as i from range(5)")
        con.execute("create view fast as select * from t where i > 1")
        con.execute(f"create view slow as {SLOW_VIEW}")
        t, fast, slow = (Relation("w", "main", name) for name in ("t", "fast", "slow"))
        cursor = con.cursor()  # as inside dbt: a cursor of the connection dbt holds
        facts = read_facts(
            cursor, [t, fast, slow], [t, fast, slow], views=[fast, slow], view_count_timeout=0.3
        )
        assert facts.row_counts == {t: 5, fast: 3}
        assert facts.not_counted == {slow: gave_up(0.3)}
        assert "longer than 0.3 s (lineage.view_count_timeout)" in facts.not_counted[slow]
        assert set(facts.columns) == {t, fast, slow}
        assert cursor.execute("select count(*) from t").fetchall() == [(5,)]  # not interrupted


class _RecordingCursor:
    """A DuckDB cursor that keeps the SQL it was given."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor
        self.queries: list[str] = []

    def execute(self, sql: str) -> duckdb.DuckDBPyConnection:
        self.queries.append(sql)
        return self._cursor.execute(sql)

    def interrupt(self) -> None:
        self._cursor.interrupt()


def test_the_tables_and_views_of_one_read_are_counted_in_one_query(tmp_path: Path):
    """One query for the columns and one for every count of a read, views bounded with the
    tables; a view that runs out of the bound then costs a count per view and one for the
    tables, as before."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table t as select range as i from range(5)")
        con.execute("create table u as select range as i from range(7)")
        con.execute("create view fast as select * from t where i > 1")
        con.execute(f"create view slow as {SLOW_VIEW}")
        t, u, fast, slow = (Relation("w", "main", name) for name in ("t", "u", "fast", "slow"))
        cursor = _RecordingCursor(con.cursor())
        facts = read_facts(cursor, [t, u, fast], [t, u, fast], views=[fast])
        assert facts.row_counts == {t: 5, u: 7, fast: 3}
        assert len(cursor.queries) == 2  # columns, then the three counts together
        assert cursor.queries[1].count("count(*)") == 3

        cursor = _RecordingCursor(con.cursor())
        facts = read_facts(
            cursor, [t, fast, slow], [t, fast, slow], views=[fast, slow], view_count_timeout=0.3
        )
        assert facts.row_counts == {t: 5, fast: 3}
        assert facts.not_counted == {slow: gave_up(0.3)}
        counts = [q.count("count(*)") for q in cursor.queries[1:]]
        assert counts == [3, 1, 1, 1]  # together, interrupted; each view; the table


def test_columns_are_read_per_relation_in_table_order_and_missing_ones_left_out(tmp_path: Path):
    """``pragma_table_info`` per relation (not a scan of ``information_schema``): the same
    columns and types information_schema gives, names matched case-insensitively, a relation
    that does not exist left out without costing the others theirs."""
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute('create table "Orders" (zeta integer, "Alpha Beta" varchar, d decimal(18, 3))')
        con.execute('create view v as select zeta, "Alpha Beta" from "Orders"')
        orders, v = Relation("w", "main", "orders"), Relation("W", "MAIN", "V")
        missing = Relation("w", "main", "nope")
        facts = read_facts(con.cursor(), [orders, missing, v], [])
        assert facts.columns == {
            orders: [("zeta", "INTEGER"), ("Alpha Beta", "VARCHAR"), ("d", "DECIMAL(18,3)")],
            v: [("zeta", "INTEGER"), ("Alpha Beta", "VARCHAR")],
        }
        schema = con.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_name = 'Orders' order by ordinal_position"
        ).fetchall()
        assert facts.columns[orders] == schema


def test_a_view_too_slow_to_count_has_no_row_count_and_a_warning(tmp_path: Path):
    """End to end with the defaults but a short bound: the dbt process gives the slow view's
    count up; its materialization and COMPLETE event have everything else, the other views
    their counts, and the step's log says why the one has none."""
    project = copy_dbt_project(tmp_path / "dbt")
    (project / "models" / "slow_view.sql").write_text(
        "{{ config(materialized='view') }}\n" + SLOW_VIEW + "\n"
    )
    ws = make_workspace(tmp_path / "ws", project)
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(ws, instance=instance, view_count_timeout=0.5)
    assert result.success
    slow = instance.get_latest_materialization_event(dg.AssetKey("slow_view"))
    metadata = slow.asset_materialization.metadata
    assert metadata["dagster/column_schema"].value.columns
    assert "dagster/row_count" not in metadata
    staged = instance.get_latest_materialization_event(dg.AssetKey("stg_orders"))
    assert staged.asset_materialization.metadata["dagster/row_count"].value > 0
    ended = [e for e in ws.events() if e["job"]["name"] == "model.floe.slow_view"][1:]
    assert [e["eventType"] for e in ended] == ["COMPLETE"]
    assert ended[0]["outputs"][0]["facets"]["schema"]["fields"]
    assert "outputStatistics" not in ended[0]["outputs"][0].get("outputFacets", {})
    warnings = [
        entry.user_message
        for entry in instance.all_logs(result.run_id)
        if "no row count for" in entry.user_message
    ]
    assert warnings == [
        "OpenLineage: no row count for warehouse.main.slow_view: counting the view's rows took"
        " longer than 0.5 s (lineage.view_count_timeout)"
    ]
