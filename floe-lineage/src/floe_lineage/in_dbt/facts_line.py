"""The one JSON line ``floe-lineage-dbt`` adds to dbt's stdout per finished node it reports: what
the warehouse held once the node finished, read inside the dbt process (DuckDB), the rows the
run wrote as the adapter reported them, and the error text of a node that failed, the moment
dbt reported it (on stdout dbt prints that text only at the end of the run).

It has dbt's JSON log shape (``info.name``, ``info.level``, ``info.ts``, ``info.msg``, ``data``),
so a reader of dbt's structured log takes it as one more event: dagster-dbt echoes its short
``msg`` and makes no Dagster event of it (it names no ``node_info``), ``read_facts_line`` reads it
back. Relations are ``[database, schema, identifier]``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..dbt.relation import Relation
from ..openlineage.observations import WarehouseFacts

EVENT_NAME = "FloeLineageFacts"


@dataclass(frozen=True)
class FactsRead:
    """What the dbt process reports of one finished node."""

    unique_id: str
    warehouse: WarehouseFacts
    """Columns of the node's relation and of its inputs not reported before in this run; the
    row count of its relation where it counts rows."""
    rows_written: int | None
    """Rows this run wrote, as the adapter reported them (``rows_affected``); None where it
    does not know (dbt-duckdb never does)."""
    read_at: datetime
    error: str | None = None
    """Why nothing could be read (the line still comes: the node's facts are final)."""
    read: bool = True
    """Whether the dbt process read the warehouse for this node; False where it reads none
    (another adapter than DuckDB, whose facts floe-lineage reads from its own side) and for a
    node that failed."""
    message: str | None = None
    """dbt's error text of a node that failed (its run result's ``message``)."""


def facts_line(facts: FactsRead, invocation_id: str = "") -> dict[str, Any]:
    """The JSON object of ``facts``, as dbt's JSON logger shapes an event."""
    return {
        "info": {
            "name": EVENT_NAME,
            "code": "",
            "level": "debug",
            "ts": facts.read_at.isoformat(),
            "msg": f"floe-lineage read the facts of {facts.unique_id}",
            "invocation_id": invocation_id,
            "extra": {},
        },
        "data": {
            "unique_id": facts.unique_id,
            "columns": [
                [*_parts(relation), [list(c) for c in columns]]
                for relation, columns in facts.warehouse.columns.items()
            ],
            "row_counts": [
                [*_parts(relation), rows] for relation, rows in facts.warehouse.row_counts.items()
            ],
            "not_counted": [
                [*_parts(relation), why] for relation, why in facts.warehouse.not_counted.items()
            ],
            "rows_written": facts.rows_written,
            "error": facts.error,
            "read": facts.read,
            "message": facts.message,
        },
    }


def read_facts_line(raw_event: Mapping[str, Any]) -> FactsRead | None:
    """The facts a ``FloeLineageFacts`` line carries; None for any other event."""
    info = raw_event.get("info") or {}
    if info.get("name") != EVENT_NAME:
        return None
    data = raw_event.get("data") or {}
    unique_id = data.get("unique_id")
    if not isinstance(unique_id, str):
        return None
    from ..dbt.log_events import parse_time

    return FactsRead(
        unique_id=unique_id,
        warehouse=WarehouseFacts(
            columns={
                Relation(db, schema, name): [(c, t) for c, t in columns]
                for db, schema, name, columns in data.get("columns") or []
            },
            row_counts={
                Relation(db, schema, name): int(rows)
                for db, schema, name, rows in data.get("row_counts") or []
            },
            not_counted={
                Relation(db, schema, name): str(why)
                for db, schema, name, why in data.get("not_counted") or []
            },
        ),
        rows_written=data.get("rows_written"),
        read_at=parse_time(info["ts"]),
        error=data.get("error"),
        read=data.get("read", True) is not False,
        message=data.get("message"),
    )


def _parts(relation: Relation) -> list[str | None]:
    return [relation.database, relation.schema, relation.identifier]
