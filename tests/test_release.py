"""The template and floe-lineage are released together: a release tag ``vX.Y.Z`` is the commit
whose floe-lineage is version ``X.Y.Z``, and the changelog has an entry for the version."""

from __future__ import annotations

import re
import subprocess
import tomllib

from conftest import ROOT


def git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


def version_at(ref: str) -> str:
    pyproject = git("show", f"{ref}:floe-lineage/pyproject.toml")
    return tomllib.loads(pyproject)["project"]["version"]


def test_every_release_tag_names_the_floe_lineage_version_it_tags() -> None:
    for tag in git("tag", "--list", "v*").split():
        if re.fullmatch(r"v\d+\.\d+\.\d+", tag):
            assert version_at(tag) == tag[1:], tag


def test_the_changelog_has_an_entry_for_the_current_version() -> None:
    version = tomllib.loads((ROOT / "floe-lineage" / "pyproject.toml").read_text())["project"][
        "version"
    ]
    changelog = (ROOT / "floe-lineage" / "CHANGELOG.md").read_text()
    assert re.search(rf"^## {re.escape(version)}\b", changelog, re.M), version
