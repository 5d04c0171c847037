"""``nox`` runs the tests and the linter in fresh virtualenvs (uv when available);
``nox -s floe`` runs the project under floe's own runtime beside this project's."""

import json
import os
import shutil
import tempfile
import time
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


# floe's own runtime, from PyPI, in a virtualenv of its own. dbt-core 1.12 cannot be installed
# everywhere (its build downloads a wheel), hence the bound.
FLOE_PACKAGES = [
    "floe-core==0.1.0a1",
    "floe-orchestrator-dagster==0.1.0a1",
    "floe-compute-duckdb==0.1.0a1",
    "floe-dbt-core==0.1.0a1",
    "floe-lineage-marquez==0.1.0a1",
    "dbt-core<1.12",
]
# floe-orchestrator-dagster 0.1.0a1 reads the run's dbt run_results.json for its per-model lineage
# from dbt/target/, where dagster-dbt never writes it (each run gets a folder of its own under
# target/): its lineage backend then receives the product's START and COMPLETE only ("dbt artifact
# missing: run_results.json not found" in the run's log). When manifest.yaml names a lineage
# backend, the session materializes floe's definitions.py through this module, which copies the
# run's run_results.json to where floe reads it first.
FLOE_RUN_RESULTS_WORKAROUND = """\
import runpy
import shutil
from pathlib import Path

from floe_orchestrator_dagster import runtime

_extract = runtime.extract_dbt_model_lineage


def _extract_from_the_runs_own_target(project_dir, *args, **kwargs):
    target = Path(project_dir) / "target"
    runs = sorted(target.glob("*/run_results.json"), key=lambda path: path.stat().st_mtime)
    if runs:
        shutil.copyfile(runs[-1], target / "run_results.json")
    return _extract(project_dir, *args, **kwargs)


runtime.extract_dbt_model_lineage = _extract_from_the_runs_own_target
defs = runpy.run_path({definitions!r})["defs"]
"""


@nox.session
def floe(session: nox.Session) -> None:
    """This project, unchanged, under floe's own runtime beside this project's: compile
    floe.yaml and manifest.yaml with floe's CLI (``floe platform compile ...
    --generate-definitions``), parse the dbt project, materialize every asset of floe's generated
    ``dbt/definitions.py`` with ``dagster asset materialize``; materialize every asset here with
    ``dg launch`` (its DuckDB file and events in a folder of the session's); fail unless both
    runs succeed and built the same dbt nodes with the same outcomes."""
    root = Path.cwd()
    dbt_dir = root / "dbt"
    if not ((root / "floe.yaml").is_file() and (root / "manifest.yaml").is_file()):
        session.skip("needs floe.yaml and manifest.yaml (copier: floe_spec and floe_manifest)")
    work = Path(session.create_tmp()).resolve() / "floe"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {"DAGSTER_DISABLE_TELEMETRY": "1"}

    session.install("-e", ".[dev]", "uv")
    venv = work / "floe-venv"
    session.run("uv", "venv", "--quiet", "--python", str(Path(session.bin) / "python"), str(venv))
    python = str(venv / "bin" / "python")
    session.run("uv", "pip", "install", "--quiet", "--python", python, *FLOE_PACKAGES)

    # This project's runtime, into a DuckDB file and an events file of the session's
    events = work / "events.jsonl"
    config = work / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events}\n  append: true\n")
    ours_env = {
        **env,
        "FLOE_DUCKDB_PATH": str(work / "ours" / "warehouse.duckdb"),
        "OPENLINEAGE_CONFIG": str(config),
        "OPENLINEAGE_DISABLED": None,
        "DAGSTER_HOME": str(work / "ours"),
        "DBT_PROJECT_DIR": None,
        "DBT_PROFILES_DIR": None,
    }
    (work / "ours").mkdir()
    started = time.monotonic()
    before = run_results(dbt_dir)
    session.run("dg", "launch", "--assets", "*", env=ours_env)
    ours = node_outcomes(run_results(dbt_dir) - before, "dg launch")
    ours_seconds = time.monotonic() - started

    # floe's runtime: compile, parse (as floe's own images do), materialize its definitions.py.
    # OTEL_SDK_DISABLED: floe's compiled telemetry is always on and exports to localhost:4317.
    floe_env = {**env, "DAGSTER_HOME": str(work / "floe"), "OTEL_SDK_DISABLED": "true"}
    (work / "floe").mkdir()
    started = time.monotonic()
    session.run(
        str(venv / "bin" / "floe"),
        "platform",
        "compile",
        "--spec",
        "floe.yaml",
        "--manifest",
        "manifest.yaml",
        "--output",
        str(dbt_dir / "compiled_artifacts.json"),
        "--generate-definitions",
        env=floe_env,
        external=True,
    )
    compiled = time.monotonic() - started
    with session.chdir(dbt_dir):
        session.run(
            str(venv / "bin" / "dbt"),
            "parse",
            "--profiles-dir",
            ".",
            "--quiet",
            env=floe_env,
            external=True,
        )
        definitions = "definitions.py"  # floe's generated shim: its loader and runtime
        artifacts = json.loads((dbt_dir / "compiled_artifacts.json").read_text())
        if (artifacts.get("plugins") or {}).get("lineage_backend"):
            session.warn("floe 0.1.0a1 sends no per-model lineage from here: working around it")
            definitions = str(work / "floe_definitions.py")
            Path(definitions).write_text(
                FLOE_RUN_RESULTS_WORKAROUND.format(definitions=str(dbt_dir / "definitions.py"))
            )
        before = run_results(dbt_dir)
        session.run(
            str(venv / "bin" / "dagster"),
            "asset",
            "materialize",
            "-f",
            definitions,
            "--select",
            "*",
            env=floe_env,
            external=True,
        )
    theirs = node_outcomes(run_results(dbt_dir) - before, "floe's runtime")
    floe_seconds = time.monotonic() - started

    session.log(f"this project's runtime: {len(ours)} dbt nodes in {ours_seconds:.1f} s")
    session.log(
        f"floe's runtime: {len(theirs)} dbt nodes in {floe_seconds:.1f} s"
        f" (floe platform compile {compiled:.1f} s)"
    )
    if ours != theirs:
        only_ours = sorted(set(ours.items()) - set(theirs.items()))
        only_theirs = sorted(set(theirs.items()) - set(ours.items()))
        session.error(f"the runtimes differ: here only {only_ours}; floe's only {only_theirs}")
    failed = sorted(node for node, status in ours.items() if status not in {"success", "pass"})
    if failed:
        session.error(f"dbt nodes did not succeed: {failed}")
    session.log(f"both runtimes built the same {len(ours)} dbt nodes, every one successfully")


def run_results(dbt_dir: Path) -> set[Path]:
    """The run_results.json of each dbt run under target/ (dagster-dbt gives each a folder)."""
    return set((dbt_dir / "target").glob("*/run_results.json"))


def node_outcomes(new: set[Path], runtime: str) -> dict[str, str]:
    """dbt unique id -> status, from the one run_results.json a run wrote."""
    if len(new) != 1:
        raise RuntimeError(f"{runtime} wrote {len(new)} run_results.json files, not one")
    results = json.loads(next(iter(new)).read_text())["results"]
    return {result["unique_id"]: result["status"] for result in results}


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
