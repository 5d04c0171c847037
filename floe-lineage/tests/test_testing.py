"""The pytest plugin's ``Lineage``: assertions and queries over a real run of the sample, and
the failure messages a team reads when lineage is not what a test says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from floe_lineage.testing import Lineage


@pytest.fixture(scope="module")
def sample(build) -> Lineage:
    result, ws = build
    return Lineage.of_run(ws.events(), result.run_id, [ws.project], ws.events_file)


def copy_of(lineage: Lineage, events: list[dict[str, Any]]) -> Lineage:
    return Lineage(events, lineage.graph, lineage.run_id)


def events_of(lineage: Lineage) -> list[dict[str, Any]]:
    return json.loads(json.dumps(lineage.events))


def test_a_complete_valid_run_passes_both_assertions(sample: Lineage):
    sample.assert_valid()
    sample.assert_complete()
    assert sample.dbt_projects == {"floe"}
    assert sample.failures() == {}


def test_assert_valid_lists_each_violation_with_its_event_and_place(sample: Lineage):
    events = events_of(sample)
    events[1]["producer"] = "not a uri"
    events[2]["run"]["runId"] = "run-1"
    with pytest.raises(AssertionError) as failed:
        copy_of(sample, events).assert_valid()
    message = str(failed.value)
    assert message.startswith("2 OpenLineage schema violations:")
    assert "producer: 'not a uri' is not a 'uri'" in message
    assert "run/runId: 'run-1' is not a 'uuid'" in message


def test_assert_complete_names_the_node_left_open(sample: Lineage):
    events = [
        e
        for e in events_of(sample)
        if not (e["job"]["name"] == "model.floe.orders" and e["eventType"] != "START")
    ]
    with pytest.raises(AssertionError, match=r"model\.floe\.orders: expected START then one"):
        copy_of(sample, events).assert_complete()


def test_edges_and_their_absence(sample: Lineage):
    job = sample.edge("raw_orders", "stg_orders")
    assert job.name == "model.floe.stg_orders"
    sample.edge("main.stg_payments", "warehouse.main.orders")
    with pytest.raises(AssertionError) as failed:
        sample.edge("raw_customers", "orders")
    assert str(failed.value) == (
        "no lineage edge warehouse.main.raw_customers -> warehouse.main.orders:"
        " model.floe.orders writes it reading"
        " ['warehouse.main.stg_orders', 'warehouse.main.stg_payments']"
    )


def test_unknown_and_ambiguous_names_say_what_there_is(sample: Lineage):
    with pytest.raises(AssertionError, match=r"no dataset 'invoices' in this run; there are: "):
        sample.dataset("invoices")
    with pytest.raises(AssertionError, match=r"customers has no column 'age'; it has \["):
        sample.column("customers.age")
    with pytest.raises(AssertionError, match=r"name a column as <dataset>\.<column>"):
        sample.column("age")


def test_column_lineage_directly_and_through_models(sample: Lineage):
    amount = sample.column("orders.amount")
    assert amount.sources() == [("warehouse.main.stg_payments", "amount", "AGGREGATION")]
    sample.column("customers.lifetime_value").derives_from("raw_payments.amount_cents")
    sample.column("customers.lifetime_value").derives_from("orders.amount")
    sample.column("customers.full_name").derives_only_from(
        "raw_customers.first_name", "raw_customers.last_name"
    )


def test_a_column_that_does_not_derive_shows_its_lineage(sample: Lineage):
    with pytest.raises(AssertionError) as failed:
        sample.column("customers.lifetime_value").derives_from("raw_orders.status")
    assert str(failed.value) == (
        "warehouse.main.customers.lifetime_value does not derive from"
        " warehouse.main.raw_orders.status. Its lineage:\n"
        "warehouse.main.customers.lifetime_value\n"
        "  <- warehouse.main.orders.amount (AGGREGATION)\n"
        "    <- warehouse.main.stg_payments.amount (AGGREGATION)\n"
        "      <- warehouse.main.raw_payments.amount_cents (TRANSFORMATION)"
    )


def test_facets_by_dataset_and_by_job(sample: Lineage):
    customers = sample.dataset("customers")
    assert customers.columns["customer_id"] == "INTEGER"
    assert customers.facet("outputStatistics")["rowCount"] > 0
    assert customers.facet("documentation")["description"].startswith("One row per customer")
    orders = sample.job("orders")
    assert orders.state == "COMPLETE"
    assert orders.facet("sql")["dialect"] == "duckdb"
    assert orders.facet("processing_engine")["name"] == "dbt"
    with pytest.raises(AssertionError, match=r"job model\.floe\.orders has no 'nope' facet"):
        orders.facet("nope")
    tested = {(a["assertion"], a.get("column")) for a in sample.assertions("orders")}
    assert {("unique", "order_id"), ("not_null", "order_id")} <= tested


def test_failures_carry_dbt_error_text(failed_build):
    result, ws = failed_build
    lineage = Lineage.of_run(ws.events(), result.run_id, [ws.project])
    failures = lineage.failures()
    assert set(failures) == {
        "model.floe.stg_orders",
        "test.floe.unique_stg_payments_payment_id.3744510712",
    }
    assert "no_such_column" in failures["model.floe.stg_orders"]


def test_the_snapshot_is_deterministic_and_machine_independent(sample: Lineage, build):
    _, ws = build
    text = sample.snapshot()
    elsewhere = json.loads(
        json.dumps(sample.events)
        .replace(sample.run_id, "00000000-0000-4000-8000-000000000000")
        .replace(str(ws.database), "/elsewhere/warehouse.duckdb")
        .replace("2026-", "2031-")
    )
    assert Lineage(elsewhere, sample.graph, sample.run_id).snapshot() == text
    assert str(ws.database) not in text and sample.run_id not in text
    assert "  warehouse.main.orders [duckdb]:\n" in text
    assert "    amount DOUBLE <- warehouse.main.stg_payments.amount AGGREGATION\n" in text
    assert "    asserts: unique(order_id) on warehouse.main.orders\n" in text


def test_lineage_of_a_run_keeps_only_that_runs_events(build, failed_build):
    (result, ws), (_, failed_ws) = build, failed_build
    both = ws.events() + failed_ws.events()
    lineage = Lineage.of_run(both, result.run_id, [ws.project])
    assert len(lineage.events) == len(ws.events())
    assert lineage.failures() == {}
