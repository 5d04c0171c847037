"""A production Dagster instance on PostgreSQL, configured from the environment only.

Referenced from an instance's ``dagster.yaml`` (``$DAGSTER_HOME/dagster.yaml``)::

    storage:
      custom:
        module: floe_lineage.dagster.production
        class: PostgresStorageFromEnvironment
    run_coordinator:
      module: floe_lineage.dagster.production
      class: QueuedRunsFromEnvironment
      config:
        max_concurrent_runs: 4

``PostgresStorageFromEnvironment`` is dagster-postgres's storage (runs, event log, schedules in
one PostgreSQL database) whose connection comes from ``DAGSTER_PG_HOST``, ``DAGSTER_PG_PORT``
(default 5432), ``DAGSTER_PG_USER``, ``DAGSTER_PG_PASSWORD`` and ``DAGSTER_PG_DB``: no value in
a file. Before Dagster connects, it checks them: a variable missing, empty or malformed, a host
that does not resolve, a port nothing listens on, a password refused or a database that does not
exist each raise one ``ProductionInstanceError`` naming the variable to fix, raised without the
driver's exception chained to it. No message of this module contains the password, and the
password never appears in a URL printed by Dagster (dagster-postgres itself would retry for
seconds and end in ``too many retries for DB connection``, naming no variable). Each of its
storages keeps a few connections open (``postgres_storage.PooledPostgresStorage``; dagster-postgres
opens one per statement: 22,022 in a 2,000-model run, against 53), tuned with ``pool_size``,
``max_overflow`` and ``pool_recycle`` under ``config``.

``QueuedRunsFromEnvironment`` is Dagster's ``QueuedRunCoordinator`` (the daemon starts queued
runs, at most ``max_concurrent_runs`` at once) whose limit ``DAGSTER_MAX_CONCURRENT_RUNS``
overrides when set (an integer, -1 for no limit).

This module needs the ``dagster-postgres`` package (floe-lineage's ``production`` extra).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster_postgres.utils import get_conn_string

from .postgres_storage import MAX_OVERFLOW, POOL_RECYCLE, POOL_SIZE, PooledPostgresStorage

HOST = "DAGSTER_PG_HOST"
PORT = "DAGSTER_PG_PORT"
USER = "DAGSTER_PG_USER"
PASSWORD = "DAGSTER_PG_PASSWORD"
DATABASE = "DAGSTER_PG_DB"
MAX_CONCURRENT_RUNS = "DAGSTER_MAX_CONCURRENT_RUNS"
DEFAULT_PORT = 5432
CONNECT_TIMEOUT = 10
"""Seconds to wait for the server while checking the settings (per attempt, libpq's own)."""


class ProductionInstanceError(ValueError):
    """A ``DAGSTER_PG_*`` (or ``DAGSTER_MAX_CONCURRENT_RUNS``) value that cannot work; the
    message names the variable and never contains the password."""


@dataclass(frozen=True)
class PostgresSettings:
    """Where the instance's PostgreSQL database is, as the ``DAGSTER_PG_*`` variables say."""

    host: str
    port: int
    user: str
    database: str
    password: str = field(repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> PostgresSettings:
        """The settings of ``environ`` (default ``os.environ``); ``ProductionInstanceError``
        for the first variable that is missing, empty or (the port) not a TCP port number.
        ``DAGSTER_PG_PASSWORD`` must be set; it may be empty (a server that asks none)."""
        env = os.environ if environ is None else environ
        for name in (HOST, USER, DATABASE):
            if not env.get(name, "").strip():
                raise ProductionInstanceError(
                    f"{name} is {'empty' if name in env else 'not set'}: the production Dagster"
                    f" instance needs it ({_variables()})"
                )
        if PASSWORD not in env:
            raise ProductionInstanceError(
                f"{PASSWORD} is not set: the production Dagster instance needs it (set it empty"
                f" for a server that asks no password; {_variables()})"
            )
        return cls(
            host=env[HOST].strip(),
            port=_port(env.get(PORT, "").strip()),
            user=env[USER].strip(),
            database=env[DATABASE].strip(),
            password=env[PASSWORD],
        )

    def url(self) -> str:
        """The SQLAlchemy URL dagster-postgres connects with (it contains the password: never
        print it). Its driver is named: psycopg2, dagster-postgres's own; under SQLAlchemy 2.1
        a plain ``postgresql://`` URL picks psycopg 3 where installed, on which
        dagster-postgres's ``NOTIFY run_events, %(id)s`` is a syntax error and no run event
        can be stored."""
        return get_conn_string(
            username=self.user,
            password=self.password,
            hostname=self.host,
            db_name=self.database,
            port=str(self.port),
            scheme="postgresql+psycopg2",
        )

    def check(self, timeout: float = CONNECT_TIMEOUT) -> None:
        """Connect once; ``ProductionInstanceError`` naming the variable to fix when the host
        does not resolve, nothing listens on the port, the login or the database is refused."""
        where = f"{HOST}={self.host} {PORT}={self.port}"
        try:
            probe = socket.create_connection((self.host, self.port), timeout=timeout)
        except socket.gaierror as exc:
            raise ProductionInstanceError(
                f"{HOST}={self.host}: the host name cannot be resolved ({exc.strerror})"
            ) from None
        except OSError as exc:
            raise ProductionInstanceError(
                f"{PORT}={self.port}: no PostgreSQL server answers at {where}"
                f" ({exc.strerror or type(exc).__name__})"
            ) from None
        probe.close()
        refusal = self._login_refusal(timeout)
        if refusal is not None:
            raise ProductionInstanceError(refusal)

    def _login_refusal(self, timeout: float) -> str | None:
        """Why the server refused this login, naming the variable to fix; None if it let us
        in."""
        import psycopg2  # dagster-postgres's driver

        try:
            psycopg2.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                dbname=self.database,
                connect_timeout=max(1, int(timeout)),
            ).close()
        except psycopg2.Error as exc:
            said = self._redact(str(exc).strip().splitlines()[0] if str(exc).strip() else "")
            server = f"the PostgreSQL server at {self.host}:{self.port}"
            if "password authentication failed" in said or "no password supplied" in said:
                return (
                    f"{PASSWORD}: {server} refused the password for {USER}={self.user}"
                    " (is the password or the user wrong?)"
                )
            if f'database "{self.database}" does not exist' in said:
                return f"{DATABASE}={self.database}: {server} has no such database"
            if f'role "{self.user}" does not exist' in said:
                return f"{USER}={self.user}: {server} has no such role"
            return f"{server} refused the connection ({_variables()}): {said}"
        return None

    def _redact(self, text: str) -> str:
        return text.replace(self.password, "***") if self.password else text


class PostgresStorageFromEnvironment(PooledPostgresStorage):
    """dagster-postgres's storage (runs, event log, schedules) on the database the
    ``DAGSTER_PG_*`` variables name, checked first (``PostgresSettings.check``), each storage
    keeping a few connections open (``PooledPostgresStorage``: ``pool_size``,
    ``max_overflow``, ``pool_recycle``)."""

    @classmethod
    def config_type(cls) -> dict[str, dg.Field]:
        return {
            "should_autocreate_tables": dg.Field(bool, is_required=False, default_value=True),
            "pool_size": dg.Field(dg.IntSource, is_required=False, default_value=POOL_SIZE),
            "pool_recycle": dg.Field(dg.IntSource, is_required=False, default_value=POOL_RECYCLE),
            "max_overflow": dg.Field(dg.IntSource, is_required=False, default_value=MAX_OVERFLOW),
        }

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: Any, config_value: Mapping[str, Any]
    ) -> PostgresStorageFromEnvironment:
        settings = PostgresSettings.from_environment()
        settings.check()
        return cls(
            postgres_url=settings.url(),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            inst_data=inst_data,
            pool_size=config_value.get("pool_size", POOL_SIZE),
            pool_recycle=config_value.get("pool_recycle", POOL_RECYCLE),
            max_overflow=config_value.get("max_overflow", MAX_OVERFLOW),
        )


class QueuedRunsFromEnvironment(dg.QueuedRunCoordinator):
    """Dagster's run queue, its ``max_concurrent_runs`` overridden by
    ``DAGSTER_MAX_CONCURRENT_RUNS`` when that is set."""

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: Any, config_value: Mapping[str, Any]
    ) -> QueuedRunsFromEnvironment:
        config = dict(config_value)
        limit = max_concurrent_runs(os.environ)
        if limit is not None:
            config["max_concurrent_runs"] = limit
        return super().from_config_value(inst_data, config)


def max_concurrent_runs(environ: Mapping[str, str]) -> int | None:
    """``DAGSTER_MAX_CONCURRENT_RUNS`` as an integer (-1: no limit), None when unset or empty;
    ``ProductionInstanceError`` for anything else."""
    value = environ.get(MAX_CONCURRENT_RUNS, "").strip()
    if not value:
        return None
    try:
        limit = int(value)
    except ValueError:
        limit = None
    if limit is None or limit < -1:
        raise ProductionInstanceError(
            f"{MAX_CONCURRENT_RUNS}={value!r} is not a number of runs (an integer, -1 for no limit)"
        )
    return limit


def _port(value: str) -> int:
    if not value:
        return DEFAULT_PORT
    if value.isdigit() and 0 < int(value) < 65536:
        return int(value)
    raise ProductionInstanceError(f"{PORT}={value!r} is not a TCP port number (1-65535)")


def _variables() -> str:
    return f"{HOST}, {PORT} (default {DEFAULT_PORT}), {USER}, {PASSWORD}, {DATABASE}"
