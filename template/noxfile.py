"""``nox`` runs the tests and the linter in fresh virtualenvs (uv when available)."""

import os
import tempfile
from pathlib import Path

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


@nox.session(name="lineage_diff")
def lineage_diff(session: nox.Session) -> None:
    """What this working tree changes in the lineage, against a git ref (default origin/main):
    both captured in isolation (a database and an events file of their own, the project's data
    untouched), compared column by column, with every column downstream of a changed edge.
    ``nox -s lineage_diff -- main --format markdown``; exit 0 when nothing changed."""
    base_ref, *options = session.posargs or ["origin/main"]
    session.install("-e", ".[dev]")
    env = {"DAGSTER_DISABLE_TELEMETRY": "1"}
    with tempfile.TemporaryDirectory(prefix="lineage-diff-") as scratch:
        base, before, after = (str(Path(scratch) / n) for n in ("base", "base.jsonl", "h.jsonl"))
        git = ("git", "worktree")
        session.run(*git, "add", "--detach", "--quiet", base, base_ref, external=True)
        try:
            session.run("floe-lineage", "capture", base, "--out", before, env=env)
        finally:
            session.run(*git, "remove", "--force", base, external=True)
        session.run("floe-lineage", "capture", ".", "--out", after, env=env)
        session.run("floe-lineage", "diff", before, after, *options, success_codes=[0, 1])
