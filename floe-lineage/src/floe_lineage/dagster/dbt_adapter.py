"""dagster-dbt's in-process dbt adapter, built only when something of the run uses it.

Before every dbt command, ``DbtCliResource.cli`` builds a dbt adapter in the Dagster process
(``_initialize_dbt_core_adapter`` in dagster-dbt's ``core/resource.py``: dbt's profile and
project loaded, the adapter registered with the manifest's macros), 1.8 to 3.0 s on 2 cores
before dbt even starts. Only the ``include_metadata`` options ``column_metadata``, ``row_count``
and ``insights`` use that adapter (dagster-dbt's ``fetch_column_metadata``,
``fetch_row_counts``, ``with_insights``); lineage reads the warehouse on its own connection.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
