"""What lineage reads from the database a dbt target writes to, behind one small protocol.

``warehouse_for(target)`` is the one place that picks the implementation, by the profile's adapter
type: DuckDB and PostgreSQL are built in; another adapter is added with ``register_warehouse``
or, from a package of its own, an entry point in the ``floe_lineage.warehouses`` group named
after the adapter type whose value is a factory ``(ProfileTarget) -> Warehouse``. An adapter
nobody implements gets the ``UnsupportedWarehouse``: events name its datasets, without typed
schemas or row counts.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata

from ..dbt.profile import ProfileTarget
from .base import Isolation, UnsupportedWarehouse, Warehouse
from .duckdb import DuckDBWarehouse
from .postgres import PostgresWarehouse

WarehouseFactory = Callable[[ProfileTarget], Warehouse]
ENTRY_POINT_GROUP = "floe_lineage.warehouses"

_FACTORIES: dict[str, WarehouseFactory] = {
    "duckdb": DuckDBWarehouse.from_target,
    "postgres": PostgresWarehouse.from_target,
}


def register_warehouse(adapter_type: str, factory: WarehouseFactory) -> None:
    """Use ``factory`` for dbt targets of ``adapter_type`` (replacing any earlier one)."""
    _FACTORIES[adapter_type] = factory


def warehouse_for(target: ProfileTarget) -> Warehouse:
    """The warehouse of ``target``: registered, else from an entry point, else unsupported."""
    adapter_type = target.adapter_type
    if adapter_type not in _FACTORIES:
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP, name=adapter_type):
            register_warehouse(adapter_type, entry_point.load())
            break
    factory = _FACTORIES.get(adapter_type, UnsupportedWarehouse.from_target)
    return factory(target)


__all__ = [
    "DuckDBWarehouse",
    "Isolation",
    "PostgresWarehouse",
    "UnsupportedWarehouse",
    "Warehouse",
    "WarehouseFactory",
    "register_warehouse",
    "warehouse_for",
]
