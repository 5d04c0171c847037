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
