"""The lineage core on its own: no Dagster, no dbt process, synthetic dbt facts."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from openlineage.client.serde import Serde

from floe_lineage.dbt.log_events import NodeError, NodeFinished, NodeStarted, read_fact
from floe_lineage.dbt.manifest import DbtGraph
from floe_lineage.dbt.profile import ProfileError, read_target
from floe_lineage.dbt.relation import Relation
from floe_lineage.delivery.config import LineageConfigError, find_config, load_config
from floe_lineage.delivery.emitter import LineageEmitter
from floe_lineage.delivery.serialization import event_line
from floe_lineage.delivery.spool import Spool
from floe_lineage.in_dbt.facts_line import FactsRead, facts_line
from floe_lineage.invocation import InvocationLineage
from floe_lineage.openlineage.column_lineage import (
    PARALLEL_FROM,
    ColumnSource,
    _trace,
    column_lineage,
    snapshot_columns,
    trace_models,
)
from floe_lineage.openlineage.naming import stable_run_id
from floe_lineage.openlineage.observations import WarehouseFacts
from floe_lineage.openlineage.run_events import EmissionContext, JobRun
from floe_lineage.warehouse import DuckDBWarehouse
from floe_lineage.worker import Worker

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


def node(uid: str, parents: list[str] = (), materialized: str = "table", **extra: Any) -> dict:
    resource_type, package, name = uid.split(".")
    return {
        "unique_id": uid,
        "resource_type": resource_type,
        "package_name": package,
        "path": f"{name}.sql",
        "original_file_path": f"models/{name}.sql",
        "name": name,
        "alias": name,
        "database": "warehouse",
        "schema": "main",
        "config": {"materialized": materialized},
        "depends_on": {"nodes": list(parents)},
        **extra,
    }


MANIFEST = {
    "metadata": {"dbt_version": "1.11.0", "adapter_type": "duckdb"},
    "nodes": {
        n["unique_id"]: n
        for n in [
            node("seed.p.raw", materialized="seed"),
            node("model.p.eph", ["seed.p.raw", "source.p.src"], materialized="ephemeral"),
            node("model.p.a", ["model.p.eph"]),
            node("model.p.b", ["model.p.a"]),
            node("model.p.c", ["model.p.b"]),
            node("test.p.not_null_a", ["model.p.a"], materialized="test"),
        ]
    },
    "sources": {
        "source.p.src": {
            "unique_id": "source.p.src",
            "resource_type": "source",
            "name": "src",
            "identifier": "src_table",
            "database": "warehouse",
            "schema": "raw",
        }
    },
}


def raw(name: str, uid: str, at: datetime, **data: Any) -> dict:
    status = data.pop("node_status", "started")
    node_info = {
        "unique_id": uid,
        "node_status": status,
        "node_started_at": "",
        "node_finished_at": "",
    }
    key = "node_started_at" if name == "LogStartLine" else "node_finished_at"
    node_info[key] = at.replace(tzinfo=None).isoformat()
    return {
        "info": {"name": name, "ts": at.isoformat().replace("+00:00", "Z")},
        "data": {"node_info": node_info, **data},
    }


class FakeClient:
    """Stands in for the OpenLineage client: keeps events, optionally fails."""

    def __init__(self, fail: bool = False) -> None:
        self.events: list[Any] = []
        self.fail = fail

    def emit(self, event: Any) -> None:
        if self.fail:
            raise RuntimeError("backend down")
        self.events.append(event)

    def close(self, timeout: float = -1) -> bool:
        return True


class Recorder(LineageEmitter):
    """An emitter that records synchronously, to see exactly when events are handed over."""

    def __init__(self) -> None:
        super().__init__(FakeClient(), strict=True)
        self.events: list[Any] = []

    def emit(self, event: Any) -> None:
        self.events.append(event)


CONTEXT = EmissionContext(
    producer="https://example.com/floe",
    job_namespace="ns",
    dataset_namespace="duckdb://wh.duckdb",
    parent=JobRun("ns", "job.step", stable_run_id("orchestrator-run", "step")),
    parent_type=("ORCHESTRATOR", "STEP"),
    root=JobRun("ns", "job", "0b8f7f4e-55f9-4c5e-9a43-2a0f2f1f3c11"),
)
NO_DATABASE = DuckDBWarehouse("wh.duckdb", None)


def tracker(
    recorder: Recorder, tmp_path: Path, context: EmissionContext = CONTEXT
) -> InvocationLineage:
    lineage = InvocationLineage(
        recorder, context, NO_DATABASE, clock=lambda: T0 + timedelta(minutes=5)
    )
    lineage.attach(tmp_path, MANIFEST)  # no manifest.json there: the given manifest is used
    return lineage


def summary(events: list[Any]) -> list[tuple[str, str]]:
    return [(e.job.name, e.eventType.value) for e in events]


def test_run_ids_are_canonical_uuids_stable_for_the_same_parts():
    first = stable_run_id("run-1", "model.p.a")
    assert str(uuid.UUID(first)) == first
    assert stable_run_id("run-1", "model.p.a") == first
    assert stable_run_id("run-2", "model.p.a") != first


def test_dataset_name_joins_the_relation_parts():
    assert Relation("warehouse", "main", "orders").name == "warehouse.main.orders"


def test_dbt_log_events_become_node_facts():
    start = read_fact(raw("LogStartLine", "model.p.a", T0))
    assert start == NodeStarted("model.p.a", T0)
    assert start.at.tzinfo is not None
    assert read_fact(raw("LogModelResult", "model.p.a", T0, node_status="error")) == NodeFinished(
        "model.p.a", "error", T0
    )
    skipped = {
        "info": {"name": "SkippingDetails", "ts": "2026-01-01T12:00:00Z"},
        "data": {"node_info": {"unique_id": "model.p.b"}},
    }
    assert read_fact(skipped) == NodeFinished("model.p.b", "skipped", T0)
    error = {
        "info": {"name": "RunResultError", "ts": "2026-01-01T12:00:00Z"},
        "data": {"msg": "boom", "node_info": {"unique_id": "model.p.a"}},
    }
    assert read_fact(error) == NodeError("model.p.a", "boom")
    assert read_fact({"info": {"name": "MainReportVersion", "ts": "x"}, "data": {}}) is None


def test_graph_reads_through_ephemeral_models_and_names_sources_by_identifier():
    graph = DbtGraph(MANIFEST)
    assert [n.relation.name for n in graph.inputs("model.p.a")] == [
        "warehouse.main.raw",
        "warehouse.raw.src_table",
    ]
    assert graph.output("model.p.eph") is None
    assert graph.output("test.p.not_null_a") is None
    assert [n.unique_id for n in graph.inputs("test.p.not_null_a")] == ["model.p.a"]


def dbt_log(tmp_path: Path, *results: dict[str, Any]) -> None:
    """dbt's JSON log file of the invocation, with a NodeFinished line per result."""
    with (tmp_path / "dbt.log").open("a") as log:
        for result in results:
            uid = result.pop("unique_id")
            event = {
                "info": {"name": "NodeFinished", "level": "debug"},
                "data": {"node_info": {"unique_id": uid}, "run_result": result},
            }
            log.write(json.dumps(event) + "\n")


def compiled(tmp_path: Path, name: str, sql: str) -> None:
    path = tmp_path / "compiled" / "p" / "models" / f"{name}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql)


def test_every_event_is_sent_as_dbt_reports_it(tmp_path: Path):
    recorder = Recorder()
    lineage = tracker(recorder, tmp_path)
    compiled(tmp_path, "b", "select x")
    lineage.start()
    lineage.observe(raw("LogStartLine", "model.p.a", T0))
    assert summary(recorder.events) == [("job.step", "START"), ("model.p.a", "START")]
    lineage.observe(
        raw("LogModelResult", "model.p.a", T0 + timedelta(seconds=3), node_status="success")
    )
    assert summary(recorder.events)[-1] == ("model.p.a", "COMPLETE")  # at once
    lineage.observe(raw("LogStartLine", "test.p.not_null_a", T0 + timedelta(seconds=4)))
    lineage.observe(raw("LogStartLine", "model.p.b", T0 + timedelta(seconds=4)))
    dbt_log(tmp_path, {"unique_id": "model.p.b", "status": "error", "message": "Binder Error: x"})
    lineage.observe(
        raw("LogModelResult", "model.p.b", T0 + timedelta(seconds=5), node_status="error")
    )
    assert summary(recorder.events)[-1] == ("model.p.b", "FAIL")
    skipped = {
        "info": {"name": "SkippingDetails", "ts": "2026-01-01T12:00:06Z"},
        "data": {"node_info": {"unique_id": "model.p.c"}},
    }
    lineage.observe(skipped)
    assert summary(recorder.events)[-2:] == [("model.p.c", "START"), ("model.p.c", "ABORT")]
    lineage.finish(failure="dbt failed")

    assert summary(recorder.events)[-2:] == [
        ("test.p.not_null_a", "ABORT"),  # still running when dbt stopped
        ("job.step", "FAIL"),
    ]
    by_job = {(e.job.name, e.eventType.value): e for e in recorder.events}
    failed = by_job[("model.p.b", "FAIL")]
    assert failed.run.facets["errorMessage"].message == "Binder Error: x"  # from dbt.log
    assert failed.job.facets["sql"].query == "select x"  # from the compiled file
    assert failed.eventTime == (T0 + timedelta(seconds=5)).isoformat()
    assert by_job[("model.p.c", "START")].eventTime == by_job[("model.p.c", "ABORT")].eventTime
    assert by_job[("job.step", "FAIL")].run.facets["errorMessage"].message == "dbt failed"
    for job in ["model.p.a", "model.p.b", "model.p.c", "test.p.not_null_a"]:
        assert by_job[(job, "START")].run.runId == stable_run_id(CONTEXT.root.run_id, job)


def test_the_facets_every_event_repeats_are_one_object_none_can_change(tmp_path: Path):
    """The parent, engine and data-source facets are built once and shared by the events of an
    invocation; each event still has dicts of its own, so adding to one changes no other."""
    recorder = Recorder()
    lineage = tracker(recorder, tmp_path)
    lineage.observe(raw("LogStartLine", "model.p.a", T0))
    lineage.observe(raw("LogStartLine", "model.p.b", T0))
    a, b = recorder.events
    assert a.run.facets["parent"] is b.run.facets["parent"]
    assert a.run.facets["processing_engine"] is b.run.facets["processing_engine"]
    assert a.outputs[0].facets["dataSource"] is b.outputs[0].facets["dataSource"]
    a.run.facets["environmentVariables"] = "added to one event"  # as the client's emit does
    a.outputs[0].facets["extra"] = "added to one dataset"
    lineage.observe(raw("LogStartLine", "model.p.c", T0))
    for event in (b, recorder.events[-1]):
        assert "environmentVariables" not in event.run.facets
        assert "extra" not in event.outputs[0].facets
    assert json.loads(event_line(b))["run"]["facets"]["parent"]["job"]["name"] == "job.step"


def test_error_text_dbt_prints_only_at_the_end_follows_in_an_other_event(tmp_path: Path):
    """Without dbt's JSON log file, a FAIL says dbt's status; the error text dbt prints at the
    end of the run comes in an OTHER event of the same run."""
    recorder = Recorder()
    lineage = tracker(recorder, tmp_path)
    lineage.start()
    lineage.observe(raw("LogStartLine", "model.p.b", T0))
    lineage.observe(raw("LogModelResult", "model.p.b", T0, node_status="error"))
    error = {
        "info": {"name": "RunResultError", "ts": "2026-01-01T12:00:00Z"},
        "data": {"msg": "Binder Error: late", "node_info": {"unique_id": "model.p.b"}},
    }
    lineage.observe(error)
    lineage.finish(failure="dbt failed")
    assert summary(recorder.events) == [
        ("job.step", "START"),
        ("model.p.b", "START"),
        ("model.p.b", "FAIL"),
        ("model.p.b", "OTHER"),
        ("job.step", "FAIL"),
    ]
    fail, other = recorder.events[2], recorder.events[3]
    assert fail.run.facets["errorMessage"].message == "dbt reported status 'error'"
    assert other.run.facets["errorMessage"].message == "Binder Error: late"
    assert other.run.runId == fail.run.runId


def test_a_retried_attempt_gets_run_ids_of_its_own(tmp_path: Path):
    retry = replace(CONTEXT, attempt=1)
    first, second = Recorder(), Recorder()
    for recorder, context in ((first, CONTEXT), (second, retry)):
        lineage = tracker(recorder, tmp_path, context)
        lineage.observe(raw("LogStartLine", "model.p.a", T0))
    assert first.events[0].run.runId != second.events[0].run.runId
    assert second.events[0].run.runId == stable_run_id(
        CONTEXT.root.run_id, "model.p.a", "attempt 1"
    )


def test_event_line_says_what_the_openlineage_serializer_says(tmp_path: Path):
    recorder = Recorder()
    lineage = tracker(recorder, tmp_path)
    lineage.start()
    for uid in ("seed.p.raw", "model.p.a", "test.p.not_null_a"):
        lineage.observe(raw("LogStartLine", uid, T0))
        lineage.observe(raw("LogModelResult", uid, T0 + timedelta(seconds=1), node_status="pass"))
    lineage.finish(failure="boom")
    assert len(recorder.events) == 8  # no database: nothing to add in OTHER events
    for event in recorder.events:
        line = event_line(event)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert json.loads(line) == json.loads(Serde.to_json(event))


def test_many_models_are_traced_in_worker_processes_with_the_same_result():
    table = Relation("warehouse", "main", "t")
    tasks = [
        (
            f"model.p.m{i}",
            f"select a as b{i}, sum(c) as s from warehouse.main.t group by 1",
            "duckdb",
            {table: [("a", "INTEGER"), ("c", "INTEGER")]},
            [],
        )
        for i in range(PARALLEL_FROM + 6)
    ] + [("model.p.bad", "select from where", "duckdb", {}, [])]
    pooled = dict(trace_models(tasks))
    assert pooled == dict(map(_trace, tasks))
    assert pooled["model.p.m3"].fields == {
        "b3": [ColumnSource(table, "a", "IDENTITY")],
        "s": [ColumnSource(table, "c", "AGGREGATION")],
    }
    assert pooled["model.p.m3"].dataset == [ColumnSource(table, "a", "GROUP_BY", "INDIRECT")]
    assert isinstance(pooled["model.p.bad"], str)  # why it could not be traced


def test_interrupted_run_aborts_the_step(tmp_path: Path):
    recorder = Recorder()
    lineage = tracker(recorder, tmp_path)
    lineage.start()
    lineage.observe(raw("LogStartLine", "model.p.a", T0))
    lineage.finish(aborted=True)
    assert summary(recorder.events)[-2:] == [("model.p.a", "ABORT"), ("job.step", "ABORT")]


def test_emitter_delivers_in_order_in_the_background(tmp_path: Path):
    client = FakeClient()
    emitter = LineageEmitter(client, spool=Spool(tmp_path / "spool.jsonl"))
    for number in range(100):
        emitter.emit({"n": number})
    emitter.close()
    assert client.events == [{"n": n} for n in range(100)]
    assert (emitter.emitted, emitter.spooled) == (100, 0)


def test_failed_delivery_warns_once_and_spools_everything_after(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
):
    spool = Spool(tmp_path / "spool.jsonl")
    emitter = LineageEmitter(FakeClient(fail=True), log=logging.getLogger("t.e"), spool=spool)
    with caplog.at_level(logging.WARNING, logger="t.e"):
        for number in range(3):
            emitter.emit({"n": number})
        emitter.close()
    assert [r.getMessage() for r in caplog.records if r.name == "t.e"] == [
        "OpenLineage: error while delivering events; the rest go to the spool; lineage may be"
        " incomplete, the run goes on: RuntimeError: backend down"
        f" (undelivered events: {spool.path})",
        f"OpenLineage: 0 events delivered, 3 spooled to {spool.path}"
        " (send them with: floe-lineage replay), 0 lost",
    ]
    assert (emitter.emitted, emitter.spooled) == (0, 3)
    assert [json.loads(line) for line in spool.path.read_text().splitlines()] == [
        {"n": 0},
        {"n": 1},
        {"n": 2},
    ]
    replayed: list[Any] = []
    assert spool.drain(replayed.append) == (3, 0, None)
    assert replayed == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert spool.drain(replayed.append) == (0, 0, None)  # replaying again sends nothing twice


def test_strict_emitter_raises_delivery_errors_on_close(tmp_path: Path):
    emitter = LineageEmitter(FakeClient(fail=True), strict=True, spool=Spool(tmp_path / "s"))
    emitter.emit({"n": 1})
    with pytest.raises(RuntimeError, match="backend down"):
        emitter.close()


def test_disabled_lineage_builds_no_client(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert not LineageEmitter.configure(tmp_path).enabled


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_config_resolves_file_path_against_its_folder_and_expands_env(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("FLOE_TEST_FOLDER", "captured")
    config = load_config(
        write(
            tmp_path / "ol.yml",
            "transport:\n  type: file\n  log_file_path: ${FLOE_TEST_FOLDER}/events.jsonl\n",
        )
    )
    transport = config.client_config["transport"]
    assert transport["log_file_path"] == str(tmp_path / "captured" / "events.jsonl")
    assert (tmp_path / "captured").is_dir()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("transport: [file\n", "not valid YAML"),
        ("just text\n", "expected a mapping with a 'transport' mapping"),
        ("transport:\n  type: http\n  url: ${FLOE_UNSET_VARIABLE}\n", "FLOE_UNSET_VARIABLE"),
        ("transport:\n  type: file\n", "needs 'log_file_path'"),
        ("transport:\n  type: file\n  log_file_path: a-file/x.jsonl\n", "cannot create the folder"),
        ("transport:\n  type: file\n  log_file_path: .\n  append: true\n", "not a writable file"),
        ("transport:\n  url: http://localhost\n", "transport has no 'type'"),
        (
            "transport:\n  type: file\n  log_file_path: [1, 2]\n",
            "transport.log_file_path must be a path or URL, not list",
        ),
        (
            "transport:\n  type: composite\n  transports: 5\n",
            "transport.transports must be a list or a mapping of transports, not int",
        ),
        (
            "transport:\n  type: composite\n  transports:\n    a: {type: file}\n",
            "transport.transports.a: the file transport needs 'log_file_path'",
        ),
        (
            "transport:\n  type: http\n  url: http://localhost\n  auth: xyz\n",
            "transport.auth must be a mapping with a 'type'",
        ),
        (
            "transport:\n  type: http\n  url: http://localhost\n  auth: {type: xyz}\n",
            "transport.auth.type 'xyz' is not one of api_key, jwt, oauth2",
        ),
        (
            "transport:\n  type: http\n  url: http://localhost\n  timeout: soon\n",
            "transport.timeout must be a number of seconds above 0",
        ),
        ("transport:\n  type: carrier-pigeon\n", "cannot create the 'carrier-pigeon' transport"),
        ("transport:\n  type: http\n", "`url` key not passed"),
    ],
)
def test_config_errors_name_the_file_and_the_problem(tmp_path: Path, text: str, problem: str):
    write(tmp_path / "a-file", "not a folder")
    path = write(tmp_path / "ol.yml", text)
    with pytest.raises(LineageConfigError) as error:
        load_config(path).transport()
    assert str(path) in str(error.value) and problem in str(error.value)


def test_config_lookup_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    own = write(project / "openlineage.yml", "transport: {type: console}\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENLINEAGE_CONFIG", raising=False)
    assert find_config(project) == own
    cwd = write(tmp_path / "openlineage.yml", "transport: {type: console}\n")
    assert find_config(project) == cwd
    explicit = write(tmp_path / "other.yml", "transport: {type: console}\n")
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(explicit))
    assert find_config(project) == explicit
    monkeypatch.setenv("OPENLINEAGE_CONFIG", str(tmp_path / "missing.yml"))
    with pytest.raises(LineageConfigError, match=r"missing\.yml"):
        find_config(project)


def test_profile_path_is_rendered_and_resolved_against_the_project(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    write(tmp_path / "dbt_project.yml", "name: p\nprofile: p\n")
    write(
        tmp_path / "profiles.yml",
        "p:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        "      path: \"{{ env_var('FLOE_TEST_DB', 'data/wh.duckdb') }}\"\n",
    )
    monkeypatch.delenv("FLOE_TEST_DB", raising=False)
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    warehouse = DuckDBWarehouse.from_target(read_target(tmp_path))
    assert (warehouse.path, warehouse.file) == ("data/wh.duckdb", tmp_path / "data" / "wh.duckdb")
    assert warehouse.namespace == "duckdb://data/wh.duckdb"
    monkeypatch.setenv("FLOE_TEST_DB", "/elsewhere/wh.duckdb")
    assert DuckDBWarehouse.from_target(read_target(tmp_path)).path == "/elsewhere/wh.duckdb"
    with pytest.raises(ProfileError, match="no target 'prod'"):
        read_target(tmp_path, target="prod")


def test_http_gets_delivery_defaults_and_secrets_stay_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    text = (
        "transport:\n  type: http\n  url: http://127.0.0.1:9\n"
        "  auth:\n    type: api_key\n    apiKey: ${FLOE_TEST_API_KEY:-}\n"
    )
    monkeypatch.setenv("FLOE_TEST_API_KEY", "s3cr3t-value")
    config = load_config(write(tmp_path / "ol.yml", text), delivery_timeout=0.5)
    transport = config.client_config["transport"]
    assert (transport["timeout"], transport["retry"]) == (0.5, {"total": 0})
    assert transport["auth"]["apiKey"] == "s3cr3t-value"
    assert config.secrets == ("s3cr3t-value",)
    monkeypatch.delenv("FLOE_TEST_API_KEY")
    assert "auth" not in load_config(tmp_path / "ol.yml").client_config["transport"]


def test_indirect_lineage_names_the_columns_that_decide_rows_and_conditions():
    t, c = Relation("db", "main", "t"), Relation("db", "main", "c")
    inputs = {
        t: [("id", "INTEGER"), ("status", "VARCHAR"), ("amount", "INTEGER")],
        c: [("id", "INTEGER"), ("k", "INTEGER")],
    }
    sql = """
        with paid as (select * from db.main.t where status <> 'void'),
        totals as (select id, sum(amount) as total from paid group by id)
        select totals.id, case when c.k > 0 then totals.total else 0 end as shown,
               rank() over (partition by c.k order by totals.total) as place
        from totals join db.main.c as c on c.id = totals.id
        order by totals.id
    """
    lineage = column_lineage(sql, "duckdb", inputs)
    assert lineage.fields["shown"] == [
        ColumnSource(t, "amount", "AGGREGATION"),  # the value
        ColumnSource(c, "k", "CONDITIONAL", "INDIRECT"),  # only decides which value
    ]
    by_subtype = {}
    for source in lineage.dataset:
        by_subtype.setdefault(source.subtype, []).append(
            (source.relation.identifier, source.column)
        )
    assert by_subtype == {
        "JOIN": [("c", "id"), ("t", "id")],
        "FILTER": [("t", "status")],
        "GROUP_BY": [("t", "id")],
        "SORT": [("t", "id")],
        "WINDOW": [("c", "k"), ("t", "amount")],
    }


def test_a_table_function_is_no_dataset_in_column_lineage():
    """``range(...)``, ``generate_series(...)``: rows made by a function name no dataset, so
    neither a field nor the dataset-level lineage has an input without a name."""
    t = Relation("db", "main", "t")
    sql = """
        select t.id, g.generate_series as step, sum(r.range) as total
        from db.main.t as t, generate_series(1, 3) as g, range(10) as r
        where r.range > t.id
        group by t.id, g.generate_series
    """
    lineage = column_lineage(sql, "duckdb", {t: [("id", "INTEGER")]})
    assert lineage.fields["id"] == [ColumnSource(t, "id", "IDENTITY")]
    assert lineage.fields["step"] == lineage.fields["total"] == []  # no facet field made
    assert {s.relation for s in lineage.dataset} == {t}
    assert all(s.relation.identifier for f in lineage.fields.values() for s in f)


def test_an_incremental_model_reading_itself_keeps_its_lineage():
    """On every run after the first, ``{{ this }}`` (the model's own table) is read too."""
    source, this = Relation("db", "main", "views"), Relation("db", "main", "views_incremental")
    columns = [("view_id", "INTEGER"), ("page", "VARCHAR")]
    sql = """
        select v.view_id, v.page from db.main.views as v
        where v.view_id > (select coalesce(max(view_id), 0) from db.main.views_incremental)
    """
    lineage = column_lineage(sql, "duckdb", {source: columns, this: columns}, columns)
    assert lineage.fields["page"] == [ColumnSource(source, "page", "IDENTITY")]
    assert ColumnSource(this, "view_id", "FILTER", "INDIRECT") in lineage.dataset
    assert ColumnSource(source, "view_id", "FILTER", "INDIRECT") in lineage.dataset


def test_a_snapshots_own_columns_have_lineage_from_its_config():
    source = Relation("db", "main", "stg_customers")
    output = [(name, "VARCHAR") for name in ("customer_id", "dbt_scd_id", "dbt_valid_from")]
    checked = snapshot_columns({"unique_key": "customer_id", "strategy": "check"}, source, output)
    assert checked == {"dbt_scd_id": [ColumnSource(source, "customer_id", "TRANSFORMATION")]}
    timed = snapshot_columns(
        {"unique_key": ["customer_id"], "strategy": "timestamp", "updated_at": "changed_at"},
        source,
        output,
    )
    assert timed["dbt_valid_from"] == [ColumnSource(source, "changed_at", "IDENTITY")]


def test_column_classification_is_read_from_floe_meta_too():
    from floe_lineage.openlineage.facets import column_classification

    found = column_classification(
        "https://example.com/p",
        {
            "email": {"floe": {"classification": "pii", "sensitivity": "high"}},
            "name": {"classification": "pii"},
            "both": {"classification": "public", "floe": {"classification": "pii"}},
            "none": {"owner": "x"},
        },
    )["columnClassification"].fields
    assert found == {
        "email": {"classification": "pii", "sensitivity": "high"},
        "name": {"classification": "pii"},
        "both": {"classification": "pii"},
    }


class BlockedRecorder(Recorder):
    """A recorder whose ``emit`` waits until released: stands in for delivery, a warehouse
    read or a trace that takes long."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def emit(self, event: Any) -> None:
        self.release.wait()
        super().emit(event)


def test_with_a_worker_observe_only_records_and_order_holds(tmp_path: Path):
    """``use_worker``: ``observe`` returns while what the event leads to still waits (here,
    delivery blocked); once it goes on, every event comes in dbt's order: START before the
    terminal event of each node, the parent's terminal event last."""
    recorder = BlockedRecorder()
    lineage = tracker(recorder, tmp_path)
    lineage.use_worker()
    recorder.release.set()
    lineage.start()
    recorder.release.clear()
    lineage.observe(raw("LogStartLine", "model.p.a", T0))
    lineage.observe(
        raw("LogModelResult", "model.p.a", T0 + timedelta(seconds=1), node_status="success")
    )
    assert summary(recorder.events) == [("job.step", "START")]  # observe did not wait
    assert not lineage.settled("model.p.a")
    recorder.release.set()
    lineage.finish()
    assert summary(recorder.events) == [
        ("job.step", "START"),
        ("model.p.a", "START"),
        ("model.p.a", "COMPLETE"),
        ("job.step", "COMPLETE"),
    ]
    assert lineage.settled("model.p.a")


def test_a_full_worker_queue_makes_observe_wait_and_loses_nothing():
    """The queue is bounded: past it ``submit`` waits for room; no task is dropped, all run
    in order; an error a task raised reaches the caller of ``drain``."""
    worker = Worker("test", size=2)
    gate = threading.Event()
    done: list[int] = []
    worker.submit(gate.wait)
    for n in range(2):
        worker.submit(lambda n=n: done.append(n))
    waiting = threading.Thread(target=lambda: worker.submit(lambda: done.append(2)))
    waiting.start()
    waiting.join(0.05)
    assert waiting.is_alive()  # the queue is full: submit waits
    gate.set()
    waiting.join()

    def broken() -> None:
        raise ValueError("strict")

    worker.submit(broken)
    worker.submit(lambda: done.append(3))
    with pytest.raises(ValueError, match="strict"):
        worker.drain()
    assert done == [0, 1, 2, 3]


def test_a_completed_models_terminal_event_waits_for_the_facts_dbt_reports(tmp_path: Path):
    """With ``floe-lineage-dbt`` (``expect_facts_from_dbt``): a completed model's COMPLETE is
    sent when its facts line comes, with the columns of its relation and inputs (from earlier
    lines too), its row count, the rows written and the column lineage traced from them; a
    model whose line never came gets its COMPLETE when dbt exited, still without OTHER event."""
    recorder = Recorder()
    lineage = tracker(recorder, tmp_path)
    lineage.expect_facts_from_dbt()
    compiled(tmp_path, "b", 'select x from "warehouse"."main"."a"')
    lineage.start()
    at = T0 + timedelta(seconds=1)
    a, b = Relation("warehouse", "main", "a"), Relation("warehouse", "main", "b")
    lineage.observe(raw("LogStartLine", "model.p.a", T0))
    lineage.observe(raw("LogModelResult", "model.p.a", at, node_status="success"))
    assert summary(recorder.events)[-1] == ("model.p.a", "START")  # waits for its facts
    lineage.observe(
        facts_line(
            FactsRead("model.p.a", WarehouseFacts({a: [("x", "INTEGER")]}, {a: 3}), None, at)
        )
    )
    assert summary(recorder.events)[-1] == ("model.p.a", "COMPLETE")
    lineage.observe(raw("LogStartLine", "model.p.b", T0))
    lineage.observe(raw("LogModelResult", "model.p.b", at, node_status="success"))
    facts_b = WarehouseFacts({b: [("x", "INTEGER")]}, {b: 7})
    lineage.observe(facts_line(FactsRead("model.p.b", facts_b, 2, at)))
    completed = recorder.events[-1]
    assert (completed.job.name, completed.eventType.value) == ("model.p.b", "COMPLETE")
    (output,) = completed.outputs
    assert output.outputFacets["outputStatistics"].rowCount == 2  # rows written, not held
    assert [f.name for f in completed.inputs[0].facets["schema"].fields] == ["x"]
    assert output.facets["columnLineage"].fields["x"].inputFields[0].name == "warehouse.main.a"
    assert lineage.facts_of("model.p.b").row_count == 7  # Dagster's: the table's
    lineage.finish()
    assert "OTHER" not in {e.eventType.value for e in recorder.events}


class LiveWarehouse:
    """A warehouse read while dbt runs (as PostgreSQL): every relation holds 10 rows."""

    adapter_type = "postgres"
    dialect = "postgres"
    namespace = "postgres://db:5432"
    supported = True
    reads_during_run = True

    def inspect(self, describe, count, external=None) -> WarehouseFacts:
        return WarehouseFacts(
            columns={r: [("x", "integer")] for r in describe}, row_counts=dict.fromkeys(count, 10)
        )

    def close(self) -> None:
        pass


def test_output_statistics_count_the_rows_written_where_dbt_reports_them(tmp_path: Path):
    """An incremental model (or table) whose adapter response has ``rows_affected`` (dbt logs
    it with the node's result in ``dbt.log``): ``outputStatistics.rowCount`` is the rows this
    run wrote; Dagster's row count stays the table's; without ``rows_affected`` (dbt-duckdb),
    the table's count."""
    recorder = Recorder()
    lineage = InvocationLineage(recorder, CONTEXT, LiveWarehouse())
    lineage.attach(tmp_path, MANIFEST)
    dbt_log(
        tmp_path,
        {"unique_id": "model.p.a", "status": "success", "adapter_response": {"rows_affected": 4}},
        {"unique_id": "model.p.b", "status": "success", "adapter_response": {"_message": "OK"}},
    )
    lineage.start()
    for uid in ("model.p.a", "model.p.b"):
        lineage.observe(raw("LogStartLine", uid, T0))
        lineage.observe(raw("LogModelResult", uid, T0, node_status="success"))
    lineage.finish()
    counted = {
        e.job.name: e.outputs[0].outputFacets["outputStatistics"].rowCount
        for e in recorder.events
        if e.eventType.value == "COMPLETE" and e.outputs
    }
    assert counted == {"model.p.a": 4, "model.p.b": 10}
    assert lineage.facts_of("model.p.a").row_count == 10
