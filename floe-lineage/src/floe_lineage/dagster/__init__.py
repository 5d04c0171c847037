"""The Dagster integration (a ``dg`` registry module: ``dg list components`` shows it)."""

from .component import DbtProjectWithLineage, LineageSettings

__all__ = ["DbtProjectWithLineage", "LineageSettings"]
