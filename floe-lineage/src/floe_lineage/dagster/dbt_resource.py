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
    if not callable(getattr(type(dbt), "_initialize_dbt_core_adapter", None)):
        return False
    dbt.__dict__["_initialize_dbt_core_adapter"] = _no_adapter
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
    found = shutil.which(dbt.dbt_executable)  # as the subprocess would find it (PATH)
    scripts = Path(sysconfig.get_path("scripts")).resolve()
    if version and found and Path(found).resolve() == scripts / "dbt":
        dbt.__dict__.setdefault("_cli_version", Version(version))


def installed_dbt_version() -> str | None:
    try:
        return metadata.version("dbt-core")
    except metadata.PackageNotFoundError:
        return None
