"""The top-level module names a generated project's package must not take: the standard
library's and those of every distribution a generated project installs (its dependency closure,
as installed in this environment). ``copier-shadowed-modules.yml`` lists them; the tests check
the list still covers them, and ``python tests/shadowed_modules.py`` writes it anew."""

from __future__ import annotations

import importlib.util
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
# Not importable names (private, or not identifiers) need no refusing.
IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def project_roots() -> list[str]:
    """The distributions a generated project asks for: floe-lineage's and the template's."""
    template = (ROOT / "template" / "pyproject.toml.jinja").read_text()
    asked = re.findall(r'"([A-Za-z][A-Za-z0-9._-]*)(?:\[[^"\]]*\])?[<>=!~][^"]*"', template)
    library = tomllib.loads((ROOT / "floe-lineage" / "pyproject.toml").read_text())["project"]
    roots = {"floe-lineage", *asked, *(Requirement(r).name for r in library["dependencies"])}
    return sorted(roots)


def dependency_closure(names: list[str]) -> set[str]:
    """Every installed distribution ``names`` need, recursively (extras ignored)."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        key = name.lower().replace("_", "-")
        if key in seen:
            continue
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        seen.add(key)
        for requirement in map(Requirement, requires):
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def top_level_modules(distribution: str) -> set[str]:
    """The importable top-level names a distribution installs."""
    dist = metadata.distribution(distribution)
    listed = (dist.read_text("top_level.txt") or "").split()
    files = [str(f) for f in dist.files or []]
    found = set(listed)
    for path in files:
        first = path.split("/", 1)[0]
        if first.endswith((".dist-info", ".data", "..")) or first == "__pycache__":
            continue
        name = first.removesuffix(".py").split(".", 1)[0]
        if "/" in path or path.endswith((".py", ".so", ".pyd")):
            found.add(name)
    # an editable install lists no modules: its name, when importable, is one
    own = dist.metadata["Name"].lower().replace("-", "_")
    if importlib.util.find_spec(own) is not None:
        found.add(own)
    return {name for name in found if IDENTIFIER.fullmatch(name)}


def shadowed_modules() -> set[str]:
    stdlib = {name for name in sys.stdlib_module_names if IDENTIFIER.fullmatch(name)}
    installed = set()
    for distribution in dependency_closure(project_roots()):
        installed |= top_level_modules(distribution)
    return stdlib | installed


LISTED = ROOT / "copier-shadowed-modules.yml"
HEADER = """\
# Module names the generated package must not take (copier.yml includes this file): Python's
# standard library and every top-level module of the project's dependencies. Written by
# `python tests/shadowed_modules.py`; tests/test_validation.py checks it still covers them.
shadowed_modules:
  type: yaml
  when: false
  default:
"""

if __name__ == "__main__":
    names = sorted(shadowed_modules() | {"tests", "test"})
    LISTED.write_text(HEADER + "".join(f"    - {name}\n" for name in names))
