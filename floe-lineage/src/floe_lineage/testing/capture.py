"""One isolated run of a Dagster project's dbt assets, with its lineage captured.

The project is loaded as ``dg`` loads it (its ``definitions.py``) and its dbt assets run through
Dagster, the production code path. Nothing of the project's own state is touched: the dbt
target of every ``DbtProjectWithLineage`` component is copied into a ``profiles.yml`` of its own
whose database is one of its own (``Warehouse.isolated``: a file in a temporary folder, a
database created on the same server for the run; every other value as written, ``env_var``
references included), which the components find through
``DBT_PROFILES_DIR``; events go to a file transport in that folder (``OPENLINEAGE_CONFIG``).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import dagster as dg
from dagster.components.core.component_tree import ComponentTree
from dagster_shared.utils.config import load_toml_as_dict

from ..dagster import DbtProjectWithLineage
from ..dagster.upstream import DAGSTER_DBT_MANIFEST_METADATA_KEY
from ..dbt.environment import environment
from ..dbt.profile import read_target, write_profiles
from ..tools.events_file import read_events
from ..warehouse import warehouse_for
from .lineage import Lineage

PROFILES_HINT = "profiles_dir: \"{{ env('DBT_PROFILES_DIR', '') }}\""


class CaptureError(RuntimeError):
    """The project cannot be run in isolation, or its dbt run failed; the message says why."""


def capture_lineage(project_root: Path, folder: Path) -> Lineage:
    """Materialize every dbt asset of the Dagster project in ``project_root`` once, in isolation
    under ``folder``, and return the lineage captured. Raises ``CaptureError`` when the project
    cannot be isolated, or when the run failed (naming the failed dbt nodes and dbt's errors)."""
    folder.mkdir(parents=True, exist_ok=True)
    events_file = folder / "events.jsonl"
    config = folder / "openlineage.yml"
    config.write_text(
        f"transport:\n  type: file\n  log_file_path: {events_file}\n  append: true\n",
        encoding="utf-8",
    )
    profiles_dir = folder / "profiles"
    isolated = {
        "DBT_PROFILES_DIR": str(profiles_dir),
        "OPENLINEAGE_CONFIG": str(config),
        "OPENLINEAGE_DISABLED": None,
    }
    with ExitStack() as databases:
        project_dirs, renamed = _isolated_profiles(
            project_root, profiles_dir, folder / "warehouse", databases
        )
        with environment(isolated):
            _check_isolated(project_root, profiles_dir)
            result = _materialize_dbt_assets(load_definitions(project_root))
    events = list(read_events(events_file)) if events_file.is_file() else []
    lineage = Lineage.of_run(events, result.run_id, project_dirs, events_file, renamed)
    failed = lineage.failures()
    if failed or not result.success:
        details = "".join(f"\n  {job}: {message}" for job, message in failed.items())
        raise CaptureError(
            f"the dbt run of {project_root} failed"
            + (f":{details}" if details else f": {_failure_text(result)}")
        )
    return lineage


def load_definitions(project_root: Path) -> dg.Definitions:
    """The project's definitions as ``dg`` loads them: ``defs`` of its code location module
    (``[tool.dg.project]`` ``code_location_target_module``, else ``<root_module>.definitions``),
    imported from ``src/`` or the project root."""
    settings = _dg_project(project_root)
    root_module = settings.get("root_module")
    if not root_module:
        raise CaptureError(f"{project_root}/pyproject.toml sets no [tool.dg.project] root_module")
    module_name = settings.get("code_location_target_module") or f"{root_module}.definitions"
    for folder in (project_root / "src", project_root):
        if (folder / root_module).is_dir():
            if str(folder) not in sys.path:
                sys.path.insert(0, str(folder))
            break
    found = getattr(importlib.import_module(module_name), "defs", None)
    defs = found() if callable(found) else found
    if not isinstance(defs, dg.Definitions):
        raise CaptureError(f"{module_name}.defs gives no Dagster Definitions")
    return defs


def _isolated_profiles(
    project_root: Path, profiles_dir: Path, folder: Path, databases: ExitStack
) -> tuple[list[Path], dict[str, str]]:
    """Write the isolated ``profiles.yml`` for every ``DbtProjectWithLineage`` of the project,
    from the targets dbt would use now, each with a database of its own for as long as
    ``databases`` is open. Returns the dbt project folders and the renamed databases."""
    components = _dbt_components(project_root)
    chosen = {}
    renamed: dict[str, str] = {}
    for component in components:
        project = component.dbt_project
        target = read_target(
            Path(project.project_dir), Path(project.profiles_dir), project.profile, project.target
        )
        key = (target.profile_name, target.target_name)
        if key not in chosen:
            warehouse = warehouse_for(target)
            try:
                isolation = databases.enter_context(
                    warehouse.isolated(folder / target.profile_name)
                )
            except NotImplementedError as error:
                raise CaptureError(str(error)) from error
            chosen[key] = (target, isolation.output)
            renamed |= isolation.renamed
    write_profiles(profiles_dir, chosen.values())
    return [Path(c.dbt_project.project_dir) for c in components], renamed


def _check_isolated(project_root: Path, profiles_dir: Path) -> None:
    """Every dbt component, loaded again with ``DBT_PROFILES_DIR`` set, reads the isolated
    profiles: else the run would write to the project's own database."""
    for component in _dbt_components(project_root):
        used = Path(component.dbt_project.profiles_dir)
        if used.resolve() != profiles_dir.resolve():
            raise CaptureError(
                f"the dbt component of {component.dbt_project.project_dir} reads profiles.yml"
                f" from {used}, so the tests cannot give it a database of their own: let its"
                f" defs.yaml take profiles_dir from DBT_PROFILES_DIR ({PROFILES_HINT})"
            )


def _dbt_components(project_root: Path) -> list[DbtProjectWithLineage]:
    components = ComponentTree.for_project(project_root).get_all_components(
        of_type=DbtProjectWithLineage
    )
    if not components:
        raise CaptureError(
            f"{project_root} defines no floe_lineage.dagster.DbtProjectWithLineage component"
        )
    return components


def _materialize_dbt_assets(defs: dg.Definitions) -> dg.ExecuteInProcessResult:
    """Every dbt asset (and its asset checks, the dbt tests) in one in-process run."""
    keys = [
        spec.key
        for assets in defs.resolve_asset_graph().assets_defs
        for spec in assets.specs
        if DAGSTER_DBT_MANIFEST_METADATA_KEY in spec.metadata
    ]
    if not keys:
        raise CaptureError("the project's definitions hold no dbt assets")
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), asset_selection=keys, raise_on_error=False
    )


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    failures = [
        event.step_failure_data.error.message.strip()
        for event in result.all_events
        if event.is_step_failure and event.step_failure_data.error is not None
    ]
    return "; ".join(failures) or "the Dagster run did not succeed"


def _dg_project(project_root: Path) -> Mapping[str, Any]:
    pyproject = project_root / "pyproject.toml"
    if not pyproject.is_file():
        raise CaptureError(f"{project_root} has no pyproject.toml: not a dg project")
    loaded = load_toml_as_dict(pyproject)
    return loaded.get("tool", {}).get("dg", {}).get("project", {})
