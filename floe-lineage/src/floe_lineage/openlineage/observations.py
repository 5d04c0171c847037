"""What the warehouse was seen to hold after a run: the input the event builders take from
``floe_lineage.warehouse``, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..dbt.relation import Relation

Columns = list[tuple[str, str]]
"""Real ``(column, type)`` pairs of a relation, in table order, typed as the warehouse types."""


@dataclass(frozen=True)
class WarehouseFacts:
    columns: dict[Relation, Columns] = field(default_factory=dict)
    row_counts: dict[Relation, int] = field(default_factory=dict)
    """The rows each relation holds."""
    rows_written: dict[Relation, int] = field(default_factory=dict)
    """The rows this run wrote into a relation, where the adapter reported them (dbt's
    ``rows_affected``); an incremental model's differ from its ``row_counts``."""
    not_counted: dict[Relation, str] = field(default_factory=dict)
    """Relations whose count was asked for and given up, and why (a view whose query ran
    longer than its bound)."""

    def rows_for_statistics(self, relation: Relation) -> int | None:
        """``outputStatistics.rowCount``: the rows written where known, else the rows held."""
        return self.rows_written.get(relation, self.row_counts.get(relation))
