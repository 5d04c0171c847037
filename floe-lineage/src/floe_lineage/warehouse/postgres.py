"""PostgreSQL, read while dbt runs (no file lock): each node's columns and row count are read
when it finishes and go in its terminal event.

Naming, as the OpenLineage naming spec and dbt-ol name PostgreSQL: namespace
``postgres://{host}:{port}``, name ``{database}.{schema}.{table}``. The password is rendered
from the profile only to connect; it never leaves the connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..dbt.profile import ProfileTarget
from ..dbt.relation import Relation
from ..openlineage.observations import WarehouseFacts
from .base import VIEW_COUNT_TIMEOUT, Isolation, count_views

DEFAULT_PORT = 5432
COUNT_BATCH = 200


class PostgresWarehouse:
    adapter_type = "postgres"
    dialect = "postgres"
    supported = True
    reads_during_run = True

    def __init__(self, target: ProfileTarget) -> None:
        self._target = target
        self.host = str(target.value("host", "localhost"))
        self.port = int(target.value("port", DEFAULT_PORT))
        self.database = str(target.value("dbname") or target.value("database") or "")
        self.namespace = f"postgres://{self.host}:{self.port}"
        self._connection: Any = None

    @classmethod
    def from_target(cls, target: ProfileTarget) -> PostgresWarehouse:
        return cls(target)

    def prepare(self) -> None:
        pass

    def inspect(
        self,
        describe: Iterable[Relation],
        count: Iterable[Relation],
        external: Mapping[Relation, str] | None = None,
        views: Iterable[Relation] = (),
        view_count_timeout: float = VIEW_COUNT_TIMEOUT,
    ) -> WarehouseFacts:
        """Columns (``information_schema``, in table order) of the ``describe`` relations and
        ``count(*)`` of the ``count`` relations, of those in this database that exist
        (PostgreSQL has no sources read in place: ``external`` is ignored). Each of the
        ``views`` is counted on its own under ``statement_timeout`` (``view_count_timeout``
        seconds, in a savepoint); one that runs longer has no count and is in ``not_counted``."""
        wanted = {
            (r.schema or "", r.identifier): r
            for r in describe
            if (r.database or self.database) == self.database
        }
        facts = WarehouseFacts()
        if not wanted:
            return facts
        with self._cursor() as cursor:
            cursor.execute(
                "select table_schema, table_name, column_name, data_type"
                " from information_schema.columns"
                " where (table_schema, table_name) in %s"
                " order by table_schema, table_name, ordinal_position",
                (tuple(wanted),),
            )
            for schema, table, column, data_type in cursor.fetchall():
                facts.columns.setdefault(wanted[(schema, table)], []).append((column, data_type))
            present = set(facts.columns)
            bounded = set(views)
            to_count = [r for r in dict.fromkeys(count) if r in present]
            count_views(
                facts,
                [r for r in to_count if r in bounded],
                lambda view, timeout: _count_within(cursor, view, timeout),
                view_count_timeout,
            )
            to_count = [r for r in to_count if r not in bounded]
            for start in range(0, len(to_count), COUNT_BATCH):
                batch = to_count[start : start + COUNT_BATCH]
                cursor.execute(
                    " union all ".join(
                        f"select {i}, count(*) from {_qualified(r)}" for i, r in enumerate(batch)
                    )
                )
                for i, rows in cursor.fetchall():
                    facts.row_counts[batch[i]] = rows
        return facts

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @contextmanager
    def isolated(self, folder: Path) -> Iterator[Isolation]:
        """A database of its own on the same server, created for the block and dropped after
        it; its name is mapped back to the configured one (``Isolation.renamed``)."""
        name = f"{self.database}__floe_{uuid.uuid4().hex[:8]}"
        with self._cursor(autocommit=True) as cursor:
            cursor.execute(f"create database {_quoted(name)}")
        try:
            yield Isolation({"dbname": name}, {name: self.database})
        finally:
            self.close()
            with self._cursor(autocommit=True) as cursor:
                cursor.execute(f"drop database if exists {_quoted(name)} with (force)")
            self.close()

    @contextmanager
    def _cursor(self, autocommit: bool = False) -> Iterator[Any]:
        import psycopg2  # dbt-postgres's driver: only PostgreSQL projects need it

        if self._connection is None:
            self._connection = psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self._target.value("user"),
                password=self._target.value("password") or self._target.value("pass"),
                dbname=self.database,
                connect_timeout=10,
                application_name="floe-lineage",
            )
        self._connection.autocommit = autocommit
        with self._connection.cursor() as cursor:
            try:
                yield cursor
            finally:
                if not autocommit:
                    self._connection.rollback()  # reads only: end the transaction


def _count_within(cursor: Any, relation: Relation, timeout: float) -> int | None:
    """``count(*)`` of ``relation`` under a ``statement_timeout`` of ``timeout`` seconds, in a
    savepoint of the open transaction; None when PostgreSQL cancelled it for running longer."""
    import psycopg2.errors

    cursor.execute("savepoint floe_lineage_count")
    try:
        cursor.execute("set local statement_timeout = %s", (max(1, round(timeout * 1000)),))
        cursor.execute(f"select count(*) from {_qualified(relation)}")
        [(rows,)] = cursor.fetchall()
    except psycopg2.errors.QueryCanceled:
        cursor.execute("rollback to savepoint floe_lineage_count")
        return None
    cursor.execute("rollback to savepoint floe_lineage_count")  # the timeout ends with it
    return int(rows)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(relation: Relation) -> str:
    return ".".join(_quoted(p) for p in (relation.schema, relation.identifier) if p)
