"""dagster-dbt's in-process adapter built only when an ``include_metadata`` option uses it
(dbt_resource.py)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from conftest import Workspace, dbt_defs, materialize
from dagster_dbt import DbtCliResource

from floe_lineage.dagster.dbt_resource import build_adapter_only_if_used


@pytest.fixture
def adapters_built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often dagster-dbt built its adapter."""
    built: list[int] = []
    original = DbtCliResource._initialize_dbt_core_adapter

    def counted(self, args):
        built.append(1)
        return original(self, args)

    monkeypatch.setattr(DbtCliResource, "_initialize_dbt_core_adapter", counted)
    return built


@pytest.mark.parametrize(
    ("include_metadata", "kept_from_it"),
    [([], True), (["column_metadata"], False), (["row_count"], False), (["insights"], False)],
)
def test_only_the_options_that_use_the_adapter_build_it(
    sample_project: Path, include_metadata: list[str], kept_from_it: bool
):
    dbt = DbtCliResource(project_dir=str(sample_project))
    assert build_adapter_only_if_used(dbt, include_metadata) is kept_from_it
    assert ("_initialize_dbt_core_adapter" in vars(dbt)) is kept_from_it
    assert dbt._initialize_dbt_core_adapter(["build"]) is None or not kept_from_it
    other = DbtCliResource(project_dir=str(sample_project))
    assert "_initialize_dbt_core_adapter" not in vars(other)


def test_a_run_without_such_options_builds_no_adapter(
    workspace: Workspace, adapters_built: list[int]
):
    dbt_defs(workspace)  # prepares the project first (dagster-dbt's `dbt parse` has its own)
    adapters_built.clear()
    result = materialize(workspace, selection="raw_customers")
    assert result.success
    assert adapters_built == []
    assert workspace.events()  # lineage reads the warehouse on its own


def test_row_counts_of_dagster_dbt_still_come_through_its_adapter(
    workspace: Workspace, adapters_built: list[int]
):
    dbt_defs(workspace)
    adapters_built.clear()
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(
        workspace,
        selection="raw_customers",
        instance=instance,
        include_metadata=["row_count"],
        asset_metadata=False,  # so the row count can only be dagster-dbt's
    )
    assert result.success
    assert adapters_built == [1]
    recorded = instance.get_latest_materialization_event(dg.AssetKey("raw_customers"))
    assert recorded.asset_materialization.metadata["dagster/row_count"].value > 0
