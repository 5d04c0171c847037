"""Facts read from the DuckDB database once dbt has released it.

dbt-duckdb holds the database file's lock for the whole invocation, so this module opens its
one read-only connection only after dbt has exited, and reads everything in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from .naming import Relation

Columns = list[tuple[str, str]]
COUNT_BATCH = 200


@dataclass(frozen=True)
class WarehouseFacts:
    columns: dict[Relation, Columns] = field(default_factory=dict)
    """Real ``(column, type)`` lists, in table order."""
    row_counts: dict[Relation, int] = field(default_factory=dict)


def inspect_warehouse(
    database_file: Path, describe: Iterable[Relation], count: Iterable[Relation]
) -> WarehouseFacts:
    """Columns of the ``describe`` relations and ``count(*)`` of the ``count`` relations that
    exist. Names are matched case-insensitively, as DuckDB resolves identifiers."""
    wanted = {_key(r): r for r in describe}
    with duckdb.connect(str(database_file), read_only=True) as con:
        facts = WarehouseFacts(columns=_columns(con, wanted))
        present = {_key(r) for r in facts.columns}
        to_count = [r for r in dict.fromkeys(count) if _key(r) in present]
        for start in range(0, len(to_count), COUNT_BATCH):
            batch = to_count[start : start + COUNT_BATCH]
            query = " union all ".join(
                f"select {i}, count(*) from {_qualified(r)}" for i, r in enumerate(batch)
            )
            for i, rows in con.execute(query).fetchall():
                facts.row_counts[batch[i]] = rows
    return facts


def _columns(con: duckdb.DuckDBPyConnection, wanted: dict) -> dict[Relation, Columns]:
    if not wanted:
        return {}
    rows = con.execute(
        "select table_catalog, table_schema, table_name, column_name, data_type"
        " from information_schema.columns"
        " order by table_catalog, table_schema, table_name, ordinal_position"
    ).fetchall()
    found: dict[Relation, Columns] = {}
    for catalog, schema, table, column, data_type in rows:
        relation = wanted.get((catalog.lower(), schema.lower(), table.lower()))
        if relation is not None:
            found.setdefault(relation, []).append((column, data_type))
    return found


def _key(relation: Relation) -> tuple[str, str, str]:
    return (
        (relation.database or "").lower(),
        (relation.schema or "main").lower(),
        relation.identifier.lower(),
    )


def _qualified(relation: Relation) -> str:
    parts = [p for p in (relation.database, relation.schema, relation.identifier) if p]
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)
