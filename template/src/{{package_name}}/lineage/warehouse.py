"""Facts read from the DuckDB database once dbt has released it.

dbt-duckdb holds the database file's lock for the whole invocation, so this module opens its
one read-only connection only after dbt has exited, and reads everything in one pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb

from .naming import Relation

Columns = list[tuple[str, str]]


def read_columns(database_file: Path, relations: Iterable[Relation]) -> dict[Relation, Columns]:
    """Real ``(column, type)`` lists, in table order, of those ``relations`` that exist.

    Names are matched case-insensitively, as DuckDB resolves identifiers.
    """
    wanted = {_key(r): r for r in relations}
    if not wanted:
        return {}
    with duckdb.connect(str(database_file), read_only=True) as con:
        rows = con.execute(
            "select table_catalog, table_schema, table_name, column_name, data_type"
            " from information_schema.columns order by table_catalog, table_schema,"
            " table_name, ordinal_position"
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
