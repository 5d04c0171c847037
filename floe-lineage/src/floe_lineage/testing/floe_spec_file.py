"""A project's ``floe.yaml`` held against the dbt models of the run under test."""

from __future__ import annotations

import difflib
from pathlib import Path

import yaml

from ..dbt.manifest import DbtGraph
from ..floe import in_step, render

FLOE_SPEC = "floe.yaml"


class FloeSpecFile:
    """``floe.yaml`` at ``path`` and the dbt project it must describe (``floe.in_step``)."""

    def __init__(self, path: Path, graph: DbtGraph, *, update: bool) -> None:
        self.path = path
        self.graph = graph
        self.update = update
        """Rewrite the file instead of failing (pytest's ``--snapshot-update``)."""

    def assert_in_step(self) -> None:
        """Pass when the file's transforms are the dbt project's (compared as data: layout and
        comments do not matter); else fail with a diff of what would change, or, when updating,
        rewrite the file (every value other than the transforms kept)."""
        if not self.path.is_file():
            raise AssertionError(f"no {FLOE_SPEC} at {self.path}")
        written = yaml.safe_load(self.path.read_text(encoding="utf-8"))
        if not isinstance(written, dict):
            raise AssertionError(f"{self.path} is not a YAML mapping (a FloeSpec)")
        wanted = in_step(written, self.graph)
        if wanted == written:
            return
        if self.update:
            self.path.write_text(render(wanted), encoding="utf-8")
            return
        diff = difflib.unified_diff(
            render(written).splitlines(keepends=True),
            render(wanted).splitlines(keepends=True),
            f"{self.path} (as written)",
            "the dbt project's models",
        )
        raise AssertionError(
            f"{self.path} does not follow the dbt project; accept the change with"
            f" `pytest --snapshot-update`:\n{''.join(diff)}"
        )
