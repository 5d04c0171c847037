"""Sessions of the floe template repository.

- ``nox -s demo``: scaffold a project with the defaults and run its pipeline with lineage.
- ``nox -s tests``: the template's tests (rendering, validation, update, generated project).
- ``nox -s lint``: ruff over this repository and over a freshly generated project.

Every session works in its own fresh virtualenv (uv when available) and renders projects into
temporary folders, never into this repository.
"""

from __future__ import annotations

import re
import tempfile
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).resolve().parent
COPIER = "copier>=9.4"  # copier.yml: _min_copier_version
ENV = {"DAGSTER_DISABLE_TELEMETRY": "1"}
# ruff settings for this repository's own Python files (those of the generated project).
RUFF_LINE = ["--line-length=100", "--target-version=py311"]
RUFF_RULES = ["--select=E,F,W,I,B,UP,SIM,RUF"]
OWN_FILES = ["noxfile.py", "tests", "bench", "docs/gen_examples.py"]


def render(session: nox.Session, destination: Path, *, quiet: bool = True, **data: str) -> Path:
    """``copier copy --defaults`` of this repository (HEAD plus uncommitted changes)."""
    answers = [arg for key, value in data.items() for arg in ("--data", f"{key}={value}")]
    session.run(
        "copier",
        "copy",
        "--defaults",
        *(["--quiet"] if quiet else []),
        *answers,
        str(ROOT),
        str(destination),
        env=ENV,
    )
    return destination


def project_requirements(project: Path) -> list[str]:
    """Runtime and ``dev`` requirements of a generated project, from its pyproject.toml."""
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    return [*metadata["dependencies"], *metadata["optional-dependencies"]["dev"]]


def answer(project: Path, key: str) -> str:
    """One answer recorded in the generated project's ``.copier-answers.yml``."""
    found = re.search(rf"^{key}: (\S+)$", (project / ".copier-answers.yml").read_text(), re.M)
    if found is None:
        raise ValueError(f"{project}/.copier-answers.yml does not record {key}")
    return found.group(1).strip("'\"")


@nox.session
def tests(session: nox.Session) -> None:
    """The template's tests; the generated project's dependencies are read from a fresh render."""
    session.install(COPIER, "pytest>=8", "pytest-xdist")
    with tempfile.TemporaryDirectory(prefix="floe-deps-") as scratch:
        project = render(session, Path(scratch) / "project", project_name="Floe Deps")
        requirements = project_requirements(project)
    session.install(*requirements)
    session.run("pytest", "tests", *session.posargs, env=ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over noxfile.py and tests/, then over a freshly generated project (its own config)."""
    session.install("ruff", COPIER)
    failed: list[str] = []

    def check(*args: str) -> None:
        try:
            session.run(*args)
        except nox.command.CommandFailed:
            failed.append(" ".join(args))

    check("ruff", "check", "--no-cache", *RUFF_LINE, *RUFF_RULES, *OWN_FILES)
    check("ruff", "format", "--no-cache", "--check", *RUFF_LINE, *OWN_FILES)
    with tempfile.TemporaryDirectory(prefix="floe-lint-") as scratch:
        project = render(session, Path(scratch) / "floe-lint", project_name="Floe Lint")
        with session.chdir(project):
            check("ruff", "check", "--no-cache", ".")
            check("ruff", "format", "--no-cache", "--check", ".")
    if failed:
        session.error("failed: " + "; ".join(failed))


@nox.session
def demo(session: nox.Session) -> None:
    """Scaffold a project with the template's defaults, materialize every asset with the real
    Dagster CLI, and print the captured lineage."""
    session.install(COPIER)
    project = Path(tempfile.mkdtemp(prefix="floe-demo-")) / "floe-demo"
    session.log(f"Generating a project with the defaults in {project}")
    render(session, project, quiet=False, project_name="Floe Demo")
    session.install("-e", f"{project}[dev]")
    package = answer(project, "package_name")
    # Defaults only: the DuckDB file in the project's data/, lineage as its openlineage.yml says.
    env = {
        **ENV,
        "FLOE_DUCKDB_PATH": None,
        "DBT_PROJECT_DIR": None,
        "DBT_PROFILES_DIR": None,
        "OPENLINEAGE_CONFIG": None,
        "OPENLINEAGE_DISABLED": None,
    }
    with session.chdir(project):
        session.run("dg", "launch", "--assets", "*", env=env)
        summary = session.run("python", "-m", f"{package}.lineage", "summary", env=env, silent=True)
    print(summary)
    found = re.search(r"^events: (.+)$", str(summary), re.M)
    events = Path(found.group(1)) if found else None
    if events is None or not events.is_file():
        session.error("the lineage summary named no events file")
    count = sum(1 for line in events.read_text().splitlines() if line.strip())
    if count == 0:
        session.error(f"no OpenLineage events were captured in {events}")
    session.log(f"{count} OpenLineage events in {events}")
    session.log(f"The project: {project}")
    session.log(f"Explore it in the Dagster UI: cd {project} && {session.bin}/dg dev")


@nox.session
def docs(session: nox.Session) -> None:
    """The documentation site: ``mkdocs build --strict`` into site/, with the example events
    that docs/gen_examples.py captures from a real run of a freshly generated project."""
    session.install(COPIER, "mkdocs>=1.6,<2", "mkdocs-material>=9.5,<10")
    with tempfile.TemporaryDirectory(prefix="floe-docs-deps-") as scratch:
        project = render(session, Path(scratch) / "project", project_name="Floe Deps")
        requirements = project_requirements(project)
    session.install(*requirements)
    env = {**ENV, "NO_MKDOCS_2_WARNING": "1"}
    session.run("python", str(ROOT / "docs" / "gen_examples.py"), env=env)
    session.run("mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"), env=env)


@nox.session
def bench(session: nox.Session) -> None:
    """Lineage overhead and scale on this machine: a freshly rendered project materialized with
    lineage on vs ``OPENLINEAGE_DISABLED=true`` (its sample dbt project, synthetic ones of 200
    and 2,000 models), a profile and micro-benchmarks of the lineage core; results in .bench/.
    ``nox -s bench -- --quick`` is a small smoke run; other arguments go to bench/run_bench.py."""
    session.install(COPIER)
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as scratch:
        project = render(session, Path(scratch) / "bench", project_name="bench")
        metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
        # the project's runtime dependencies (its own ranges); the project itself via PYTHONPATH
        session.install(*metadata["dependencies"], "matplotlib>=3.8")
        session.run(
            "python",
            str(ROOT / "bench" / "run_bench.py"),
            "--project",
            str(project),
            "--package",
            answer(project, "package_name"),
            "--out",
            str(ROOT / ".bench"),
            *session.posargs,
            env=ENV,
        )
