"""floe.yaml (floe's FloeSpec) kept in step with the dbt models: the transforms built from a
manifest, and the ``floe_spec`` fixture's check and rewrite on the sample's real manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from floe_lineage.dbt.manifest import DbtGraph, run_manifest
from floe_lineage.floe import FloeSpecError, in_step, render
from floe_lineage.testing.floe_spec_file import FloeSpecFile


def model(name: str, folder: str = "", reads: tuple[str, ...] = (), **config: Any) -> dict:
    return {
        "unique_id": f"model.p.{name}",
        "resource_type": "model",
        "name": name,
        "fqn": ["p", *folder.split("/"), name] if folder else ["p", name],
        "depends_on": {"nodes": list(reads)},
        "config": {"materialized": "table", **config},
    }


NODES = [
    model("fct_sales", "marts/finance", ("model.p.int_sales", "model.p.stg_sales")),
    model("stg_sales", "staging", ("seed.p.raw_sales",)),
    model("int_sales", "intermediate", ("model.p.stg_sales", "snapshot.p.sales_history")),
    model("adhoc", "", ("source.p.shop.orders",)),
    model("curated", "staging", (), meta={"floe": {"tier": "gold"}}),
    model("lookup", "staging", (), materialized="ephemeral"),
    {"unique_id": "seed.p.raw_sales", "resource_type": "seed", "name": "raw_sales"},
    {"unique_id": "snapshot.p.sales_history", "resource_type": "snapshot", "name": "sh"},
]
GRAPH = DbtGraph({"nodes": {n["unique_id"]: n for n in NODES}})


def test_transforms_are_the_models_parents_first_with_tier_and_dependencies():
    spec = in_step({"apiVersion": "floe.dev/v1", "kind": "FloeSpec", "metadata": {}}, GRAPH)
    assert spec["transforms"] == [
        {"name": "adhoc", "tier": "bronze"},  # in no conventional folder
        {"name": "curated", "tier": "gold"},  # meta.floe.tier beats its folder
        {"name": "lookup", "tier": "silver"},  # ephemeral models are models too
        {"name": "stg_sales", "tier": "silver"},  # seeds, snapshots, sources: not transforms
        {"name": "int_sales", "tier": "silver", "dependsOn": ["stg_sales"]},
        {"name": "fct_sales", "tier": "gold", "dependsOn": ["int_sales", "stg_sales"]},
    ]


def test_everything_but_the_models_facts_is_kept_as_written():
    written = {
        "apiVersion": "floe.dev/v1",
        "kind": "FloeSpec",
        "metadata": {"name": "sales", "version": "2.1.0", "owner": "sales-team"},
        "schedule": {"cron": "0 6 * * *"},
        "transforms": [
            {"name": "fct_sales", "compute": "duckdb", "dependsOn": ["gone"], "tier": "silver"},
            {"name": "adhoc", "tier": "platinum", "tags": ["x"]},
            {"name": "dropped_model", "tier": "gold"},
        ],
    }
    spec = in_step(written, GRAPH)
    assert {k: v for k, v in spec.items() if k != "transforms"} == {
        k: v for k, v in written.items() if k != "transforms"
    }
    by_name = {t["name"]: t for t in spec["transforms"]}
    assert "dropped_model" not in by_name
    # a tier written by hand stays, unless meta.floe.tier says otherwise or floe has no such tier
    assert by_name["fct_sales"] == {
        "name": "fct_sales",
        "tier": "silver",
        "dependsOn": ["int_sales", "stg_sales"],
        "compute": "duckdb",
    }
    assert by_name["adhoc"] == {"name": "adhoc", "tier": "bronze", "tags": ["x"]}
    assert in_step(spec, GRAPH) == spec  # in step stays in step


def test_a_tier_floe_does_not_know_and_a_project_without_models_are_refused():
    unknown = DbtGraph({"nodes": {"model.p.x": model("x", meta={"floe": {"tier": "platinum"}})}})
    with pytest.raises(FloeSpecError, match=r"model\.p\.x: meta\.floe\.tier is 'platinum';"):
        in_step({}, unknown)
    seeds_only = DbtGraph({"nodes": {"seed.p.raw_sales": NODES[-2]}})
    with pytest.raises(FloeSpecError, match="the dbt project has no models"):
        in_step({}, seeds_only)


@pytest.fixture
def sample_graph(build) -> DbtGraph:
    result, ws = build
    return DbtGraph.from_file(run_manifest(ws.project, result.run_id))


def written(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_the_file_passes_in_step_fails_with_a_diff_and_is_rewritten_on_update(
    sample_graph: DbtGraph, tmp_path: Path
):
    header = "apiVersion: floe.dev/v1\nkind: FloeSpec\nmetadata: {name: floe, version: 1.0.0}\n"
    in_step_text = render(in_step(yaml.safe_load(header), sample_graph))
    spec = written(tmp_path / "floe.yaml", in_step_text.replace("\n", "\n\n"))  # layout aside
    FloeSpecFile(spec, sample_graph, update=False).assert_in_step()

    stale = header + "transforms:\n  - {name: orders, tier: silver, compute: duckdb}\n"
    written(spec, "# our notes\n" + stale)
    with pytest.raises(AssertionError) as failed:
        FloeSpecFile(spec, sample_graph, update=False).assert_in_step()
    message = str(failed.value)
    assert message.startswith(f"{spec} does not follow the dbt project; accept the change with")
    assert "+- name: stg_customers\n+  tier: silver\n" in message
    assert "+  - stg_orders\n" in message  # orders' dependsOn
    assert spec.read_text() == "# our notes\n" + stale  # a check never writes

    FloeSpecFile(spec, sample_graph, update=True).assert_in_step()
    rewritten = yaml.safe_load(spec.read_text())
    assert rewritten["metadata"] == {"name": "floe", "version": "1.0.0"}
    orders = next(t for t in rewritten["transforms"] if t["name"] == "orders")
    assert orders == {
        "name": "orders",
        "tier": "silver",
        "dependsOn": ["stg_orders", "stg_payments"],
        "compute": "duckdb",
    }
    assert [t["name"] for t in rewritten["transforms"]] == [
        "stg_customers",
        "stg_orders",
        "stg_payments",
        "orders",
        "customers",
    ]
    FloeSpecFile(spec, sample_graph, update=False).assert_in_step()


def test_a_missing_or_broken_file_is_named(sample_graph: DbtGraph, tmp_path: Path):
    missing = tmp_path / "floe.yaml"
    with pytest.raises(AssertionError, match=f"no floe.yaml at {missing}"):
        FloeSpecFile(missing, sample_graph, update=True).assert_in_step()
    with pytest.raises(AssertionError, match="is not a YAML mapping"):
        FloeSpecFile(written(missing, "- a list\n"), sample_graph, update=False).assert_in_step()
