"""Materialize the sample's dbt assets through the Dagster component against DuckDB and check
the OpenLineage events captured by the file transport. Expectations come from the dbt manifest
and the Dagster run, not from the lineage code under test."""

from __future__ import annotations

import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from conftest import (
    NAMESPACE,
    PRODUCER,
    Workspace,
    materialize,
    step_name,
)
from schema_oracle import assert_schema_valid

import floe_lineage
from floe_lineage.dagster.metadata import STREAM_TICK, with_lineage_metadata
from floe_lineage.invocation import NodeFacts

RUNNABLE = {"model", "seed", "snapshot", "test"}
TERMINAL = {"COMPLETE", "FAIL", "ABORT"}


def manifest(ws: Workspace) -> dict[str, Any]:
    return json.loads((ws.project / "target" / "manifest.json").read_text())


def relation_name(node: dict[str, Any]) -> str:
    table = node.get("identifier") if node["resource_type"] == "source" else node["alias"]
    return f"{node['database']}.{node['schema']}.{table}"


def expected_edges(m: dict[str, Any]) -> dict[str, tuple[set[str], set[str]]]:
    """Per runnable node: (input dataset names, output dataset names) from the manifest."""
    every = {**m["nodes"], **m["sources"]}
    edges = {}
    for uid, node in m["nodes"].items():
        if node["resource_type"] not in RUNNABLE:
            continue
        inputs = {relation_name(every[p]) for p in node["depends_on"].get("nodes", [])}
        outputs = set() if node["resource_type"] == "test" else {relation_name(node)}
        edges[uid] = (inputs, outputs)
    return edges


def by_run(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        runs[event["run"]["runId"]].append(event)
    return runs


def node_events(events: list[dict[str, Any]], step_name: str) -> list[dict[str, Any]]:
    return [e for e in events if e["job"]["name"] != step_name]


def assert_every_start_closed_once(events: list[dict[str, Any]]) -> None:
    """Every run: START, then exactly one terminal event; OTHER events may follow it."""
    for run_id, run in by_run(events).items():
        types = [e["eventType"] for e in run]
        assert types[0] == "START" and types[1] in TERMINAL, (run_id, types)
        assert set(types[2:]) <= {"OTHER"}, (run_id, types)
        assert len({e["job"]["name"] for e in run}) == 1


def last_of(events: list[dict[str, Any]], job: str) -> dict[str, Any]:
    """A job's last event: the OTHER event with the warehouse's facts, else the terminal one."""
    return [e for e in events if e["job"]["name"] == job][-1]


def test_every_node_has_start_then_exactly_one_terminal_event(build):
    result, ws = build
    events = node_events(ws.events(), step_name(result))
    assert_every_start_closed_once(events)
    assert {e["job"]["name"] for e in events} == set(expected_edges(manifest(ws)))
    assert {e["eventType"] for e in events if e["eventType"] != "START"} == {"COMPLETE", "OTHER"}


def test_inputs_and_outputs_follow_the_dbt_dag(build):
    result, ws = build
    edges = expected_edges(manifest(ws))
    for event in node_events(ws.events(), step_name(result)):
        inputs, outputs = edges[event["job"]["name"]]
        assert {d["name"] for d in event["inputs"]} == inputs, event["job"]["name"]
        assert {d["name"] for d in event["outputs"]} == outputs, event["job"]["name"]
    # a spot check a reader can verify by eye
    orders = next(e for e in ws.events() if e["job"]["name"] == "model.floe.orders")
    assert [d["name"] for d in orders["inputs"]] == [
        "warehouse.main.stg_orders",
        "warehouse.main.stg_payments",
    ]


def test_datasets_are_named_like_dbt_ol(build):
    _, ws = build
    for event in ws.events():
        for dataset in event["inputs"] + event["outputs"]:
            assert dataset["namespace"] == "duckdb://" + str(ws.database)
            assert dataset["name"].count(".") == 2


def test_step_is_the_parent_and_the_dagster_run_the_root(build):
    result, ws = build
    name = step_name(result)
    step = [e for e in ws.events() if e["job"]["name"] == name]
    assert [e["eventType"] for e in step] == ["START", "COMPLETE"]
    step_run_id = step[0]["run"]["runId"]
    root = {
        "run": {"runId": result.run_id},
        "job": {"namespace": NAMESPACE, "name": result.dagster_run.job_name},
    }
    assert step[0]["run"]["facets"]["parent"]["root"] | {} == root | {
        "job": root["job"] | {"facets": {}},
        "run": root["run"] | {"facets": {}},
    }
    for event in node_events(ws.events(), name):
        parent = event["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == step_run_id
        assert parent["job"] == {"namespace": NAMESPACE, "name": name, "facets": {}}
        assert parent["root"]["run"]["runId"] == result.run_id
        assert parent["root"]["job"]["name"] == result.dagster_run.job_name


def test_run_ids_are_canonical_and_stable_per_dagster_run_and_node(build):
    result, ws = build
    for event in ws.events():
        run_id = event["run"]["runId"]
        assert str(uuid.UUID(run_id)) == run_id
    ids = {e["job"]["name"]: e["run"]["runId"] for e in node_events(ws.events(), step_name(result))}
    assert len(set(ids.values())) == len(ids)
    expected = str(
        uuid.uuid5(
            uuid.UUID("6f1c5d2e-8a41-4b8e-9a0e-2f5f0f4c6a11"),
            f"{result.run_id}\x1fmodel.floe.orders",
        )
    )
    assert ids["model.floe.orders"] == expected


def test_event_times_producer_and_order(build):
    result, ws = build
    events = ws.events()
    step_end = datetime.fromisoformat(events[-1]["eventTime"])
    assert events[-1]["job"]["name"] == step_name(result)
    for event in events:
        assert event["producer"] == PRODUCER
        assert datetime.fromisoformat(event["eventTime"]).tzinfo is not None
    for run in by_run(node_events(events, step_name(result))).values():
        started, ended, *added = (datetime.fromisoformat(e["eventTime"]) for e in run)
        assert started <= ended <= step_end
        assert all(ended <= other <= step_end for other in added)


def test_facets(build):
    result, ws = build
    m = manifest(ws)
    for event in node_events(ws.events(), step_name(result)):
        node = m["nodes"][event["job"]["name"]]
        job_type = event["job"]["facets"]["jobType"]
        assert (job_type["processingType"], job_type["integration"], job_type["jobType"]) == (
            "BATCH",
            "DBT",
            node["resource_type"].upper(),
        )
        engine = event["run"]["facets"]["processing_engine"]
        assert (engine["name"], engine["version"]) == ("dbt", m["metadata"]["dbt_version"])
        assert engine["openlineageAdapterVersion"] == floe_lineage.__version__
        for dataset in event["inputs"] + event["outputs"]:
            assert dataset["facets"]["dataSource"]["uri"] == dataset["namespace"]
        # compiled SQL: live from dbt's compiled file (a snapshot's comes from run_results.json,
        # with the OTHER event), a seed has none
        kind, state = node["resource_type"], event["eventType"]
        if (kind in ("model", "test") and state != "START") or (kind, state) == (
            "snapshot",
            "OTHER",
        ):
            assert event["job"]["facets"]["sql"]["query"].strip(), event["job"]["name"]
        if event["eventType"] == "OTHER":  # after dbt released DuckDB: its real columns
            for dataset in event["inputs"] + event["outputs"]:
                assert dataset["facets"]["schema"]["fields"], dataset["name"]


def test_terminal_events_carry_the_warehouses_facts_with_no_enrichment_events(build):
    """DuckDB by default: the dbt process reads each finished node's facts through dbt's own
    connection (``floe-lineage-dbt``), so every COMPLETE of a model, seed or snapshot carries
    its typed schema, its inputs' schemas, its row count (tables) and its column lineage; no
    OTHER event follows to add them."""
    result, ws = build
    events = node_events(ws.events(), step_name(result))
    # OTHER events only for tests (the schema of what they test) and for the snapshot whose SQL
    # dbt writes to run_results.json alone (defined in YAML): its column lineage, after the run
    others = {e["job"]["name"] for e in events if e["eventType"] == "OTHER"}
    assert {n for n in others if not n.startswith("test.")} == {"snapshot.floe.customers_snapshot"}
    written = [
        e
        for e in events
        if e["eventType"] == "COMPLETE" and e["job"]["name"].split(".")[0] != "test"
    ]
    assert len(written) == 9  # 3 seeds, 5 models, 1 snapshot
    for event in written:
        name, output = event["job"]["name"], event["outputs"][0]
        assert output["facets"]["schema"]["fields"], name
        assert all(d["facets"]["schema"]["fields"] for d in event["inputs"]), name
        assert output["outputFacets"]["outputStatistics"]["rowCount"] > 0, name  # views too
        if event["inputs"] and name.startswith("model."):
            assert output["facets"]["columnLineage"]["fields"], name


def test_compiled_sql_and_real_column_types(build):
    _, ws = build
    orders = last_of(ws.events(), "model.floe.orders")
    assert '"warehouse"."main"."stg_payments"' in orders["job"]["facets"]["sql"]["query"]
    assert orders["job"]["facets"]["sql"]["dialect"] == "duckdb"
    fields = orders["outputs"][0]["facets"]["schema"]["fields"]
    assert [(f["name"], f["type"]) for f in fields] == [
        ("order_id", "INTEGER"),
        ("customer_id", "INTEGER"),
        ("ordered_at", "DATE"),
        ("status", "VARCHAR"),
        ("amount", "DOUBLE"),
        ("payment_count", "BIGINT"),
    ]
    assert fields[0]["description"] == "Primary key."


def test_events_pass_the_official_schemas(build):
    _, ws = build
    assert_schema_valid(ws.events_file)


def test_failing_model_gives_fail_with_dbt_error_and_aborts_downstream(failed_build):
    result, ws = failed_build
    assert not result.success  # dbt failed, so the Dagster step fails; lineage stays complete
    events = ws.events()
    name = step_name(result)
    nodes = node_events(events, name)
    assert_every_start_closed_once(nodes)
    final = {e["job"]["name"]: e for e in nodes if e["eventType"] in TERMINAL}
    failed = final["model.floe.stg_orders"]
    assert failed["eventType"] == "FAIL"
    # dbt's error text, in the terminal event itself: read live from dbt's JSON log file
    assert "no_such_column" in failed["run"]["facets"]["errorMessage"]["message"]
    downstream = [
        "model.floe.orders",
        "model.floe.customers",
        "test.floe.assert_order_amounts_not_negative",
    ]
    for job in downstream:
        assert final[job]["eventType"] == "ABORT", job
    assert final["model.floe.stg_payments"]["eventType"] == "COMPLETE"
    step = [e for e in events if e["job"]["name"] == name]
    assert [e["eventType"] for e in step] == ["START", "FAIL"]
    assert "dbt" in step[1]["run"]["facets"]["errorMessage"]["message"]
    assert_schema_valid(ws.events_file)


def test_failing_dbt_test_gives_fail(failed_build):
    _, ws = failed_build
    final = {e["job"]["name"]: e for e in ws.events() if e["eventType"] in TERMINAL}
    failed = final["test.floe.unique_stg_payments_payment_id.3744510712"]
    assert failed["eventType"] == "FAIL"
    assert "Got 1 result" in failed["run"]["facets"]["errorMessage"]["message"]


BROKEN_CONFIGS = {  # one failure at start-up, one at every emit; test_core has more
    "unknown transport": "transport:\n  type: carrier-pigeon\n",
    "events path is a folder": (
        "transport:\n  type: file\n  log_file_path: {folder}\n  append: true\n"
    ),
}


@pytest.mark.parametrize("case", BROKEN_CONFIGS)
def test_broken_lineage_config_never_fails_the_run(workspace: Workspace, tmp_path: Path, case: str):
    config = tmp_path / "broken.yml"
    config.write_text(BROKEN_CONFIGS[case].format(folder=tmp_path))
    instance = dg.DagsterInstance.ephemeral()

    result = materialize(
        workspace, config=config, strict=False, selection="raw_customers", instance=instance
    )

    assert result.success
    warnings = [
        log.user_message
        for log in instance.all_logs(result.run_id)
        if log.level == logging.WARNING and "OpenLineage" in log.user_message
    ]
    assert len(warnings) == 1, warnings


def test_strict_mode_raises_lineage_errors(workspace: Workspace, tmp_path: Path):
    config = tmp_path / "broken.yml"
    config.write_text(BROKEN_CONFIGS["unknown transport"])
    result = materialize(workspace, config=config, strict=True, selection="raw_customers")
    assert not result.success


def test_disabled_lineage_emits_nothing(workspace: Workspace, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    result = materialize(workspace, selection="raw_customers")
    assert result.success
    assert not workspace.events_file.exists()


class FactsAtExit:
    """Lineage on a warehouse read once dbt exits (DuckDB): no node's facts before that."""

    enabled = True

    def __init__(self) -> None:
        self.exited = False

    def add_facts(self) -> None:
        self.exited = True

    def settled(self, unique_id: str) -> bool:
        return True

    def facts_of(self, unique_id: str) -> NodeFacts | None:
        if not self.exited:
            return None
        return NodeFacts(f"run-{unique_id}", unique_id, [("id", "INTEGER", None)], 3, None)

    def run_id_of(self, unique_id: str) -> str:
        return f"run-{unique_id}"


def dbt_outputs(produced: list[str]) -> Iterator[dg.Output]:
    for name in ("stg_orders", "orders"):
        produced.append(name)
        yield dg.Output(None, output_name=name, metadata={"unique_id": f"model.floe.{name}"})


def test_disabled_lineage_holds_no_materialization():
    """With lineage off no facts ever come: each materialization goes on to Dagster as
    dagster-dbt yields it, while dbt still runs, not once dbt exited."""

    class Disabled:
        enabled = False

    produced: list[str] = []
    outputs = with_lineage_metadata(
        dbt_outputs(produced), Disabled(), lambda name: None, wait_for_facts=True
    )
    first = next(outputs)
    assert first.output_name == "stg_orders"
    assert produced == ["stg_orders"]


def test_not_waiting_for_facts_records_each_materialization_at_once_with_its_run_id():
    produced: list[str] = []
    outputs = with_lineage_metadata(
        dbt_outputs(produced), FactsAtExit(), lambda name: None, wait_for_facts=False
    )
    first = next(outputs)
    assert produced == ["stg_orders"]  # dbt still runs
    assert first.metadata["openlineage/run_id"].value == "run-model.floe.stg_orders"
    assert "dagster/column_schema" not in first.metadata
    assert [o.output_name for o in outputs] == ["orders"]


def test_waiting_for_facts_holds_each_materialization_until_dbt_exits():
    produced: list[str] = []
    outputs = with_lineage_metadata(
        dbt_outputs(produced), FactsAtExit(), lambda name: None, wait_for_facts=True
    )
    first = next(outputs)
    assert produced == ["stg_orders", "orders"]  # every event read: dbt exited
    assert first.metadata["dagster/row_count"].value == 3
    assert first.metadata["openlineage/run_id"].value == "run-model.floe.stg_orders"


class FactsFromDbt(FactsAtExit):
    """Lineage whose facts the dbt process reports node by node (``floe-lineage-dbt``)."""

    def __init__(self, pending: set[str]) -> None:
        super().__init__()
        self.pending = pending

    def settled(self, unique_id: str) -> bool:
        return unique_id not in self.pending

    def facts_of(self, unique_id: str) -> NodeFacts | None:
        if unique_id in self.pending and not self.exited:
            return None
        return NodeFacts(f"run-{unique_id}", unique_id, [("id", "INTEGER", None)], 3, None)


def test_a_materialization_waits_for_its_own_facts_only_and_keeps_its_place():
    """A materialization whose facts the dbt process is still to report waits for them, not for
    dbt to exit; what dagster-dbt yields after it waits behind it (Dagster's order); the line
    that brings the facts (``STREAM_TICK``) releases them."""
    lineage = FactsFromDbt({"model.floe.stg_orders"})
    produced: list[Any] = []

    def stream() -> Iterator[Any]:
        for name in ("stg_orders", "orders"):
            produced.append(name)
            yield dg.Output(None, output_name=name, metadata={"unique_id": f"model.floe.{name}"})
            yield STREAM_TICK
        lineage.pending.clear()  # the facts line of stg_orders
        produced.append("facts")
        yield STREAM_TICK
        produced.append("more dbt output")
        yield STREAM_TICK

    outputs = with_lineage_metadata(stream(), lineage, lambda name: None, wait_for_facts=False)
    first = next(outputs)
    assert produced == ["stg_orders", "orders", "facts"]  # released by the facts, dbt runs on
    assert first.output_name == "stg_orders"
    assert first.metadata["dagster/row_count"].value == 3
    assert next(outputs).output_name == "orders"
    assert not lineage.exited
    assert list(outputs) == []


def test_by_default_duckdb_materializations_carry_every_fact_while_dbt_runs(workspace: Workspace):
    """``asset_metadata: auto`` on DuckDB, read back from Dagster's event log: every model's,
    seed's and snapshot's materialization carries its column schema (warehouse types, dbt
    descriptions), column lineage, row count (tables) and OpenLineage run id, and none was held
    to the end of the run: each is recorded before the checks of the last tests dbt ran (held
    to the end, they would all follow every check)."""
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(workspace, instance=instance)
    assert result.success
    completed = {
        e["job"]["name"]: e["run"]["runId"]
        for e in workspace.events()
        if e["eventType"] == "COMPLETE"
    }

    def storage_ids(kind: dg.DagsterEventType) -> list[int]:
        records = instance.get_records_for_run(result.run_id, of_type=kind, limit=1000).records
        return [r.storage_id for r in records]

    last_check = max(storage_ids(dg.DagsterEventType.ASSET_CHECK_EVALUATION))
    materialized = storage_ids(dg.DagsterEventType.ASSET_MATERIALIZATION)
    assert len(materialized) == 9 and max(materialized) < last_check
    seeds = {"raw_customers", "raw_orders", "raw_payments"}
    models = {"stg_customers", "stg_orders", "stg_payments", "orders", "customers"}
    for name in seeds | models | {"customers_snapshot"}:
        recorded = instance.get_latest_materialization_event(dg.AssetKey(name))
        metadata = recorded.asset_materialization.metadata
        unique_id = metadata["unique_id"].value
        assert metadata["openlineage/run_id"].value == completed[unique_id], name
        schema = metadata["dagster/column_schema"].value
        assert schema.columns and all(c.type for c in schema.columns), name
        if name in models:
            assert metadata["dagster/column_lineage"].value.deps_by_column, name
        assert metadata["dagster/row_count"].value > 0, name  # views too
    schema = instance.get_latest_materialization_event(dg.AssetKey("customers"))
    columns = schema.asset_materialization.metadata["dagster/column_schema"].value.columns
    assert {c.name: c.description for c in columns}["lifetime_value"] == (
        "Sum of all order amounts."
    )
    assert {c.name: c.type for c in columns}["customer_id"] == "INTEGER"
    # the facts go on the materializations alone, not also on the step's outputs (stored twice)
    outputs = instance.get_records_for_run(
        result.run_id, of_type=dg.DagsterEventType.STEP_OUTPUT, limit=1000
    ).records
    outputs = [
        r.event_log_entry.dagster_event.event_specific_data
        for r in outputs
        if r.event_log_entry.dagster_event.event_specific_data.step_output_handle.output_name
        in seeds | models | {"customers_snapshot"}
    ]
    assert len(outputs) == 9
    for output in outputs:
        output_metadata = output.metadata
        assert "unique_id" in output_metadata  # dagster-dbt's own stay
        assert not set(output_metadata) & {
            "dagster/column_schema",
            "dagster/column_lineage",
            "dagster/row_count",
            "openlineage/run_id",
        }


def test_without_asset_metadata_materializations_carry_none_and_events_keep_every_fact(
    workspace: Workspace,
):
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(
        workspace, selection="+stg_customers", instance=instance, asset_metadata=False
    )
    assert result.success
    recorded = instance.get_latest_materialization_event(dg.AssetKey("stg_customers"))
    metadata = recorded.asset_materialization.metadata
    assert "unique_id" in metadata  # dagster-dbt's own
    assert not {"dagster/column_schema", "dagster/row_count", "openlineage/run_id"} & set(metadata)
    (completed,) = [
        e
        for e in workspace.events()
        if e["job"]["name"] == "model.floe.stg_customers" and e["eventType"] == "COMPLETE"
    ]
    assert completed["outputs"][0]["facets"]["schema"]["fields"]
    assert completed["outputs"][0]["facets"]["columnLineage"]["fields"]


def test_node_runs_name_their_dbt_invocation_and_target(build):
    """dbt-ol's ``dbt_run`` facet (its name, fields and schema URL) and floe-lineage's
    ``dbt_target``: which dbt invocation, profile and target a node ran in."""
    result, ws = build
    run_manifest_file = next(ws.project.glob(f"target/*-{result.run_id[:7]}-*/manifest.json"))
    invocation_id = json.loads(run_manifest_file.read_text())["metadata"]["invocation_id"]
    for event in node_events(ws.events(), step_name(result)):
        facets = event["run"]["facets"]
        assert facets["dbt_run"] | {"_producer": None, "_schemaURL": None} == {
            "_producer": None,
            "_schemaURL": None,
            "invocation_id": invocation_id,
            "project_name": "floe",
            "profile_name": "floe",
            "dbt_runtime": "core",
        }
        assert facets["dbt_run"]["_schemaURL"].startswith(
            "https://raw.githubusercontent.com/OpenLineage/OpenLineage/"
        )
        assert (
            facets["dbt_target"]["profile_name"],
            facets["dbt_target"]["target_name"],
            facets["dbt_target"]["adapter_type"],
        ) == ("floe", "dev", "duckdb")


def test_dagster_records_the_lineage_facts_on_each_materialization(build, build_instance):
    """Read back from the Dagster instance: typed columns with their docs, the row count, the
    column lineage between assets, and the OpenLineage run of the materialization."""
    _, ws = build
    event = build_instance.get_latest_materialization_event(dg.AssetKey("customers"))
    metadata = event.asset_materialization.metadata
    schema = metadata["dagster/column_schema"].value
    assert [(c.name, c.type) for c in schema.columns][:2] == [
        ("customer_id", "INTEGER"),
        ("full_name", "VARCHAR"),
    ]
    assert {c.name: c.description for c in schema.columns}["lifetime_value"] == (
        "Sum of all order amounts."
    )
    counted = last_of(ws.events(), "model.floe.customers")["outputs"][0]["outputFacets"]
    assert metadata["dagster/row_count"].value == counted["outputStatistics"]["rowCount"]
    lineage = metadata["dagster/column_lineage"].value.deps_by_column
    assert [(d.asset_key, d.column_name) for d in lineage["full_name"]] == [
        (dg.AssetKey("stg_customers"), "first_name"),
        (dg.AssetKey("stg_customers"), "last_name"),
    ]
    assert [(d.asset_key, d.column_name) for d in lineage["lifetime_value"]] == [
        (dg.AssetKey("orders"), "amount")
    ]
    completed = next(
        e
        for e in ws.events()
        if e["job"]["name"] == "model.floe.customers" and e["eventType"] == "COMPLETE"
    )
    assert metadata["openlineage/run_id"].value == completed["run"]["runId"]
    for key in ("raw_orders", "stg_orders", "orders", "customers_snapshot"):
        recorded = build_instance.get_latest_materialization_event(dg.AssetKey(key))
        assert "dagster/column_schema" in recorded.asset_materialization.metadata, key
