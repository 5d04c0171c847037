"""Tables and views as dbt names them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Relation:
    """A table or view in the warehouse, as dbt names it (unquoted parts)."""

    database: str | None
    schema: str | None
    identifier: str

    @property
    def name(self) -> str:
        """The non-empty parts joined with dots: the OpenLineage dataset name, as dbt-ol names
        it (``database.schema.table``)."""
        return ".".join(part for part in (self.database, self.schema, self.identifier) if part)
