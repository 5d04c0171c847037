"""floe.yaml and manifest.yaml judged by floe itself: its ``FloeSpec`` and ``PlatformManifest``
from the published floe-core package, and its rule for the dbt project name.

Heavy (floe-core brings Kubernetes, sigstore, datacontract-cli ...), so it runs in its own
session, ``nox -s floe_core``, which CI runs; elsewhere this module is skipped.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VARIANTS, render

floe_spec = pytest.importorskip(
    "floe_core.schemas.floe_spec", reason="needs floe-core: run `nox -s floe_core`"
)
from floe_core.compilation.naming import dbt_project_name  # noqa: E402
from floe_core.schemas.manifest import PlatformManifest  # noqa: E402

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


@pytest.mark.parametrize("transport", ["file", "console", "http"])
def test_the_generated_manifest_is_a_platform_manifest(transport: str, tmp_path: Path) -> None:
    """manifest.yaml as floe-core loads it (an unknown field would only warn: an error here),
    named by floe.yaml's platform.manifest, and the dbt project named as floe names it."""
    data = {"project_name": "Sales Data", "lineage_transport": transport}
    project = render(tmp_path / "project", data)
    spec = floe_spec.FloeSpec.model_validate(yaml.safe_load((project / "floe.yaml").read_text()))
    assert spec.platform is not None and spec.platform.manifest == "./manifest.yaml"
    assert (spec.schedule.cron, spec.schedule.timezone, spec.schedule.enabled) == (
        "0 6 * * *",
        "UTC",
        False,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        manifest = PlatformManifest.model_validate(
            yaml.safe_load((project / spec.platform.manifest).read_text())
        )
    assert (manifest.plugins.compute.type, manifest.plugins.orchestrator.type) == (
        "duckdb",
        "dagster",
    )
    backend = manifest.plugins.lineage_backend
    assert (backend.type if backend else None) == ("marquez" if transport == "http" else None)
    dbt_project = yaml.safe_load((project / "dbt" / "dbt_project.yml").read_text())
    assert dbt_project["name"] == dbt_project["profile"] == dbt_project_name(spec.metadata.name)


def test_floe_lineages_dbt_project_name_is_floe_cores() -> None:
    from floe_lineage.floe import dbt_project_name as ours

    for name in ("sales-data", "customer-360", "a", "x-1-y", "floe-demo", "zed-lake-2"):
        assert ours(name) == dbt_project_name(name)


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
