"""Which dbt manifest ``floe-lineage check`` compares a run's events with.

The events name their dbt project: the ``dbt_run`` run facet's ``project_name``, else the
middle part of the dbt nodes' job names (``<resource type>.<project>.<node>``). The manifest is
``--manifest`` if given, else that of ``$DBT_PROJECT_DIR`` if set; both must be of the events'
project. Otherwise the first of these folders whose ``dbt_project.yml`` names the events'
project: the ``project_dir`` of every ``floe_lineage.dagster.DbtProjectWithLineage`` component
of the Dagster project around the working directory (``src/*/defs/**/defs.yaml``), then
``./dbt``, then ``.``. In a dbt project folder the manifest is the one dagster-dbt wrote for the
run (``run_manifest``). Every failure is one ``LineageConfigError`` that says what was looked at
and how to point elsewhere.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jinja2
import jinja2.sandbox
import yaml

from ..dbt.manifest import DbtGraph, run_manifest
from ..delivery.config import LineageConfigError

COMPONENT = "DbtProjectWithLineage"
"""The component type (``floe_lineage.dagster.DbtProjectWithLineage``) whose dbt project is read."""
POINT_ELSEWHERE = (
    "name the events' manifest with --manifest PATH or their dbt project's folder with"
    " DBT_PROJECT_DIR"
)


@dataclass(frozen=True)
class FoundManifest:
    path: Path
    graph: DbtGraph
    project: str | None
    """The dbt project's name the manifest records (None: it records none)."""
    source: str
    """How it was found: ``--manifest``, ``$DBT_PROJECT_DIR``, a ``defs.yaml``, ``./dbt``, ``.``."""

    def line(self) -> str:
        project = repr(self.project) if self.project else "unknown"
        return f"Manifest: {self.path} (dbt project {project}, from {self.source})"


def find_manifest(
    events: Iterable[Mapping[str, Any]],
    run_id: str,
    given: Path | None,
    cwd: Path,
    environ: Mapping[str, str],
) -> FoundManifest:
    """The manifest of the dbt project the events of run ``run_id`` came from (module doc)."""
    projects = events_projects(events)
    if given is not None:
        return _read(given, "--manifest", projects)
    if environ.get("DBT_PROJECT_DIR"):
        folder = (cwd / environ["DBT_PROJECT_DIR"]).resolve()
        return _read(run_manifest(folder, run_id), "$DBT_PROJECT_DIR", projects)
    looked = []
    for source, folder in candidates(cwd, environ):
        name = dbt_project_name(folder)
        where = "." if source == "." else f"{source} ({folder})"
        if name is None:
            looked.append(f"{where} has no dbt_project.yml")
        elif projects and name not in projects:
            looked.append(f"{where} is dbt project {name!r}")
        else:
            return _read(run_manifest(folder, run_id), source, projects)
    what = _of(projects) + ", not found here" if projects else "no dbt project found here"
    raise LineageConfigError(f"{what} ({', '.join(looked)}); {POINT_ELSEWHERE}")


def events_projects(events: Iterable[Mapping[str, Any]]) -> list[str]:
    """The dbt projects the dbt nodes' events ran in, the most frequent first."""
    counted: Counter[str] = Counter()
    for event in events:
        job = event.get("job", {})
        if job.get("facets", {}).get("jobType", {}).get("integration") != "DBT":
            continue
        named = event.get("run", {}).get("facets", {}).get("dbt_run", {}).get("project_name")
        parts = str(job.get("name", "")).split(".")
        project = named or (parts[1] if len(parts) >= 3 else None)
        if project:
            counted[project] += 1
    return [name for name, _ in counted.most_common()]


def candidates(cwd: Path, environ: Mapping[str, str]) -> list[tuple[str, Path]]:
    """(how it was found, folder) of each place a dbt project may be, in the order tried:
    the components' ``project_dir`` (``defs.yaml`` relative to the Dagster project's root: the
    nearest folder holding ``pyproject.toml``), ``./dbt``, ``.``; each folder once."""
    root = next((p for p in (cwd, *cwd.parents) if (p / "pyproject.toml").is_file()), cwd)
    found = [(str(defs.relative_to(root)), d) for defs, d in component_project_dirs(root, environ)]
    found += [("./dbt", (cwd / "dbt").resolve()), (".", cwd.resolve())]
    seen: set[Path] = set()
    return [(s, d) for s, d in found if not (d in seen or seen.add(d))]


def component_project_dirs(root: Path, environ: Mapping[str, str]) -> list[tuple[Path, Path]]:
    """(``defs.yaml``, dbt project folder) of each ``DbtProjectWithLineage`` component under
    ``root/src/*/defs``: its ``project`` or ``project.project_dir``, a Jinja template rendered
    as Dagster does (``env(name, default)``, ``project_root``, ``context.project_root``), a
    relative path taken from the ``defs.yaml``'s folder. A file or template that cannot be read
    or rendered names no folder."""
    found = []
    for defs in sorted(root.glob("src/*/defs/**/defs.yaml")):
        try:
            documents = list(yaml.safe_load_all(defs.read_text("utf-8")))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        for document in documents:
            if not isinstance(document, dict) or not str(document.get("type")).endswith(COMPONENT):
                continue
            project = (document.get("attributes") or {}).get("project")
            if isinstance(project, dict):
                project = project.get("project_dir")
            rendered = _render(project, root, environ) if isinstance(project, str) else None
            if rendered:
                found.append((defs, (defs.parent / rendered).resolve()))
    return found


def dbt_project_name(folder: Path) -> str | None:
    """The ``name`` in ``folder/dbt_project.yml``, or None if there is no readable one."""
    try:
        name = yaml.safe_load((folder / "dbt_project.yml").read_text("utf-8")).get("name")
    except (OSError, UnicodeDecodeError, yaml.YAMLError, AttributeError):
        return None
    return str(name) if name else None


def _render(template: str, root: Path, environ: Mapping[str, str]) -> str | None:
    if "{" not in template:
        return template
    jinja = jinja2.sandbox.SandboxedEnvironment(undefined=jinja2.StrictUndefined)
    try:
        return jinja.from_string(template).render(
            env=lambda name, default=None: environ.get(name, default),
            project_root=root,
            context=SimpleNamespace(project_root=root),
        )
    except (jinja2.TemplateError, TypeError, ValueError):
        return None


def _read(path: Path, source: str, projects: Sequence[str]) -> FoundManifest:
    """The manifest at ``path``, which must be of one of ``projects`` (if any are known)."""
    if not path.is_file():
        raise LineageConfigError(
            f"no dbt manifest at {path} (from {source}); run dbt there (e.g. dbt parse), or"
            f" {POINT_ELSEWHERE}"
        )
    try:
        graph = DbtGraph.from_file(path)
        name = graph.metadata.get("project_name")
    except (ValueError, AttributeError) as exc:
        raise LineageConfigError(f"{path} (from {source}) is not a dbt manifest: {exc}") from exc
    if projects and name and name not in projects:
        raise LineageConfigError(
            f"{_of(projects)}, but the manifest {path} ({source}) is of dbt project {name!r};"
            f" {POINT_ELSEWHERE}"
        )
    return FoundManifest(path, graph, name, source)


def _of(projects: Sequence[str]) -> str:
    names = ", ".join(repr(p) for p in projects)
    return f"the events are of dbt project{'s' if len(projects) > 1 else ''} {names}"
