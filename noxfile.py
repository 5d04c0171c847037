"""Sessions of the floe template repository.

- ``nox -s demo``: scaffold a project with the defaults and run its pipeline with lineage.
- ``nox -s tests``: floe-lineage's own suite, then the template's (rendering, validation,
  update, generated projects installed and run), but the ``slow`` tier.
- ``nox -s slow``: the ``slow`` tier (fault injection, PostgreSQL, other Pythons); CI runs it.
- ``nox -s lint``: ruff over this repository, floe-lineage and a freshly generated project.
- ``nox -s floe_core``: generated floe.yaml files validated by the published floe-core.
- ``nox -s floe``: a generated project, unchanged, under floe's own runtime beside ours (its own
  ``nox -s floe``).
- ``nox -s lowest``: floe-lineage's suite on the lowest versions its dependencies allow.

Every session works in its own fresh virtualenv (uv when available) and renders projects into
temporary folders, never into this repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import tomllib
from pathlib import Path

import nox
from packaging.requirements import Requirement

nox.options.default_venv_backend = "uv|virtualenv"
# uv installs without compiling bytecode; where PYTHONDONTWRITEBYTECODE is set (CI images), every
# process (dbt, dg, pytest) would then compile Dagster and dbt from source again, seconds each.
# Also inherited by the virtualenvs the tests install generated projects into.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")
nox.options.sessions = ["lint", "tests"]

ROOT = Path(__file__).resolve().parent
LIBRARY = ROOT / "floe-lineage"
COPIER = "copier>=9.4"  # copier.yml: _min_copier_version
ENV = {"DAGSTER_DISABLE_TELEMETRY": "1"}
# ruff settings for this repository's own Python files (those of the generated project).
RUFF_LINE = ["--line-length=100", "--target-version=py311"]
RUFF_RULES = ["--select=E,F,W,I,B,UP,SIM,RUF"]
OWN_FILES = ["noxfile.py", "tests", "bench", "docs/gen_examples.py"]


def render(session: nox.Session, destination: Path, *, quiet: bool = True, **data: str) -> Path:
    """``copier copy --defaults`` of this repository's HEAD plus uncommitted changes (not its
    latest release tag)."""
    answers = [arg for key, value in data.items() for arg in ("--data", f"{key}={value}")]
    session.run(
        "copier",
        "copy",
        "--defaults",
        "--vcs-ref=HEAD",
        *(["--quiet"] if quiet else []),
        *answers,
        str(ROOT),
        str(destination),
        env=ENV,
    )
    return destination


def project_requirements(
    project: Path, extras: tuple[str, ...] = ("dev", "production")
) -> list[str]:
    """Runtime requirements of a generated project and those of its ``extras``, from its
    pyproject.toml, but floe-lineage: the session installs this checkout's instead of the
    pinned commit."""
    metadata = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    optional = [r for extra in extras for r in metadata["optional-dependencies"][extra]]
    return [
        requirement
        for requirement in [*metadata["dependencies"], *optional]
        if Requirement(requirement).name != "floe-lineage"
    ]


def committed() -> bool:
    """Whether this checkout has no uncommitted change: then a project rendered from it pins
    floe-lineage at a commit that exists here, and installs as a user's would."""
    status = subprocess.run(
        ["git", "status", "--porcelain"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return not status.stdout.strip()


def install_test_dependencies(
    session: nox.Session, extras: tuple[str, ...] = ("dev", "production")
) -> None:
    """copier, pytest, this checkout's floe-lineage with its ``test`` extra, and every other
    runtime dependency of a generated project and of its ``extras`` (read from a fresh
    render)."""
    session.install(COPIER, "pytest>=8", "pytest-xdist", "uv", "-e", f"{LIBRARY}[test]")
    with tempfile.TemporaryDirectory(prefix="floe-deps-") as scratch:
        project = render(session, Path(scratch) / "project", project_name="Floe Deps")
        requirements = project_requirements(project, extras)
    session.install(*requirements)


def run_suites(session: nox.Session, marker: str) -> None:
    """floe-lineage's suite (on every core), then the template's, each with the tests
    ``marker`` selects; both run even if the first fails. Arguments after ``--`` go to both."""
    failed = []
    for suite, options in (
        (LIBRARY / "tests", ["--numprocesses=auto", "--dist=worksteal"]),
        (ROOT / "tests", []),
    ):
        try:
            session.run("pytest", str(suite), "-m", marker, *options, *session.posargs, env=ENV)
        except nox.command.CommandFailed:
            failed.append(str(suite.relative_to(ROOT)))
    if failed:
        session.error("failed: " + ", ".join(failed))


@nox.session
def tests(session: nox.Session) -> None:
    """Every test but the ``slow`` tier: floe-lineage's suite, then the template's."""
    install_test_dependencies(session)
    run_suites(session, "not slow")


@nox.session
def slow(session: nox.Session) -> None:
    """The ``slow`` tier ``tests`` leaves out: fault injection (killed runs and processes,
    locked DuckDB files, dead backends), dbt on a real PostgreSQL server (its server binaries
    must be installed: Debian's ``postgresql``), the generated project installed with the
    pip ``python3 -m venv`` gives on every Python from 3.10 to 3.13 found here, and split into
    several steps run by the multiprocess executor and by Celery workers (the project's
    ``celery`` extra; Debian's ``redis-server`` as broker). CI runs it."""
    install_test_dependencies(session, extras=("dev", "production", "celery"))
    run_suites(session, "slow")


@nox.session(venv_backend="uv")
def lowest(session: nox.Session) -> None:
    """floe-lineage's own suite (but the ``slow`` tier) on the lowest version of each of its
    direct dependencies that its pyproject.toml allows (uv's ``--resolution lowest-direct``,
    extras included): the lower bounds it declares are ones it works with. CI runs it."""
    session.install("--resolution", "lowest-direct", "-e", f"{LIBRARY}[test]")
    session.run(
        "pytest",
        str(LIBRARY / "tests"),
        "-m",
        "not slow",
        "--numprocesses=auto",
        "--dist=worksteal",
        *session.posargs,
        env=ENV,
    )


@nox.session
def floe_core(session: nox.Session) -> None:
    """floe.yaml validated by floe's own ``FloeSpec`` (the published floe-core package): the
    generated project's, and floe-lineage's for another dbt project. Heavy to install, so it is
    not part of ``tests``; CI runs it."""
    session.install(COPIER, "pytest>=8", "floe-core", f"{LIBRARY}[duckdb]")
    session.run("pytest", str(ROOT / "tests" / "test_floe_core.py"), *session.posargs, env=ENV)


@nox.session
def floe(session: nox.Session) -> None:
    """A project rendered with the defaults runs its own ``nox -s floe``, as its user would:
    floe's published packages (floe-core, floe-orchestrator-dagster, floe-compute-duckdb,
    floe-dbt-core, floe-lineage-marquez) compile its floe.yaml and manifest.yaml and run it
    under floe's own Dagster runtime, and it runs under ours; both must succeed and build the
    same dbt nodes. Heavy (two virtualenvs), so it is not part of ``tests``; CI runs it.
    floe-lineage comes from the pinned commit when the checkout has no uncommitted change,
    else from this working tree (``UV_OVERRIDE``)."""
    session.install(COPIER, "nox[uv]")
    with tempfile.TemporaryDirectory(prefix="floe-runtime-") as scratch:
        project = render(session, Path(scratch) / "floe-demo", project_name="Floe Demo")
        env = dict(ENV)
        if not committed():
            session.warn("uncommitted changes: floe-lineage comes from this working tree")
            override = Path(scratch) / "overrides.txt"
            override.write_text(f"floe-lineage @ {LIBRARY.as_uri()}\n")
            env["UV_OVERRIDE"] = str(override)
        with session.chdir(project):
            session.run("nox", "-s", "floe", *session.posargs, env=env)


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
    with session.chdir(LIBRARY):  # its own configuration (pyproject.toml)
        check("ruff", "check", "--no-cache", ".")
        check("ruff", "format", "--no-cache", "--check", ".")
    with tempfile.TemporaryDirectory(prefix="floe-lint-") as scratch:
        project = render(session, Path(scratch) / "floe-lint", project_name="Floe Lint")
        with session.chdir(project):
            check("ruff", "check", "--no-cache", ".")
            check("ruff", "format", "--no-cache", "--check", ".")
    if failed:
        session.error("failed: " + "; ".join(failed))


@nox.session
def demo(session: nox.Session) -> None:
    """Scaffold a project with the template's defaults, install it as its README says,
    materialize every asset with the real Dagster CLI, and print the captured lineage."""
    session.install(COPIER)
    project = Path(tempfile.mkdtemp(prefix="floe-demo-")) / "floe-demo"
    session.log(f"Generating a project with the defaults in {project}")
    render(session, project, quiet=False, project_name="Floe Demo")
    if committed():  # floe-lineage from the pinned commit of this checkout, as for a user
        session.install("-e", f"{project}[dev]")
    else:
        session.warn("uncommitted changes: floe-lineage comes from this working tree")
        session.install(f"{LIBRARY}", *project_requirements(project))
        session.install("--no-deps", "-e", str(project))
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
        summary = session.run("floe-lineage", "summary", env=env, silent=True)
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
    session.install(str(LIBRARY), *requirements)
    env = {**ENV, "NO_MKDOCS_2_WARNING": "1"}
    session.run("python", str(ROOT / "docs" / "gen_examples.py"), env=env)
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--config-file",
        str(ROOT / "mkdocs.yml"),
        env=env,
    )


DAGSTER_POSTGRES = "dagster-postgres>=0.29,<0.30"  # Dagster's PostgreSQL storage, for dagster 1.13


def split_storage_args(posargs: list[str]) -> tuple[list[str], list[str]]:
    """The session's arguments for run_bench.py, and those for storage_bench.py: ``--storage-X
    V`` or ``--storage-X=V`` become its ``--X V``; ``--quick`` goes to both."""
    ours, storage, args = [], [], iter(posargs)
    for arg in args:
        if arg.startswith("--storage-"):
            name, _, value = arg.removeprefix("--storage-").partition("=")
            storage += [f"--{name}", value or next(args)]
        else:
            ours.append(arg)
            if arg == "--quick":
                storage.append(arg)
    return ours, storage


def install_bench(session: nox.Session, project: Path, *extra: str) -> None:
    """floe-lineage from this working tree (the code measured), the project's other
    dependencies (dagster-dg-cli for `dg launch`) with their own ranges, dagster-postgres; the
    project's own package is put on PYTHONPATH by run_bench.py, as an editable install would."""
    session.install(
        str(LIBRARY),
        *project_requirements(project),
        DAGSTER_POSTGRES,
        "matplotlib>=3.8",
        *extra,
    )


def run_storage_bench(session: nox.Session, project: Path, args: list[str]) -> None:
    """Dagster on PostgreSQL storage vs SQLite vs plain dbt build (bench/storage_bench.py)."""
    session.run(
        "python",
        str(ROOT / "bench" / "storage_bench.py"),
        "--project",
        str(project),
        "--out",
        str(ROOT / ".bench" / "storage.json"),
        *args,
        env=ENV,
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Speed as users feel it, on this machine: ``dg launch --assets '*'`` of a freshly rendered
    project with lineage on vs ``OPENLINEAGE_DISABLED=true`` (alternated pairs) and plain
    ``dbt build`` of the same dbt project (the Dagster-vs-dbt ratio), on its sample dbt project
    and synthetic ones of 200 and 2,000 models; the lineage work inside those runs, a profile
    and micro-benchmarks of the lineage core, and the delay of terminal events behind dbt's
    node-finished log line; ``floe-lineage diff``, ``impact`` and ``publish --static`` at 2,000
    nodes from captures; Dagster on PostgreSQL storage vs SQLite vs plain dbt
    (bench/storage_bench.py, as ``nox -s bench_storage``); lineage on vs off in process
    (bench/lineage_cost.py) on DuckDB and, at 200 models, on a PostgreSQL server it starts;
    results in .bench/. ``nox -s bench -- --quick`` is a small smoke run; ``-- --py-spy`` also
    samples one run per project and mode with py-spy; ``--storage-rounds 200=3,2000=1``
    (``--storage-sizes``, ``--storage-arms``) go to storage_bench.py, ``--no-storage`` skips
    it, ``--no-lineage-postgres`` skips lineage_cost.py on PostgreSQL; other arguments go to
    bench/run_bench.py."""
    session.install(COPIER)
    ours, storage = split_storage_args(session.posargs)
    skip_storage = "--no-storage" in ours
    skip_lineage_postgres = "--no-lineage-postgres" in ours
    ours = [arg for arg in ours if arg not in ("--no-storage", "--no-lineage-postgres")]
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as scratch:
        project = render(session, Path(scratch) / "bench", project_name="bench")
        install_bench(session, project, *(["py-spy"] if "--py-spy" in ours else []))
        session.run(
            "python",
            str(ROOT / "bench" / "run_bench.py"),
            "--project",
            str(project),
            "--out",
            str(ROOT / ".bench"),
            *ours,
            env=ENV,
        )
        # floe-lineage diff, impact and publish --static at 2,000 nodes, from captures (and
        # from a compiled 2,000-model dbt project: lineage before the first run)
        session.run(
            "python",
            str(ROOT / "bench" / "lineage_diff_bench.py"),
            "--compile",
            "--out",
            str(ROOT / ".bench" / "lineage-diff.json"),
            env=ENV,
        )
        # how long after dbt's NodeFinished each terminal event is written
        session.run(
            "python",
            str(ROOT / "bench" / "terminal_delay.py"),
            "--project",
            str(project / "dbt"),
            env=ENV,
        )
        # lineage on vs off with the defaults on DuckDB, in process, and how long after dbt's
        # node end each materialization is recorded with its facts (floe-lineage's test fixtures)
        session.install("pytest>=8", "pytest-postgresql>=6", "jinja2")
        session.run(
            "python",
            str(ROOT / "bench" / "lineage_cost.py"),
            "--out",
            str(ROOT / ".bench" / "lineage-cost.json"),
            env=ENV,
        )
        # the same on PostgreSQL (dbt-postgres; a server from the machine's binaries, a fresh
        # database per run), 200 synthetic models, 5 alternated pairs
        if not skip_lineage_postgres:
            session.install("dbt-postgres>=1.10,<1.12")
            session.run(
                "python",
                str(ROOT / "bench" / "lineage_cost.py"),
                "--warehouse",
                "postgres",
                *(
                    ["--sizes", "sample", "--pairs", "1"]
                    if "--quick" in ours
                    else ["--sizes", "200", "--pairs", "5"]
                ),
                "--out",
                str(ROOT / ".bench" / "lineage-cost-postgres.json"),
                env=ENV,
            )
        if not skip_storage:
            run_storage_bench(session, project, storage)


@nox.session
def bench_storage(session: nox.Session) -> None:
    """Dagster's cost on its production storage, lineage off: ``dg launch --assets '*'`` with a
    PostgreSQL instance (a server the bench starts) vs a SQLite one, each against plain ``dbt
    build``, alternated rounds at 200 and 2,000 synthetic models (bench/storage_bench.py, also
    run by ``nox -s bench``); results in .bench/storage.json. Arguments go to storage_bench.py,
    e.g. ``-- --rounds 200=3,2000=1``, ``-- --arms dbt,postgres,postgres_pooled``,
    ``-- --quick``."""
    session.install(COPIER)
    with tempfile.TemporaryDirectory(prefix="floe-bench-") as scratch:
        project = render(session, Path(scratch) / "bench", project_name="bench")
        install_bench(session, project)
        run_storage_bench(session, project, session.posargs)
