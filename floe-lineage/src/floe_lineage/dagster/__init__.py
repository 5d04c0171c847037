"""The Dagster integration (a ``dg`` registry module: ``dg list components`` shows it)."""

from .component import DbtProjectWithLineage, LineageSettings
from .schedule import FloeSchedule

__all__ = ["DbtProjectWithLineage", "FloeSchedule", "LineageSettings"]
