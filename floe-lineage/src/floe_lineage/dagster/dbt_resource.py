"""What dagster-dbt's ``DbtCliResource`` does before every dbt command that a run does not need.

It asks ``dbt --version`` in a subprocess (``know_dbt_version``), and ``DbtCliResource.cli``
builds a dbt adapter in the Dagster process (``build_adapter_only_if_used``;
``_initialize_dbt_core_adapter`` in dagster-dbt's ``core/resource.py``: dbt's profile and
project loaded, the adapter registered with the manifest's macros), 1.8 to 3.0 s on 2 cores
before dbt even starts. Only the ``include_metadata`` options ``column_metadata``, ``row_count``
and ``insights`` use that adapter (dagster-dbt's ``fetch_column_metadata``,
``fetch_row_counts``, ``with_insights``); lineage reads the warehouse on its own connection.
"""

from __future__ import annotations

import shutil
import sysconfig
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.version import Version

from .upstream import ADAPTER_FACTORY, CLI_VERSION

FACTS_EXECUTABLE = "floe-lineage-dbt"
"""dbt, run as the ``dbt`` command runs it, that reports each finished node's facts
(``floe_lineage.in_dbt``)."""

ADAPTER_USERS = frozenset({"column_metadata", "row_count", "insights"})
"""The ``include_metadata`` options that need dagster-dbt's adapter."""


def build_adapter_only_if_used(dbt: Any, include_metadata: Iterable[str]) -> bool:
    """Keep the resource ``dbt`` (one step's, dagster-dbt makes one per execution) from building
    its adapter when none of ``include_metadata`` uses it: its invocations then have no adapter
    (``invocation.adapter`` is None), as with dbt Fusion. Returns whether it was kept from it;
    False, changing nothing, when an option uses the adapter or the resource has no such method
    (another dagster-dbt)."""
    if ADAPTER_USERS & set(include_metadata):
        return False
    if not callable(getattr(type(dbt), ADAPTER_FACTORY, None)):
        return False
    dbt.__dict__[ADAPTER_FACTORY] = _no_adapter
    return True


def _no_adapter(args: Any) -> None:
    return None


def know_dbt_version(dbt: Any) -> None:
    """Tell ``dbt`` the dbt version it would otherwise learn by running ``dbt --version`` in a
    subprocess once per resource (``DbtCliResource._cli_version`` in dagster-dbt's
    ``core/resource.py``; 2 to 5 s of importing dbt on 2 cores, before every run's dbt
    command), when its executable is this environment's ``dbt``, whose version is the
    installed dbt-core's. Anything else (another environment's dbt, dbt Fusion) is still asked."""
    version = installed_dbt_version()
    if version and _this_environments(dbt.dbt_executable) in ("dbt", FACTS_EXECUTABLE):
        dbt.__dict__.setdefault(CLI_VERSION, Version(version))


def with_facts_reader(dbt: Any) -> Any:
    """A copy of the resource ``dbt`` that runs ``floe-lineage-dbt`` where it runs this
    environment's ``dbt`` (the default); None where it runs another dbt (another environment's,
    dbt Fusion), or is a subclass of ``DbtCliResource`` (fields of its own we cannot copy)."""
    from dagster_dbt import DbtCliResource

    ours = Path(sysconfig.get_path("scripts")) / FACTS_EXECUTABLE
    if type(dbt) is not DbtCliResource or _this_environments(dbt.dbt_executable) != "dbt":
        return None
    if not ours.is_file():
        return None
    return DbtCliResource(
        project_dir=dbt.project_dir,
        global_config_flags=list(dbt.global_config_flags),
        profiles_dir=dbt.profiles_dir,
        profile=dbt.profile,
        target=dbt.target,
        dbt_executable=str(ours),
        state_path=dbt.state_path,
    )


def _this_environments(executable: str) -> str | None:
    """The name of the script ``executable`` is (as the subprocess would find it on PATH),
    when it is one of this environment's scripts; None otherwise."""
    found = shutil.which(executable)
    scripts = Path(sysconfig.get_path("scripts")).resolve()
    if not found or Path(found).resolve().parent != scripts:
        return None
    return Path(found).name


def installed_dbt_version() -> str | None:
    try:
        return metadata.version("dbt-core")
    except metadata.PackageNotFoundError:
        return None
