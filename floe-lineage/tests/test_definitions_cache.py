"""The component's definitions are built once per process for the same configuration and
manifest (``dg launch`` loads them seven times), and again when either differs."""

from __future__ import annotations

import json
import os

import dagster as dg
import pytest
from conftest import Workspace
from dagster_dbt import DbtProject, DbtProjectComponent

from floe_lineage.dagster import DbtProjectWithLineage, LineageSettings


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[DbtProjectComponent]:
    """The components dagster-dbt built definitions for (``build_defs_from_state``)."""
    built: list[DbtProjectComponent] = []
    original = DbtProjectComponent.build_defs_from_state

    def counted(self, context, state_path):
        built.append(self)
        return original(self, context, state_path)

    monkeypatch.setattr(DbtProjectComponent, "build_defs_from_state", counted)
    return built


def assets_of(defs: dg.Definitions) -> list[dg.AssetsDefinition]:
    return list(defs.assets or [])


def load(ws: Workspace, extra: str = "", **lineage: object) -> dg.Definitions:
    """The definitions of the workspace's project, from its component's YAML attributes
    resolved afresh, as every load of a project's ``defs.yaml`` resolves them."""
    settings = {"config_path": str(ws.config), "strict": True, **lineage}
    component = DbtProjectWithLineage.resolve_from_yaml(
        f"project:\n  project_dir: {ws.project}\n  profiles_dir: {ws.profiles}\n"
        f"  target: {ws.target}\nlineage: {json.dumps(settings)}\n{extra}"
    )
    return dg.component_defs(component=component)


def test_an_equal_component_reuses_the_definitions_built(workspace: Workspace, builds):
    first = load(workspace)
    again = load(workspace)
    assert len(builds) == 1
    assert assets_of(again) == assets_of(first)  # the same assets definition objects
    result = dg.materialize(assets_of(again), raise_on_error=False)
    assert result.success
    assert len(result.get_asset_materialization_events()) == 9  # 3 seeds, 5 models, a snapshot


@pytest.mark.parametrize(
    "change", ["another lineage setting", "another dbt selection", "the manifest rewritten"]
)
def test_a_change_builds_the_definitions_again(workspace: Workspace, builds, change: str):
    first = load(workspace)
    if change == "another lineage setting":
        again = load(workspace, strict=False)
    elif change == "another dbt selection":
        again = load(workspace, extra="select: customers\n")
    else:
        manifest = workspace.project / "target" / "manifest.json"
        modified = manifest.stat().st_mtime_ns + 1_000_000_000
        os.utime(manifest, ns=(modified, modified))
        again = load(workspace)
    assert len(builds) == 2
    assert assets_of(again) != assets_of(first)


def test_a_component_built_in_python_is_reused_only_when_equal(workspace: Workspace, builds):
    """A translation function or a ``DbtProject`` made afresh is not known to be the same."""

    def dbt_project() -> DbtProject:
        return DbtProject(
            project_dir=workspace.project, profiles_dir=workspace.profiles, target=workspace.target
        )

    project = dbt_project()
    settings = LineageSettings(config_path=str(workspace.config), strict=True)

    def component(**attributes: object) -> DbtProjectWithLineage:
        return DbtProjectWithLineage(**{"project": project, "lineage": settings, **attributes})

    dg.component_defs(component=component())
    dg.component_defs(component=component())
    assert len(builds) == 1
    dg.component_defs(component=component(translation=lambda spec, props: spec))
    dg.component_defs(component=component(translation=lambda spec, props: spec))
    dg.component_defs(component=component(project=dbt_project()))
    assert len(builds) == 4
