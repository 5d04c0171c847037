"""Dagster's PostgreSQL storage, with each of its storages keeping a connection open.

dagster-postgres's storages (runs, event log, schedules) open a new connection for every
statement (SQLAlchemy's ``NullPool``), so that a process holding many ``DagsterInstance``
objects does not hold many connections. A run holds one instance and writes an event per
planned asset, output, materialization and check, and reads the upstream assets' records per
output: on a server that asks for a password (SCRAM, PostgreSQL's default) a new connection
costs milliseconds, and a run of 2,000 dbt models opens tens of thousands of them. The webserver
avoids that with ``optimize_for_webserver`` (one pooled connection per storage, more on demand);
this storage keeps a small pool in every process that loads the instance, the run's included.

Use it in ``dagster.yaml`` (``dagster-postgres`` installed) instead of ``storage: postgres:``,
with the same settings::

    storage:
      custom:
        module: floe_lineage.dagster.postgres_storage
        class: PooledPostgresStorage
        config:
          postgres_db:
            hostname: {env: DAGSTER_PG_HOST}
            ...
          pool_size: 4        # connections kept open per storage (default 4)
          pool_recycle: 3600  # seconds a connection is reused (default 3600)
          max_overflow: 10    # connections beyond those, closed after use (default 10)

The connections are checked out per statement as before; only opening and closing them is
saved. The storages are dagster-postgres's own, with the same tables and migrations.
"""

from __future__ import annotations

from typing import Any

from dagster import Field, IntSource, StringSource
from dagster_postgres import DagsterPostgresStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

from .upstream import STORAGE_ENGINE, pg_config

SCHEME = "postgresql+psycopg2"
"""``postgres_db``'s default ``scheme``: dagster-postgres's driver, not SQLAlchemy's default."""
POOL_SIZE = 4
"""Connections each storage keeps open once opened (a run's threads use two or three)."""
POOL_RECYCLE = 3600
"""Seconds before a pooled connection is replaced (dagster-webserver's default)."""
MAX_OVERFLOW = 10
"""Connections a storage may open beyond the one it keeps, while other threads hold it."""


class PooledPostgresStorage(DagsterPostgresStorage):
    """``DagsterPostgresStorage`` whose run, event log and schedule storages each keep up to
    ``pool_size`` connections open (and open up to ``max_overflow`` more while those are in
    use) instead of opening one per statement."""

    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: Any = None,
        token_provider: Any = None,
        pool_size: int = POOL_SIZE,
        pool_recycle: int = POOL_RECYCLE,
        max_overflow: int = MAX_OVERFLOW,
    ) -> None:
        super().__init__(
            postgres_url,
            should_autocreate_tables,
            inst_data=inst_data,
            token_provider=token_provider,
        )
        self.pool_recycle = pool_recycle
        self.max_overflow = max_overflow
        self.pool_size = pool_size
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            # the engine optimize_for_webserver makes (pool_size 1 there: a run's threads,
            # dbt's log reader and Dagster's step, would open and close overflow connections)
            options: dict[str, Any] = {
                "isolation_level": "AUTOCOMMIT",
                "pool_size": pool_size,
                "max_overflow": max_overflow,
                "pool_recycle": pool_recycle,
            }
            unpooled = getattr(storage, STORAGE_ENGINE)
            existing = unpooled.url.query.get("options")
            if existing:
                options["connect_args"] = {"options": existing}
            pooled = create_pg_engine(storage.postgres_url, token_provider, **options)
            setattr(storage, STORAGE_ENGINE, pooled)
            unpooled.dispose()

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        schema = pg_config()
        # dagster-postgres depends on psycopg2, but SQLAlchemy 2.1 reads postgresql:// as
        # psycopg 3 (not installed, or installed and failing on dagster-postgres's NOTIFY):
        # name the driver unless the user did
        fields = dict(schema["postgres_db"].config_type.fields)
        fields["scheme"] = Field(StringSource, is_required=False, default_value=SCHEME)
        return {
            **schema,
            "postgres_db": Field(fields, is_required=False),
            "pool_size": Field(IntSource, is_required=False, default_value=POOL_SIZE),
            "pool_recycle": Field(IntSource, is_required=False, default_value=POOL_RECYCLE),
            "max_overflow": Field(IntSource, is_required=False, default_value=MAX_OVERFLOW),
        }

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: Any, config_value: dict[str, Any]
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
            pool_size=config_value.get("pool_size", POOL_SIZE),
            pool_recycle=config_value.get("pool_recycle", POOL_RECYCLE),
            max_overflow=config_value.get("max_overflow", MAX_OVERFLOW),
        )
