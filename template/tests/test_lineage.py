"""This project's lineage tests, written with floe-lineage's pytest plugin.

The `lineage` fixture runs the dbt assets once through Dagster, into a DuckDB file and an events
file of its own, and holds what the OpenLineage events say. The first three tests hold for any
dbt project; the ones marked `dbt_project("floe")` are examples written for the bundled sample
(skipped for another dbt project): copy them for your own models.
"""

import pytest


def test_events_are_valid_openlineage(lineage):
    lineage.assert_valid()  # the official JSON Schemas, offline, formats enforced


def test_every_node_has_one_outcome_and_the_dags_inputs_and_outputs(lineage):
    lineage.assert_complete()


def test_lineage_is_the_reviewed_one(lineage, lineage_snapshot):
    # A change of jobs, edges, columns, types or column lineage fails here with a diff;
    # accept an intended one with: pytest --snapshot-update
    assert lineage.snapshot() == lineage_snapshot


@pytest.mark.dbt_project("floe")
def test_orders_are_staged_from_the_raw_seed(lineage):
    lineage.edge("raw_orders", "stg_orders")
    lineage.edge("stg_payments", "orders")


@pytest.mark.dbt_project("floe")
def test_lifetime_value_comes_from_the_payments(lineage):
    lineage.column("customers.lifetime_value").derives_from("raw_payments.amount_cents")
    lineage.column("orders.amount").derives_only_from("raw_payments.amount_cents")


@pytest.mark.dbt_project("floe")
def test_personal_data_is_classified_and_typed(lineage):
    customers = lineage.dataset("customers")
    assert customers.facet("columnClassification")["fields"]["email"] == {
        "classification": "pii",
        "sensitivity": "high",
    }
    assert customers.columns["lifetime_value"] == "DOUBLE"


@pytest.mark.dbt_project("floe")
def test_dbt_tests_are_assertions_on_the_dataset_they_test(lineage):
    tested = {(a["assertion"], a.get("column")) for a in lineage.assertions("orders")}
    assert {("unique", "order_id"), ("not_null", "order_id")} <= tested
    assert lineage.job("unique_orders_order_id").state == "COMPLETE"
