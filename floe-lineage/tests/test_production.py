"""``floe_lineage.dagster.production``: a Dagster instance on PostgreSQL from ``DAGSTER_PG_*``.

Bad input gives one ``ProductionInstanceError`` naming the variable, never the password: checked
without a server for missing, empty and malformed values and a port nothing listens on, and
against a real server (slow) for a wrong password, user and database. With good values, a real
instance stores a materialization's run and events there."""

from __future__ import annotations

import socket
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy
from postgres_server import PostgresServer

from floe_lineage.dagster.postgres_storage import POOL_SIZE
from floe_lineage.dagster.production import (
    PostgresSettings,
    PostgresStorageFromEnvironment,
    ProductionInstanceError,
    QueuedRunsFromEnvironment,
    max_concurrent_runs,
)

PASSWORD = "pa:ss@w/rd%never-shown"
GOOD = {
    "DAGSTER_PG_HOST": "127.0.0.1",
    "DAGSTER_PG_PORT": "5432",
    "DAGSTER_PG_USER": "floe",
    "DAGSTER_PG_PASSWORD": PASSWORD,
    "DAGSTER_PG_DB": "dagster",
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    "name", ["DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"]
)
def test_a_missing_variable_is_named(name: str) -> None:
    env = {k: v for k, v in GOOD.items() if k != name}
    with pytest.raises(ProductionInstanceError, match=rf"^{name} is not set") as raised:
        PostgresSettings.from_environment(env)
    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize("name", ["DAGSTER_PG_HOST", "DAGSTER_PG_USER", "DAGSTER_PG_DB"])
def test_an_empty_variable_is_named(name: str) -> None:
    with pytest.raises(ProductionInstanceError, match=rf"^{name} is empty"):
        PostgresSettings.from_environment({**GOOD, name: " "})


@pytest.mark.parametrize("port", ["abc", "0", "65536", "-1", "54 32"])
def test_a_port_that_is_no_port_number_is_named(port: str) -> None:
    with pytest.raises(ProductionInstanceError, match=r"^DAGSTER_PG_PORT=.* is not a TCP port"):
        PostgresSettings.from_environment({**GOOD, "DAGSTER_PG_PORT": port})


def test_the_settings_default_the_port_and_hide_the_password() -> None:
    env = {k: v for k, v in GOOD.items() if k != "DAGSTER_PG_PORT"}
    settings = PostgresSettings.from_environment(env)
    assert (settings.host, settings.port, settings.user, settings.database) == (
        "127.0.0.1",
        5432,
        "floe",
        "dagster",
    )
    assert PASSWORD not in repr(settings)
    # psycopg2 named, the password quoted: the URL dagster-postgres connects with
    assert settings.url() == (
        "postgresql+psycopg2://floe:pa%3Ass%40w/rd%25never-shown@127.0.0.1:5432/dagster"
    )
    # an empty password is a server that asks none, not a missing one
    assert PostgresSettings.from_environment({**GOOD, "DAGSTER_PG_PASSWORD": ""}).password == ""


def test_a_port_nothing_listens_on_is_named() -> None:
    port = closed_port()
    settings = PostgresSettings.from_environment({**GOOD, "DAGSTER_PG_PORT": str(port)})
    with pytest.raises(ProductionInstanceError) as raised:
        settings.check(timeout=5)
    assert str(raised.value).startswith(f"DAGSTER_PG_PORT={port}: no PostgreSQL server answers")
    assert PASSWORD not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_a_host_that_does_not_resolve_is_named() -> None:
    settings = PostgresSettings.from_environment(
        {**GOOD, "DAGSTER_PG_HOST": "no-such-host.invalid"}
    )
    with pytest.raises(ProductionInstanceError) as raised:
        settings.check(timeout=5)
    message = str(raised.value)
    assert message.startswith("DAGSTER_PG_HOST=no-such-host.invalid: the host name cannot be")
    assert PASSWORD not in message


def test_the_storage_checks_before_dagster_connects(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {**GOOD, "DAGSTER_PG_PORT": str(closed_port())}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ProductionInstanceError, match=r"^DAGSTER_PG_PORT="):
        PostgresStorageFromEnvironment.from_config_value(None, {})


def test_the_run_limit_comes_from_the_environment_when_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DAGSTER_MAX_CONCURRENT_RUNS", raising=False)
    queue = QueuedRunsFromEnvironment.from_config_value(None, {"max_concurrent_runs": 4})
    assert queue.get_run_queue_config().max_concurrent_runs == 4
    monkeypatch.setenv("DAGSTER_MAX_CONCURRENT_RUNS", "2")
    queue = QueuedRunsFromEnvironment.from_config_value(None, {"max_concurrent_runs": 4})
    assert queue.get_run_queue_config().max_concurrent_runs == 2
    assert max_concurrent_runs({"DAGSTER_MAX_CONCURRENT_RUNS": "-1"}) == -1
    assert max_concurrent_runs({"DAGSTER_MAX_CONCURRENT_RUNS": ""}) is None
    for wrong in ("two", "-2", "1.5"):
        with pytest.raises(ProductionInstanceError, match=r"^DAGSTER_MAX_CONCURRENT_RUNS="):
            max_concurrent_runs({"DAGSTER_MAX_CONCURRENT_RUNS": wrong})


# -- against a real server ----------------------------------------------------------------


def server_env(server: PostgresServer, database: str) -> dict[str, str]:
    return {
        "DAGSTER_PG_HOST": server.host,
        "DAGSTER_PG_PORT": str(server.port),
        "DAGSTER_PG_USER": server.user,
        "DAGSTER_PG_PASSWORD": server.password,
        "DAGSTER_PG_DB": database,
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"DAGSTER_PG_PASSWORD": "wrong-" + PASSWORD},
            "DAGSTER_PG_PASSWORD: the PostgreSQL server at {where} refused the password for"
            " DAGSTER_PG_USER=floe (is the password or the user wrong?)",
        ),
        (
            {"DAGSTER_PG_USER": "nobody"},
            "DAGSTER_PG_PASSWORD: the PostgreSQL server at {where} refused the password for"
            " DAGSTER_PG_USER=nobody (is the password or the user wrong?)",
        ),
        (
            {"DAGSTER_PG_DB": "no_such_db"},
            "DAGSTER_PG_DB=no_such_db: the PostgreSQL server at {where} has no such database",
        ),
    ],
    ids=["password", "user", "database"],
)
def test_a_value_the_server_refuses_is_named(
    postgres: PostgresServer, change: dict[str, str], message: str
) -> None:
    env = server_env(postgres, "postgres") | change
    settings = PostgresSettings.from_environment(env)
    with pytest.raises(ProductionInstanceError) as raised:
        settings.check()
    assert str(raised.value) == message.format(where=f"{postgres.host}:{postgres.port}")
    assert postgres.password not in str(raised.value)
    assert env["DAGSTER_PG_PASSWORD"] not in str(raised.value)


@pytest.mark.slow
def test_a_real_instance_stores_runs_and_events_on_the_server(
    postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    postgres.create_database("dagster_instance")
    for name, value in server_env(postgres, "dagster_instance").items():
        monkeypatch.setenv(name, value)
    (tmp_path / "dagster.yaml").write_text(
        "storage:\n  custom:\n    module: floe_lineage.dagster.production\n"
        "    class: PostgresStorageFromEnvironment\n"
    )

    @dg.asset
    def one() -> int:
        return 1

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        result = dg.materialize([one], instance=instance)
        assert result.success
        (run,) = instance.get_runs()
        assert run.run_id == result.run_id
        assert instance.get_latest_materialization_event(dg.AssetKey("one")) is not None
        # each storage keeps its connections (PooledPostgresStorage), as configured by default
        for kept in (instance.event_log_storage, instance.run_storage):
            pool = kept._engine.pool  # type: ignore[attr-defined]
            assert isinstance(pool, sqlalchemy.pool.QueuePool)
            assert pool.size() == POOL_SIZE
    connection = postgres.connect("dagster_instance")
    with connection.cursor() as cursor:
        cursor.execute("select count(*) from runs")
        assert cursor.fetchone() == (1,)
    connection.close()
