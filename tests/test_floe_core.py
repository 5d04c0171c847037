"""floe.yaml judged by floe itself: its ``FloeSpec`` from the published floe-core package.

Heavy (floe-core brings Kubernetes, sigstore, datacontract-cli ...), so it runs in its own
session, ``nox -s floe_core``, which CI runs; elsewhere this module is skipped.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VARIANTS, render

floe_spec = pytest.importorskip(
    "floe_core.schemas.floe_spec", reason="needs floe-core: run `nox -s floe_core`"
)

CLICKSTREAM = ROOT / "floe-lineage" / "tests" / "projects" / "clickstream"


@pytest.mark.parametrize("name", ["defaults", "http"])
def test_the_generated_floe_yaml_is_a_floe_spec(name: str, tmp_path: Path) -> None:
    project = render(tmp_path / "project", VARIANTS[name])
    spec = floe_spec.FloeSpec.model_validate(yaml.safe_load((project / "floe.yaml").read_text()))
    assert spec.metadata.owner == VARIANTS[name].get("floe_owner")
    assert {t.name: t.tier for t in spec.transforms} == {
        "stg_customers": "silver",
        "stg_orders": "silver",
        "stg_payments": "silver",
        "orders": "gold",
        "customers": "gold",
    }


def test_floe_lineages_transforms_of_another_dbt_project_are_a_floe_spec(tmp_path: Path) -> None:
    from dbt.cli.main import dbtRunner
    from floe_lineage.dbt.manifest import DbtGraph
    from floe_lineage.floe import in_step
    from floe_lineage.floe import render as render_spec

    project = shutil.copytree(CLICKSTREAM, tmp_path / "clickstream")
    parsed = dbtRunner().invoke(
        ["parse", "--project-dir", str(project), "--profiles-dir", str(project), "--quiet"]
    )
    assert parsed.success, parsed.exception
    graph = DbtGraph.from_file(project / "target" / "manifest.json")
    metadata = {"name": "clickstream", "version": "1.0.0"}
    text = render_spec(
        in_step({"apiVersion": "floe.dev/v1", "kind": "FloeSpec", "metadata": metadata}, graph)
    )
    spec = floe_spec.FloeSpec.model_validate(yaml.safe_load(text))
    assert {t.name for t in spec.transforms} == {
        "int_views",
        "daily_views",
        "views_incremental",
    }
