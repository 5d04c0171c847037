"""The dbt project is prepared again only when something a preparation reads changed, and dbt's
version is known without running ``dbt --version`` when the executable is this environment's."""

from __future__ import annotations

import json
import os
import sysconfig
from importlib import metadata
from pathlib import Path

import pytest
from dagster_dbt import DbtCliResource, DbtProject
from dagster_dbt.dbt_project import DbtProjectPreparer

from floe_lineage.dagster.dbt_resource import know_dbt_version
from floe_lineage.dagster.preparation import FINGERPRINT_FILE, prepare_when_changed

PROFILES = """\
shop:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: "{{ env_var('SHOP_DB', 'shop.duckdb') }}"
      password: "{{ env_var('SHOP_SECRET', '') }}"
"""


class CountingPreparer(DbtProjectPreparer):
    """Writes a manifest as ``dbt parse`` would, and counts how often it was asked to."""

    def __init__(self) -> None:
        self.runs = 0

    def prepare(self, project: DbtProject) -> None:
        self.runs += 1
        project.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        project.manifest_path.write_text(json.dumps({"run": self.runs}))


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[DbtProject, CountingPreparer]:
    for name in [n for n in os.environ if n.startswith("DBT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("SHOP_SECRET", "hunter2-secret")
    (tmp_path / "models").mkdir()
    (tmp_path / "dbt_project.yml").write_text("name: shop\nprofile: shop\nversion: '1'\n")
    (tmp_path / "models" / "orders.sql").write_text("select 1 as id\n")
    (tmp_path / "profiles.yml").write_text(PROFILES)
    preparer = CountingPreparer()
    project = DbtProject(project_dir=tmp_path, profiles_dir=tmp_path)
    monkeypatch.setattr(project.preparer, "prepare", preparer.prepare)
    return project, preparer


def test_an_unchanged_project_is_prepared_once(shop):
    project, preparer = shop
    assert prepare_when_changed(project)
    (project.project_dir / "target" / "run-1").mkdir()  # a run's own target folder
    (project.project_dir / "shop.duckdb").write_bytes(b"data")  # the warehouse it built
    assert not prepare_when_changed(project)
    assert preparer.runs == 1


@pytest.mark.parametrize(
    "change",
    [
        "a model edited",
        "a model added",
        "the profiles file edited",
        "a variable the profile reads",
        "a DBT_ variable",
        "the manifest rewritten by hand",
    ],
)
def test_a_change_prepares_again(shop, monkeypatch: pytest.MonkeyPatch, change: str):
    project, preparer = shop
    prepare_when_changed(project)
    models = project.project_dir / "models"
    if change == "a model edited":
        (models / "orders.sql").write_text("select 1 as id, 2 as amount\n")
    elif change == "a model added":
        (models / "payments.sql").write_text("select 1 as id\n")
    elif change == "the profiles file edited":
        (project.project_dir / "profiles.yml").write_text(PROFILES + "\n")
    elif change == "a variable the profile reads":
        monkeypatch.setenv("SHOP_DB", "/elsewhere/shop.duckdb")
    elif change == "a DBT_ variable":
        monkeypatch.setenv("DBT_TARGET", "prod")
    else:
        project.manifest_path.write_text(json.dumps({"run": "by hand"}))
    assert prepare_when_changed(project)
    assert preparer.runs == 2


def test_a_missing_manifest_or_fingerprint_prepares_again(shop):
    project, preparer = shop
    prepare_when_changed(project)
    project.manifest_path.with_name(FINGERPRINT_FILE).write_text("not json")
    assert prepare_when_changed(project)
    project.manifest_path.unlink()
    assert prepare_when_changed(project)
    assert preparer.runs == 3


def test_the_fingerprint_holds_no_variable_value(shop):
    project, _ = shop
    prepare_when_changed(project)
    recorded = project.manifest_path.with_name(FINGERPRINT_FILE).read_text()
    assert "hunter2" not in recorded
    assert "shop.duckdb" not in recorded


def test_dbt_version_is_known_for_this_environments_dbt(shop, monkeypatch: pytest.MonkeyPatch):
    project, _ = shop
    scripts = Path(sysconfig.get_path("scripts"))
    monkeypatch.setenv("PATH", os.pathsep.join([str(scripts), os.environ["PATH"]]))
    for executable in ("dbt", str(scripts / "dbt")):
        dbt = DbtCliResource(project_dir=project, dbt_executable=executable)
        know_dbt_version(dbt)
        assert str(dbt._cli_version) == metadata.version("dbt-core")


@pytest.mark.parametrize("named", ["by its path", "first on PATH"])
def test_another_dbt_is_still_asked_its_version(
    shop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, named: str
):
    project, _ = shop
    other = tmp_path / "fusion" / "dbt"
    other.parent.mkdir()
    other.write_text("#!/bin/sh\necho 'dbt-fusion 2.0.0'\n")
    other.chmod(0o755)
    monkeypatch.setenv("PATH", os.pathsep.join([str(other.parent), os.environ["PATH"]]))
    executable = str(other) if named == "by its path" else "dbt"
    dbt = DbtCliResource(project_dir=project, dbt_executable=executable)
    know_dbt_version(dbt)
    assert "_cli_version" not in dbt.__dict__
