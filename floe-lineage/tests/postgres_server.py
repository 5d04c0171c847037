"""A real PostgreSQL server for tests, started from the machine's own binaries (Debian's
``postgresql`` package) on a free loopback port, with a password (scram), torn down after.

As anyone but root it is pytest-postgresql's ``postgresql_proc``. As root (CI containers), where
``initdb`` and ``postgres`` refuse to run, the same binaries run as the ``postgres`` system user
(``runuser``) in a folder it owns.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

USER = "floe"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str

    def environment(self, database: str, schema: str = "main") -> dict[str, str]:
        """The variables the projects' ``pg`` profile targets read."""
        return {
            "FLOE_PG_HOST": self.host,
            "FLOE_PG_PORT": str(self.port),
            "FLOE_PG_USER": self.user,
            "FLOE_PG_PASSWORD": self.password,
            "FLOE_PG_DATABASE": database,
            "FLOE_PG_SCHEMA": schema,
        }

    def connect(self, database: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=database
        )

    def create_database(self, name: str) -> None:
        connection = self.connect()
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'drop database if exists "{name}" with (force)')
            cursor.execute(f'create database "{name}"')
        connection.close()


def binaries() -> Path:
    """The folder of ``pg_ctl``: ``pg_config --bindir``, else the newest under
    /usr/lib/postgresql."""
    try:
        folder = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True
        ).stdout.strip()
        if (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    except (OSError, subprocess.CalledProcessError):
        pass
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries: apt-get install postgresql")
    return found[-1].parent


@contextmanager
def server_as_postgres_user() -> Iterator[PostgresServer]:
    """Root's way: initdb and pg_ctl run as the ``postgres`` system user."""
    bin_dir = binaries()
    home = Path(tempfile.mkdtemp(prefix="floe-pg-"))
    os.chmod(home, 0o755)
    shutil.chown(home, "postgres", "postgres")
    password = secrets.token_hex(16)
    (home / "pwfile").write_text(password + "\n")
    shutil.chown(home / "pwfile", "postgres", "postgres")
    as_postgres = ["runuser", "-u", "postgres", "--"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run(
        [*as_postgres, str(bin_dir / "initdb"), "-D", str(home / "data"), "-U", USER,
         "--auth=scram-sha-256", f"--pwfile={home / 'pwfile'}", "-E", "UTF8"],
        check=True, capture_output=True,
    )  # fmt: skip
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(home / "data"), "-o", options,
         "-l", str(home / "log"), "-w", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        yield PostgresServer("127.0.0.1", port, USER, password)
    finally:
        subprocess.run(
            [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(home / "data"), "-m", "immediate",
             "stop"],
            check=False, capture_output=True,
        )  # fmt: skip
        shutil.rmtree(home, ignore_errors=True)
