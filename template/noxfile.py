"""``nox`` runs the tests and the linter in fresh virtualenvs (uv when available)."""

import nox

nox.options.default_venv_backend = "uv|virtualenv"
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
