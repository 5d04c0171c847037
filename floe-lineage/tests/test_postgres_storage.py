"""``PooledPostgresStorage``: Dagster's PostgreSQL storage keeping its connections open, loaded
from an instance's ``dagster.yaml`` as a user configures it, on a real server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy
from postgres_server import PostgresServer

pytest.importorskip("dagster_postgres")

pytestmark = pytest.mark.slow  # a server

ASSETS = 20

POOLED = """\
storage:
  custom:
    module: floe_lineage.dagster.postgres_storage
    class: PooledPostgresStorage
    config:
      postgres_db: {db}
"""
PLAIN = """\
storage:
  postgres:
    postgres_db: {db}
"""


def chain() -> list[dg.AssetsDefinition]:
    """ASSETS assets, each depending on the one before (a data-version lookup per output)."""
    made = []
    for i in range(ASSETS):

        @dg.asset(name=f"a{i}", deps=[f"a{i - 1}"] if i else [])
        def node() -> None:
            return None

        made.append(node)
    return made


@contextmanager
def counting_connections() -> Iterator[list[int]]:
    """Counts the database connections any SQLAlchemy engine opens meanwhile."""
    opened = [0]

    def count(*_: object) -> None:
        opened[0] += 1

    sqlalchemy.event.listen(sqlalchemy.engine.Engine, "connect", count)
    try:
        yield opened
    finally:
        sqlalchemy.event.remove(sqlalchemy.engine.Engine, "connect", count)


def run(
    postgres: PostgresServer, home: Path, template: str, database: str
) -> tuple[int, list[str]]:
    """Materialize the chain on an instance of ``home`` configured by ``template``: the
    connections the run opened, the event types it stored."""
    postgres.create_database(database)
    db = {
        "hostname": postgres.host,
        "port": postgres.port,
        "username": postgres.user,
        "password": postgres.password,
        "db_name": database,
    }
    if template == PLAIN:  # SQLAlchemy 2.1 reads postgresql:// as psycopg 3, dagster-postgres
        db["scheme"] = "postgresql+psycopg2"  # needs psycopg2; PooledPostgresStorage says so
    home.mkdir()
    (home / "dagster.yaml").write_text(template.format(db=db), encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        with counting_connections() as opened:
            result = dg.materialize(chain(), instance=instance)
        assert result.success
        records = instance.get_records_for_run(result.run_id, limit=10_000).records
        stored = sorted(
            r.event_log_entry.dagster_event_type or "log" for r in records if r.event_log_entry
        )
    return opened[0], stored


def test_a_run_on_pooled_storage_opens_a_few_connections_not_one_per_statement(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    from floe_lineage.dagster.postgres_storage import POOL_SIZE

    pooled, pooled_events = run(postgres, tmp_path / "pooled", POOLED, "dagster_pooled")
    plain, plain_events = run(postgres, tmp_path / "plain", PLAIN, "dagster_plain")
    # the same run, the same events (a materialization and an output per asset, planned ones)
    assert pooled_events == plain_events
    assert pooled_events.count("ASSET_MATERIALIZATION") == ASSETS
    # dagster-postgres's own storage opens a connection per statement: several per event
    assert plain > 2 * len(plain_events)
    # pooled: at most a pool's worth per storage (runs, events, schedules), whatever the run
    assert pooled <= 3 * POOL_SIZE


def test_the_pool_settings_are_read_from_dagster_yaml(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    from floe_lineage.dagster.postgres_storage import PooledPostgresStorage

    postgres.create_database("dagster_settings")
    home = tmp_path / "home"
    home.mkdir()
    db = {
        "hostname": postgres.host,
        "port": postgres.port,
        "username": postgres.user,
        "password": postgres.password,
        "db_name": "dagster_settings",
    }
    settings = "\n      pool_size: 2\n      max_overflow: 3\n      pool_recycle: 60\n"
    (home / "dagster.yaml").write_text(POOLED.format(db=db) + settings[1:], encoding="utf-8")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        # what a run worker rebuilds the instance from
        storage = instance.get_ref().storage
        assert isinstance(storage, PooledPostgresStorage)
        assert (storage.pool_size, storage.max_overflow, storage.pool_recycle) == (2, 3, 60)
        for kept in (instance.event_log_storage, instance.run_storage):
            pool = kept._engine.pool  # type: ignore[attr-defined]
            assert isinstance(pool, sqlalchemy.pool.QueuePool)
            assert (pool.size(), pool._max_overflow, pool._recycle) == (2, 3, 60)
        for made in (storage.event_log_storage, storage.run_storage, storage.schedule_storage):
            made.dispose()
