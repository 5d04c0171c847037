"""``nox`` runs the tests and the linter in fresh virtualenvs (uv when available)."""

import os

import nox

nox.options.default_venv_backend = "uv|virtualenv"
# uv installs without compiling bytecode: where PYTHONDONTWRITEBYTECODE is set (CI images), every
# dbt and Dagster process would compile them from source again, seconds each.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    """pytest: the lineage tests run the dbt assets once through Dagster, in isolation.
    Arguments after ``--`` go to pytest, e.g. ``nox -s tests -- --snapshot-update``."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs, env={"DAGSTER_DISABLE_TELEMETRY": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
