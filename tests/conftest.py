"""Shared helpers for the tests of the floe Copier template itself.

Projects are rendered from this repository (the git HEAD plus any uncommitted changes, as
``copier copy`` does for a local template) into temporary folders, never into the repository.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template"
ANSWERS_FILE = ".copier-answers.yml"

# Every question of copier.yml a user can answer (project_slug is computed, never asked).
QUESTIONS = (
    "project_name",
    "package_name",
    "description",
    "python_version",
    "lineage_namespace",
    "lineage_producer",
    "lineage_transport",
    "floe_spec",
    "floe_owner",
    "floe_manifest",
)
# Asked only when another answer says so: question -> (question, the answer that asks it).
ASKED_WHEN = {"floe_owner": ("floe_spec", True), "floe_manifest": ("floe_spec", True)}

# Named sets of answers. "defaults" gives only the required project name; "console" and "http"
# answer every question they are asked with a non-default value (between them, every question);
# "py310" covers the last python_version choice and keeps the producer answer projects rendered
# by earlier templates recorded by default (OLD_DEFAULT_PRODUCER), as `copier update` keeps it.
VARIANTS: dict[str, dict[str, Any]] = {
    "defaults": {"project_name": "Floe Defaults"},
    "console": {
        "project_name": "Acme Flow",
        "package_name": "acme_pipeline",
        "description": "Acme's nightly loads: orders & payments, <checked> by dbt",
        "python_version": "3.12",
        "lineage_namespace": "acme.prod/flows:v1",
        "lineage_producer": "https://git.example.com/acme/acme-flow",
        "lineage_transport": "console",
        "floe_spec": False,
    },
    "http": {
        "project_name": "Zed-Lake 2",
        "package_name": "zed_lake",
        "description": "Zed lake: every model traced to Marquez",
        "python_version": "3.13",
        "lineage_namespace": "zed_lake-prod",
        "lineage_producer": "git+ssh://git.example.com/zed/lake.git",
        "lineage_transport": "http",
        "floe_owner": "lake-team@zed.example",
        "floe_manifest": False,
    },
    "py310": {
        "project_name": "Old Timer",
        "python_version": "3.10",
        "lineage_producer": "https://github.com/example/old-timer",
    },
}
# The producer answer earlier templates offered as the default: a placeholder that names no
# code, so it writes no producer, as an empty answer (floe-lineage's default) does.
OLD_DEFAULT_PRODUCER = "https://github.com/example/{slug}"

# What copier derives from each project name above when the other questions keep their defaults.
DERIVED: dict[str, dict[str, Any]] = {
    "Floe Defaults": {
        "package_name": "floe_defaults",
        "description": (
            "Floe Defaults: Dagster orchestrating dbt on DuckDB, with OpenLineage lineage"
        ),
        "python_version": "3.11",
        "lineage_namespace": "floe-defaults",
        "lineage_producer": "",
        "lineage_transport": "file",
    },
    "Old Timer": {
        "package_name": "old_timer",
        "description": "Old Timer: Dagster orchestrating dbt on DuckDB, with OpenLineage lineage",
        "python_version": "3.11",
        "lineage_namespace": "old-timer",
        "lineage_producer": "",
        "lineage_transport": "file",
    },
}
# Defaults that do not depend on the project name.
DEFAULTS: dict[str, Any] = {"floe_spec": True, "floe_owner": "", "floe_manifest": True}
# The project slug (pyproject name) copier computes from each project name.
SLUGS = {
    "Floe Defaults": "floe-defaults",
    "Old Timer": "old-timer",
    "Acme Flow": "acme-flow",
    "Zed-Lake 2": "zed-lake-2",
}
# The dbt project (and profile) name: floe's dbt_project_name of the slug.
DBT_NAMES = {slug: slug.replace("-", "_") for slug in SLUGS.values()}


def pytest_configure(config: pytest.Config) -> None:
    # Rendering a repository with uncommitted changes is expected while developing.
    config.addinivalue_line("filterwarnings", "ignore::copier.errors.DirtyLocalWarning")
    config.addinivalue_line("markers", "slow: left out by `nox -s tests`, run by `nox -s slow`")


@pytest.fixture(scope="session", autouse=True)
def hermetic_copier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Ignore the developer's own copier settings (user defaults, trusted repositories)."""
    settings = tmp_path_factory.mktemp("copier-settings") / "settings.yml"
    settings.write_text("defaults: {}\ntrust: []\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COPIER_SETTINGS_PATH", str(settings))
        mp.setenv("DAGSTER_DISABLE_TELEMETRY", "1")
        yield


def render(dst: Path, data: dict[str, Any], src: Path = ROOT, **kwargs: Any) -> Path:
    """``copier copy --defaults`` of ``src`` into ``dst`` with ``data``, never trusting it.
    The template's HEAD (with uncommitted changes), not its latest release tag, unless
    ``vcs_ref`` says otherwise."""
    kwargs.setdefault("vcs_ref", "HEAD")
    copier.run_copy(
        str(src),
        dst,
        data=dict(data),
        defaults=True,
        unsafe=False,
        quiet=True,
        **kwargs,
    )
    return dst


class Renders:
    """``rendered(name)``: the project rendered with ``VARIANTS[name]``, once per session.
    Shared by many tests: read it, never run anything in it that writes there.

    ``rendered.sources(name)`` holds the template files (path relative to ``template/`` ->
    bytes) as they were just before that render, so tests compare the render with what it was
    rendered from even while the template is being edited."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._factory = tmp_path_factory
        self._projects: dict[str, Path] = {}
        self._sources: dict[str, dict[str, bytes]] = {}

    def __call__(self, name: str) -> Path:
        if name not in self._projects:
            self._sources[name] = {f: (TEMPLATE / f).read_bytes() for f in template_files()}
            parent = self._factory.mktemp(f"render-{name}")
            self._projects[name] = render(parent / "project", VARIANTS[name])
        return self._projects[name]

    def sources(self, name: str) -> dict[str, bytes]:
        self(name)
        return self._sources[name]


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Renders:
    return Renders(tmp_path_factory)


def answers(project: Path) -> dict[str, Any]:
    return yaml.safe_load((project / ANSWERS_FILE).read_text())


def expected_answers(name: str) -> dict[str, Any]:
    """Every answer copier must record for ``VARIANTS[name]``: given, else derived; none for
    a question not asked (``ASKED_WHEN``)."""
    data = VARIANTS[name]
    derived = {**DEFAULTS, **DERIVED.get(data["project_name"], {})}
    found = {key: data[key] if key in data else derived[key] for key in QUESTIONS}
    return {
        key: value
        for key, value in found.items()
        if key not in ASKED_WHEN or found[ASKED_WHEN[key][0]] == ASKED_WHEN[key][1]
    }


def template_files() -> list[str]:
    """Template files as git sees them (tracked or untracked, not ignored), relative to
    ``template/``: what copier renders, uncommitted changes included."""
    listed = subprocess.run(
        [
            "git",
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "template",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    return sorted(
        str(Path(p).relative_to("template")) for p in listed if p and (ROOT / p).is_file()
    )


def rendered_path(template_file: str, values: dict[str, Any]) -> str | None:
    """Where copier puts ``template_file``: names rendered, ``.jinja`` suffix dropped; None
    when its name is ``{% if answer %}name{% endif %}`` and the answer is false."""
    path = re.sub(
        r"\{%\s*if\s+(\w+)\s*%\}(.*?)\{%\s*endif\s*%\}",
        lambda m: m.group(2) if values.get(m.group(1)) else "",  # not asked: false
        template_file,
    )
    if any(not part for part in path.removesuffix(".jinja").split("/")):
        return None  # a file or a folder whose name renders empty: not rendered
    path = re.sub(
        r"\{\{\s*(\w+(?:\.\w+)*)\s*\}\}",
        lambda m: values[m.group(1)],
        path,
    )
    return path.removesuffix(".jinja")


def load_module(path: Path) -> Any:
    """A helper module of floe-lineage's tests, loaded by path (that folder is another pytest
    root), as ``floe_<its name>``."""
    spec = importlib.util.spec_from_file_location(f"floe_{path.stem}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# floe-lineage's tests' own check of captured events (``schema_oracle.py``: plain jsonschema
# against the schema files, plus the outside validator when ``$FLOE_OL_VALIDATOR`` names it).
assert_schema_valid = load_module(
    ROOT / "floe-lineage" / "tests" / "schema_oracle.py"
).assert_schema_valid


def tool(name: str) -> str:
    """A console script installed next to the running interpreter (the nox venv)."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name
