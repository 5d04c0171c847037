"""A release is what the repository holds, not a tag (only branch main travels): the version in
``floe-lineage/pyproject.toml`` and its entry in ``floe-lineage/CHANGELOG.md``. Every version
the changelog lists was the package's version at some commit of the history, newest first, and
the newest is the current one."""

from __future__ import annotations

import re
import subprocess
import tomllib

from conftest import ROOT
from packaging.version import Version

CHANGELOG = ROOT / "floe-lineage" / "CHANGELOG.md"


def current_version() -> str:
    return tomllib.loads((ROOT / "floe-lineage" / "pyproject.toml").read_text())["project"][
        "version"
    ]


def changelog_versions() -> list[str]:
    return re.findall(r"^## (\d+\.\d+\.\d+)\s*$", CHANGELOG.read_text(), re.M)


def test_the_changelog_lists_the_current_version_first() -> None:
    versions = changelog_versions()
    assert versions[:1] == [current_version()], versions[:3]
    assert versions == sorted(versions, key=Version, reverse=True), versions


def test_every_changelog_version_was_the_packages_version_in_the_history() -> None:
    history = subprocess.run(
        ["git", "log", "--format=", "-p", "--", "floe-lineage/pyproject.toml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    released = set(re.findall(r'^\+version = "([^"]+)"$', history, re.M)) | {current_version()}
    assert set(changelog_versions()) <= released, set(changelog_versions()) - released
