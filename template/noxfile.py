"""``nox`` runs the tests and the linter in fresh virtualenvs (uv when available)."""

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session: nox.Session) -> None:
    """pytest on every core (pytest-xdist; each test has its own DuckDB file and events file).
    Arguments after ``--`` go to pytest, e.g. ``nox -s tests -- -n 0 -k config``."""
    session.install("-e", ".[dev]")
    session.run(
        "pytest",
        "--numprocesses=auto",
        "--dist=worksteal",
        *session.posargs,
        env={"DAGSTER_DISABLE_TELEMETRY": "1"},
    )


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
