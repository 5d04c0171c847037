"""What the events say about the data: real typed schemas, column lineage, row counts, test
assertions and dbt metadata, on the sample project and on a differently shaped one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import (
    CLICKSTREAM,
    WARNED_TEST,
    Workspace,
    copy_dbt_project,
    make_workspace,
    materialize,
)
from schema_oracle import assert_schema_valid

from floe_lineage.schemas import CLASSIFICATION_SCHEMA_URL
from floe_lineage.tools.validation import event_problems


def final(events: list[dict[str, Any]], job: str) -> dict[str, Any]:
    """``job`` as its events describe it in the end: the OTHER event that adds the warehouse's
    facts after a COMPLETE, else its one terminal event."""
    ended = [e for e in events if e["job"]["name"] == job and e["eventType"] != "START"]
    assert len([e for e in ended if e["eventType"] != "OTHER"]) == 1, ended
    return ended[-1]


def column_lineage(event: dict[str, Any]) -> dict[str, list[tuple[str, str, str]]]:
    fields = event["outputs"][0]["facets"]["columnLineage"]["fields"]
    return {
        column: [
            (f["name"], f["field"], f["transformations"][0]["subtype"]) for f in spec["inputFields"]
        ]
        for column, spec in fields.items()
    }


def test_column_lineage_through_ctes_aggregates_and_joins(build):
    _, ws = build
    events = ws.events()
    # select * from CTEs over a seed, with renames and a computed column
    assert column_lineage(final(events, "model.floe.stg_customers")) == {
        "customer_id": [("warehouse.main.raw_customers", "id", "IDENTITY")],
        "first_name": [("warehouse.main.raw_customers", "first_name", "IDENTITY")],
        "last_name": [("warehouse.main.raw_customers", "last_name", "IDENTITY")],
        "email": [("warehouse.main.raw_customers", "email", "TRANSFORMATION")],
        "country_code": [("warehouse.main.raw_customers", "country", "IDENTITY")],
    }
    # a join of a model with an aggregate over another; count(*) reads no column
    assert column_lineage(final(events, "model.floe.orders")) == {
        "order_id": [("warehouse.main.stg_orders", "order_id", "IDENTITY")],
        "customer_id": [("warehouse.main.stg_orders", "customer_id", "IDENTITY")],
        "ordered_at": [("warehouse.main.stg_orders", "ordered_at", "IDENTITY")],
        "status": [("warehouse.main.stg_orders", "status", "IDENTITY")],
        "amount": [("warehouse.main.stg_payments", "amount", "AGGREGATION")],
    }
    customers = column_lineage(final(events, "model.floe.customers"))
    assert customers["full_name"] == [
        ("warehouse.main.stg_customers", "first_name", "TRANSFORMATION"),
        ("warehouse.main.stg_customers", "last_name", "TRANSFORMATION"),
    ]
    assert customers["lifetime_value"] == [("warehouse.main.orders", "amount", "AGGREGATION")]
    assert customers["order_count"] == [("warehouse.main.orders", "order_id", "AGGREGATION")]
    assert customers["email"] == [("warehouse.main.stg_customers", "email", "IDENTITY")]


def test_schema_facets_hold_real_columns_and_types_not_yaml_docs(build):
    _, ws = build
    customers = final(ws.events(), "model.floe.customers")["outputs"][0]["facets"]["schema"]
    assert [(f["name"], f["type"]) for f in customers["fields"]] == [
        ("customer_id", "INTEGER"),
        ("full_name", "VARCHAR"),
        ("email", "VARCHAR"),
        ("country_code", "VARCHAR"),
        ("first_order_at", "DATE"),
        ("last_order_at", "DATE"),
        ("order_count", "BIGINT"),
        ("lifetime_value", "DOUBLE"),
    ]
    described = {f["name"]: f.get("description") for f in customers["fields"]}
    assert described["lifetime_value"] == "Sum of all order amounts."
    seed = final(ws.events(), "seed.floe.raw_orders")["outputs"][0]["facets"]["schema"]
    assert ("ordered_at", "DATE") in [(f["name"], f["type"]) for f in seed["fields"]]


def test_row_counts_equal_select_count(build):
    _, ws = build
    counted = {}
    for event in ws.events():
        for dataset in event["outputs"]:
            statistics = dataset.get("outputFacets", {}).get("outputStatistics")
            if statistics:
                counted[dataset["name"]] = statistics["rowCount"]
    assert set(counted) == {
        "warehouse.main.raw_customers",
        "warehouse.main.raw_orders",
        "warehouse.main.raw_payments",
        "warehouse.main.orders",
        "warehouse.main.customers",
        "warehouse.main.customers_snapshot",
        "warehouse.main.stg_customers",
        "warehouse.main.stg_orders",
        "warehouse.main.stg_payments",
    }  # views too, by default
    with duckdb.connect(str(ws.database), read_only=True) as con:
        for name, rows in counted.items():
            assert con.execute(f"select count(*) from {name}").fetchone()[0] == rows, name


def test_views_are_not_counted_when_turned_off(failed_build):
    _, ws = failed_build
    stg_payments = final(ws.events(), "model.floe.stg_payments")["outputs"][0]
    assert "outputStatistics" not in stg_payments.get("outputFacets", {})
    seed = final(ws.events(), "seed.floe.raw_payments")["outputs"][0]
    assert seed["outputFacets"]["outputStatistics"]["rowCount"] == 12  # tables still are


def assertions_on(event: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        a
        for dataset in event["inputs"]
        for a in dataset.get("inputFacets", {})
        .get("dataQualityAssertions", {})
        .get("assertions", [])
    ]


def test_dbt_tests_are_data_quality_assertions_on_the_tested_dataset(build, failed_build):
    _, ws = build
    events = ws.events()
    unique = final(events, "test.floe.unique_orders_order_id.fed79b3a6e")
    (dataset,) = unique["inputs"]
    assert dataset["name"] == "warehouse.main.orders"
    (assertion,) = dataset["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert (assertion["assertion"], assertion["column"], assertion["success"]) == (
        "unique",
        "order_id",
        True,
    )
    assert assertion["actual"] == "0" and assertion["severity"] == "error"
    singular = final(events, "test.floe.assert_order_amounts_not_negative")
    assert [(a["assertion"], a["success"]) for a in assertions_on(singular)] == [
        ("assert_order_amounts_not_negative", True)
    ]
    # a relationships test reads two datasets; the assertion sits on the one it is defined on
    relationships = final(
        events, "test.floe.relationships_orders_customer_id__customer_id__ref_customers_.c6ec7f58f2"
    )
    on = [d["name"] for d in relationships["inputs"] if d.get("inputFacets")]
    assert on == ["warehouse.main.orders"]

    _, failed_ws = failed_build
    failing = final(failed_ws.events(), "test.floe.unique_stg_payments_payment_id.3744510712")
    (assertion,) = assertions_on(failing)
    assert (assertion["assertion"], assertion["success"], assertion["actual"]) == (
        "unique",
        False,
        "1",
    )
    skipped = final(failed_ws.events(), "test.floe.unique_orders_order_id.fed79b3a6e")
    assert skipped["eventType"] == "ABORT" and assertions_on(skipped) == []
    # a failing test of severity warn: its run COMPLETE, its assertion failed, severity warn
    warned = final(failed_ws.events(), WARNED_TEST)
    (assertion,) = assertions_on(warned)
    ended = {e["eventType"] for e in failed_ws.events() if e["job"]["name"] == WARNED_TEST}
    assert ended == {"START", "COMPLETE", "OTHER"}
    assert "errorMessage" not in warned["run"]["facets"]
    assert (assertion["success"], assertion["severity"]) == (False, "warn")
    assert assertion["actual"] == "2"  # failing rows
    assert [d["name"] for d in warned["inputs"]] == ["warehouse.main.stg_payments"]


def test_dbt_metadata_facets(build):
    _, ws = build
    customers = final(ws.events(), "model.floe.customers")
    output = customers["outputs"][0]["facets"]
    assert output["documentation"]["description"] == "One row per customer with order statistics."
    assert [t["key"] for t in output["tags"]["tags"]] == ["marts", "pii"]
    assert [o["name"] for o in output["ownership"]["owners"]] == ["analytics-team"]
    assert output["columnClassification"]["fields"] == {
        "full_name": {"classification": "pii", "sensitivity": "medium"},
        "email": {"classification": "pii", "sensitivity": "high"},
    }
    assert customers["job"]["facets"]["ownership"]["owners"] == [{"name": "analytics-team"}]
    orders = final(ws.events(), "model.floe.orders")["outputs"][0]["facets"]
    assert [o["name"] for o in orders["ownership"]["owners"]] == ["analytics-team", "finance-team"]


def test_custom_classification_facet_passes_its_shipped_schema(build):
    _, ws = build
    events = ws.events()
    classified = [
        d["facets"]["columnClassification"]
        for e in events
        for d in e["inputs"] + e["outputs"]
        if "columnClassification" in d["facets"]
    ]
    assert classified
    assert {facet["_schemaURL"] for facet in classified} == {CLASSIFICATION_SCHEMA_URL}
    assert event_problems(events) == []
    # the shipped schema has teeth: a classification is required
    broken = json.loads(json.dumps(next(e for e in events if "columnClassification" in str(e))))
    for dataset in broken["inputs"] + broken["outputs"]:
        if "columnClassification" in dataset["facets"]:
            dataset["facets"]["columnClassification"]["fields"] = {"email": {"sensitivity": "x"}}
    (problem,) = event_problems([broken])[:1]
    assert "columnClassification" in problem and "'classification' is a required" in problem


@pytest.fixture(scope="module")
def other_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Path]:
    """The clickstream project, in a git checkout with a remote, run through the component."""
    root = tmp_path_factory.mktemp("other")
    repo = root / "repo"
    project = copy_dbt_project(repo / "transform", CLICKSTREAM)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-qm", "init"]):
        subprocess.run([*git, *args], check=True)
    subprocess.run(
        [*git, "remote", "add", "origin", "git@github.com:acme/clickstream.git"], check=True
    )
    ws = make_workspace(root / "ws", project)
    result = materialize(ws)
    assert result.success
    return ws, project


def test_other_project_lineage(other_project):
    ws, project = other_project
    events = ws.events()
    namespace = "duckdb://" + str(ws.database)
    jobs = {e["job"]["name"] for e in events}
    assert {j for j in jobs if not j.startswith("test.")} >= {
        "seed.clickstream.pages",
        "model.clickstream.views_incremental",
        "model.clickstream.daily_views",
        "snapshot.clickstream.pages_snapshot",
    }
    assert len([j for j in jobs if j.startswith("test.")]) == 3
    assert "model.clickstream.int_views" not in jobs  # ephemeral: nothing ran
    # the ephemeral model is inlined: the incremental model reads the source and the seed
    incremental = final(events, "model.clickstream.views_incremental")
    assert {d["name"] for d in incremental["inputs"]} == {
        "clickstream.raw_web.page_views",
        "clickstream.main.pages",
    }
    assert incremental["outputs"][0]["name"] == "clickstream.main_analytics.views_incremental"
    assert incremental["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 5
    assert column_lineage(incremental)["page"] == [
        ("clickstream.raw_web.page_views", "page", "TRANSFORMATION")
    ]
    assert column_lineage(incremental)["section"] == [
        ("clickstream.main.pages", "section", "IDENTITY")
    ]
    source = (
        incremental["inputs"][0]
        if incremental["inputs"][0]["name"].endswith("page_views")
        else incremental["inputs"][1]
    )
    assert source["facets"]["documentation"]["description"] == "Raw page views, one row per view."
    assert [f["name"] for f in source["facets"]["schema"]["fields"]] == [
        "view_id",
        "page",
        "user_id",
        "viewed_at",
    ]
    # quoted, mixed-case identifiers survive
    daily = final(events, "model.clickstream.daily_views")
    assert daily["outputs"][0]["name"] == "clickstream.main_analytics.DailyViews"
    assert column_lineage(daily) == {
        "Day": [("clickstream.main_analytics.views_incremental", "viewed_on", "IDENTITY")],
        "Site Section": [("clickstream.main_analytics.views_incremental", "section", "IDENTITY")],
        "Unique Users": [
            ("clickstream.main_analytics.views_incremental", "user_id", "AGGREGATION")
        ],
    }
    for event in events:
        for dataset in event["inputs"] + event["outputs"]:
            assert dataset["namespace"] == namespace
    # the project is a git checkout: jobs point at their code
    location = daily["job"]["facets"]["sourceCodeLocation"]
    head = subprocess.run(
        ["git", "-C", str(project), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert location == location | {
        "type": "git",
        "url": "ssh://github.com/acme/clickstream.git",  # userinfo never reaches an event
        "repoUrl": "github.com:acme/clickstream.git",
        "path": "transform/models/marts/daily_views.sql",
        "version": head,
        "branch": "main",
    }
    assert_schema_valid(ws.events_file)


def test_dataset_identifiers_match_dbt_ol(build, tmp_path: Path):
    """dbt-ol (openlineage-dbt) run on the same project and database names the tables as we do."""
    _, ws = build
    project = tmp_path / "dbt"
    copy_dbt_project(project)
    events_file = tmp_path / "dbt-ol.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events_file}\n  append: true\n")
    dbt_ol = Path(sys.executable).parent / "dbt-ol"
    env = os.environ | {"OPENLINEAGE_CONFIG": str(config)}
    done = subprocess.run(
        [str(dbt_ol), "build", "--project-dir", str(project), "--profiles-dir", str(ws.profiles)],
        env=env,
        capture_output=True,
        text=True,
        cwd=project,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    theirs = {
        (d["namespace"], d["name"])
        for line in events_file.read_text().splitlines()
        for d in json.loads(line).get("outputs", [])
    }
    ours = {(d["namespace"], d["name"]) for e in ws.events() for d in e["outputs"]}
    assert theirs, "dbt-ol emitted no output datasets"
    assert theirs <= ours
    assert ("duckdb://" + str(ws.database), "warehouse.main.customers") in theirs


def indirect(event: dict[str, Any]) -> dict[str, set[tuple[str, str]]]:
    """The dataset-level INDIRECT lineage of an event's output, by subtype."""
    found: dict[str, set[tuple[str, str]]] = {}
    for source in event["outputs"][0]["facets"]["columnLineage"].get("dataset", []):
        (transformation,) = source["transformations"]
        assert transformation["type"] == "INDIRECT"
        found.setdefault(transformation["subtype"], set()).add((source["name"], source["field"]))
    return found


def test_rows_are_traced_to_the_columns_that_decide_them(build):
    _, ws = build
    orders = indirect(final(ws.events(), "model.floe.orders"))
    assert orders["JOIN"] == {
        ("warehouse.main.stg_orders", "order_id"),
        ("warehouse.main.stg_payments", "order_id"),
    }
    assert orders["GROUP_BY"] == {("warehouse.main.stg_payments", "order_id")}
    assert indirect(final(ws.events(), "model.floe.customers"))["GROUP_BY"] == {
        ("warehouse.main.orders", "customer_id")
    }


def test_a_snapshot_has_column_lineage(build):
    _, ws = build
    snapshot = column_lineage(final(ws.events(), "snapshot.floe.customers_snapshot"))
    assert snapshot["email"] == [("warehouse.main.stg_customers", "email", "IDENTITY")]
    assert snapshot["dbt_scd_id"] == [
        ("warehouse.main.stg_customers", "customer_id", "TRANSFORMATION")
    ]


def test_an_incremental_models_second_run_keeps_its_column_lineage(other_project):
    ws, _ = other_project
    second = materialize(ws, selection=["analytics/views_incremental"])
    assert second.success
    runs = [
        e
        for e in ws.events()
        if e["job"]["name"] == "model.clickstream.views_incremental"
        and e["eventType"] == "COMPLETE"
    ]
    assert len(runs) == 2  # the first run, and this one that reads its own table
    first, again = runs
    assert column_lineage(again) == column_lineage(first)
    assert ("clickstream.main_analytics.views_incremental", "view_id") in indirect(again)["FILTER"]
    assert "is_incremental" not in again["job"]["facets"]["sql"]["query"]


def test_column_lineage_is_traced_again_only_for_a_changed_model(tmp_path: Path):
    project = copy_dbt_project(tmp_path / "dbt")
    ws = make_workspace(tmp_path / "ws", project)
    kept = project / "target" / "floe-column-lineage.json"

    def run() -> tuple[dict[str, Any], dict[str, str]]:
        ws.events_file.unlink(missing_ok=True)
        assert materialize(ws).success
        stored = json.loads(kept.read_text())["models"]
        events = ws.events()
        return {uid: column_lineage(final(events, uid)) for uid in stored}, {
            uid: entry["digest"] for uid, entry in stored.items()
        }

    traced, digests = run()
    assert set(traced) == {
        "model.floe.stg_customers",
        "model.floe.stg_orders",
        "model.floe.stg_payments",
        "model.floe.orders",
        "model.floe.customers",
        "snapshot.floe.customers_snapshot",
    }
    written = kept.stat().st_mtime_ns
    assert run() == (traced, digests)
    assert kept.stat().st_mtime_ns == written  # every model answered from the file

    customers = project / "models" / "marts" / "customers.sql"
    customers.write_text("-- the same lineage, other SQL\n" + customers.read_text())
    again, changed = run()
    assert again == traced
    assert {uid for uid in digests if changed[uid] != digests[uid]} == {"model.floe.customers"}
