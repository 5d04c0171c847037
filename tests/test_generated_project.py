"""Generated projects work as a user runs them.

- ruff passes on every variant;
- the generated test suite passes unchanged on a second, differently shaped dbt-duckdb project
  (after ``pytest --snapshot-update`` once), and fails with a diff naming the column when a
  model stops deriving a column from its source;
- a project rendered from a committed template installs from its README's commands in a
  virtualenv of its own (floe-lineage from the pinned commit), ``dg`` loads, lists and scaffolds
  it, ``dg launch`` emits the sample's 63 events, valid under the outside validator, its own test
  suite passes with nothing skipped, ``dg dev`` serves its assets, and its ``.gitignore`` covers
  what it writes.

The generated suites run in the background from the start of the session, side by side with
the installation, each in a folder of its own.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VARIANTS, Renders, assert_schema_valid, render
from test_update import commit_all, git, snapshot_template

CLICKSTREAM = ROOT / "floe-lineage" / "tests" / "projects" / "clickstream"
SUITE_TIMEOUT = 20 * 60  # seconds from its start (suites run side by side on 2 cores)
# Variables that would point the generated project's tests somewhere else.
REDIRECTING = (
    "FLOE_DUCKDB_PATH",
    "DBT_PROJECT_DIR",
    "DBT_PROFILES_DIR",
    "DBT_TARGET",
    "OPENLINEAGE_CONFIG",
    "OPENLINEAGE_DISABLED",
    "OPENLINEAGE_NAMESPACE",
    "OPENLINEAGE_URL",
)
# What a user's shell has not set: a project of its own then runs as its README says.
USER_UNSET = ("PYTHONPATH", "VIRTUAL_ENV", "PIP_REQUIRE_VIRTUALENV", "DAGSTER_HOME")


def user_env(bin_dir: Path) -> dict[str, str]:
    """A user's shell for a generated project: nothing redirecting it or set by this session
    (``USER_UNSET``), ``bin_dir`` first on PATH, telemetry off."""
    env = {k: v for k, v in os.environ.items() if k not in (*REDIRECTING, *USER_UNSET)}
    env["PATH"] = os.pathsep.join([str(bin_dir), env["PATH"]])
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    return env


# Every facet the sample's events carry, where (as today's template emitted them).
SAMPLE_FACETS = {
    "run": {"parent", "processing_engine", "dbt_run", "dbt_target"},
    "job": {"jobType", "documentation", "sql", "tags", "ownership"},
    "dataset": {
        "dataSource",
        "documentation",
        "schema",
        "columnLineage",
        "tags",
        "ownership",
        "columnClassification",
    },
    "input": {"dataQualityAssertions"},
    "output": {"outputStatistics"},
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_generated_project_passes_ruff_check(name: str, rendered: Renders) -> None:
    done = ruff(rendered(name), "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_generated_project_is_ruff_formatted(name: str, rendered: Renders) -> None:
    done = ruff(rendered(name), "format", "--no-cache", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def ruff(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """ruff with the generated project's own configuration (its pyproject.toml)."""
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def test_generated_python_is_thin(rendered: Renders) -> None:
    """The project's own Python outside tests/ is the user's: a few lines, no lineage code."""
    project = rendered("defaults")
    sources = [p for p in (project / "src").rglob("*.py")]
    assert sum(len(p.read_text().splitlines()) for p in sources) <= 100
    assert not any("lineage" in p.name for p in sources)
    test_lines = len((project / "tests" / "test_lineage.py").read_text().splitlines())
    assert test_lines <= 60


# -- the generated test suite ---------------------------------------------------------------


@dataclass
class Suite:
    """The generated project's pytest runs, one after another, in the background."""

    project: Path
    work: Path
    runs: list[list[str]]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    started: float = field(default_factory=time.monotonic)

    def start(self) -> Suite:
        steps = [
            " ".join(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    f"--basetemp={self.work / f'pytest-{i}'}",
                    f"--junitxml={self.report(i)}",
                    *args,
                ]
            )
            + f" > {self.log(i)} 2>&1; echo $? > {self.work / f'exit-{i}'}"
            for i, args in enumerate(self.runs)
        ]
        self.process = subprocess.Popen(
            ["bash", "-c", "; ".join(steps)],
            cwd=self.project,
            env=self.env,
            stdin=subprocess.DEVNULL,
        )
        return self

    def report(self, run: int) -> Path:
        return self.work / f"report-{run}.xml"

    def log(self, run: int) -> Path:
        return self.work / f"pytest-{run}.log"

    def wait(self) -> list[int]:
        """Exit codes of the runs (all done)."""
        assert self.process is not None
        remaining = SUITE_TIMEOUT - (time.monotonic() - self.started)
        try:
            self.process.wait(timeout=max(remaining, 1))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the generated test suite took over {SUITE_TIMEOUT}s")
        return [int((self.work / f"exit-{i}").read_text()) for i in range(len(self.runs))]

    def totals(self, run: int) -> dict[str, int]:
        totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for testsuite in ET.parse(self.report(run)).getroot().iter("testsuite"):
            for key in totals:
                totals[key] += int(testsuite.get(key, 0))
        totals["passed"] = totals["tests"] - totals["failures"] - totals["errors"]
        totals["passed"] -= totals["skipped"]
        return totals

    def tail(self, run: int, lines: int = 80) -> str:
        return "\n".join(self.log(run).read_text(errors="replace").splitlines()[-lines:])


def suite_env(project: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in REDIRECTING}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(project / "src"), os.environ.get("PYTHONPATH")])
    )
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    # dbt, which dagster-dbt runs, is a console script next to this interpreter
    env["PATH"] = os.pathsep.join(filter(None, [str(Path(sys.executable).parent), env["PATH"]]))
    return env | extra


def other_project_suite(work: Path) -> Suite:
    """The defaults' suite, unchanged, against the clickstream project (its profile reads no
    variable): once to accept its snapshot, then as CI would run it."""
    project = render(work / "project", VARIANTS["defaults"])
    clickstream = shutil.copytree(CLICKSTREAM, work / "clickstream")
    env = suite_env(project, DBT_PROJECT_DIR=str(clickstream), DBT_PROFILES_DIR=str(clickstream))
    return Suite(project, work, [["--snapshot-update"], []], env)


def changed_column_suite(work: Path) -> Suite:
    """The sample where stg_customers.country_code no longer comes from raw_customers: the
    suite fails, then ``--snapshot-update`` accepts the change and passes."""
    project = render(work / "project", VARIANTS["defaults"])
    model = project / "dbt" / "models" / "staging" / "stg_customers.sql"
    model.write_text(model.read_text().replace("country as country_code", "'NL' as country_code"))
    return Suite(project, work, [[], ["--snapshot-update"]], suite_env(project))


SUITES: dict[str, Callable[[Path], Suite]] = {
    "other project": other_project_suite,
    "changed column": changed_column_suite,
}


@pytest.fixture(scope="session")
def suites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Suite]]:
    """Every generated suite, started at once on first request."""
    started = {
        name: make(tmp_path_factory.mktemp(name.replace(" ", "-"))).start()
        for name, make in SUITES.items()
    }
    yield started
    for suite in started.values():
        if suite.process is not None and suite.process.poll() is None:
            suite.process.kill()
            suite.process.wait()


@pytest.fixture(scope="session", autouse=True)
def _start_suites_first(request: pytest.FixtureRequest) -> None:
    """The suites start before any test when a selected test reads them, so they run beside
    the rest of this session."""
    if any("suites" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("suites")


def test_the_generated_suite_passes_unchanged_on_another_dbt_project(suites):
    suite = suites["other project"]
    codes = suite.wait()
    assert codes == [0, 0], suite.tail(0) + "\n" + suite.tail(1)
    totals = suite.totals(1)
    assert (totals["passed"], totals["skipped"], totals["failures"]) == (4, 4, 0), totals
    # --snapshot-update rewrote floe.yaml's transforms for the other project, kept the rest
    spec = yaml.safe_load((suite.project / "floe.yaml").read_text())
    assert [t["name"] for t in spec["transforms"]] == [
        "int_views",
        "views_incremental",
        "daily_views",
    ]
    assert spec["metadata"]["name"] == "floe-defaults"
    snapshot = (suite.project / "tests" / "__snapshots__" / "test_lineage").glob("*.txt")
    text = "".join(p.read_text() for p in snapshot)
    assert "model.clickstream.daily_views (MODEL): COMPLETE" in text
    assert '"Unique Users" BIGINT' in text or "Unique Users BIGINT" in text
    assert str(suite.work) not in text  # no machine paths


def test_a_lineage_change_fails_with_a_diff_naming_the_column(suites):
    suite = suites["changed column"]
    codes = suite.wait()
    assert codes == [1, 0], [suite.tail(i) for i in range(2)]
    failed = suite.log(0).read_text()
    assert "test_lineage_is_the_reviewed_one" in failed
    removed = [
        line
        for line in failed.splitlines()
        if "country_code VARCHAR <- warehouse.main.raw_customers.country IDENTITY" in line
    ]
    assert removed, suite.tail(0)
    assert suite.totals(1)["passed"] == 8


# -- installed from a committed template, as a user would -----------------------------------


@dataclass(frozen=True)
class Installed:
    project: Path
    venv: Path
    rendered: frozenset[str]
    """The project's files as copier rendered them, relative to it."""

    @property
    def events_file(self) -> Path:
        return self.project / ".lineage" / "events.jsonl"

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """A command of the project's virtualenv, run in the project as an activated shell
        would (the virtualenv's bin first on PATH)."""
        return subprocess.run(
            [str(self.venv / "bin" / args[0]), *args[1:]],
            cwd=self.project,
            env=user_env(self.venv / "bin"),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )


def readme_commands(project: Path, heading: str) -> list[str]:
    """The commands of the first ``bash`` block under ``## heading`` of the project's README,
    comments dropped: what a user copies."""
    section = (project / "README.md").read_text().split(f"\n## {heading}\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("  #", 1)[0].strip() for line in block.splitlines() if line.strip()]


def run_as_user(project: Path, commands: list[str], **env: str) -> None:
    """``commands`` one after another in one bash in ``project``, as a user's shell runs them
    (no variable of this session redirecting the project, PATH as the test's, where ``python``
    is this interpreter); fails with their output on the first failing one."""
    done = subprocess.run(
        ["bash", "-c", "set -e\n" + "\n".join(commands)],
        cwd=project,
        env=user_env(Path(sys.executable).parent) | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=1200,
    )
    assert done.returncode == 0, f"{commands}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The working tree committed as a template repository of its own, a project rendered from
    it with the defaults, installed as its README says (``python -m venv .venv``, then the
    virtualenv's own pip: 23.2 on Python 3.11): floe-lineage comes from the pinned commit of
    that repository."""
    root = tmp_path_factory.mktemp("installed")
    template = snapshot_template(root / "template-repo")
    project = render(root / "my-project", {"project_name": "My Project"}, src=template)
    rendered = frozenset(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file())
    commands = [c for c in readme_commands(project, "Run it") if c.startswith(("python", "pip"))]
    assert commands[0].startswith("python -m venv .venv"), commands
    assert commands[1] == 'pip install -e ".[dev]"', commands
    run_as_user(project, commands[:2])
    return Installed(project, project / ".venv", rendered)


def interpreter(version: str) -> str | None:
    """A Python ``version`` on this machine that runs: on PATH, or one pyenv installed."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates += sorted(map(str, pyenv.glob(f"{version}.*/bin/python{version}")), reverse=True)
    for candidate in filter(None, candidates):
        done = subprocess.run([candidate, "-c", "pass"], capture_output=True, check=False)
        if done.returncode == 0:
            return candidate
    return None


@pytest.mark.slow
@pytest.mark.parametrize("version", ["3.10", "3.11", "3.12", "3.13"])
def test_the_pin_installs_with_the_pip_a_new_virtualenv_has(version: str, tmp_path: Path) -> None:
    """``python -m venv`` gives pip 23.0 (3.10), 23.2 (3.11, 3.12) or 24.2 (3.13): each reads
    the floe-lineage requirement the project pins (a local template: ``git+file://localhost``)
    and builds it from that commit. Installing everything is the ``installed`` fixture's job."""
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no Python {version} here")
    subprocess.run([python, "-m", "venv", str(tmp_path / "venv")], check=True)
    template = snapshot_template(tmp_path / "template-repo")
    rendered = render(tmp_path / "project", VARIANTS["defaults"], src=template)
    project = tomllib.loads((rendered / "pyproject.toml").read_text())["project"]
    (pin,) = [d for d in project["dependencies"] if d.startswith("floe-lineage @ ")]
    done = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "pip"), "install", "--dry-run", "--no-deps", pin],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Would install floe-lineage-" in done.stdout, done.stdout[-2000:]


def test_the_installed_floe_lineage_is_the_pinned_commit(installed: Installed) -> None:
    done = installed.run(
        "python",
        "-c",
        "import json, importlib.metadata as m;"
        " print(m.distribution('floe-lineage').read_text('direct_url.json'))",
    )
    assert done.returncode == 0, done.stderr
    origin = json.loads(done.stdout)
    pyproject = (installed.project / "pyproject.toml").read_text()
    assert origin["vcs_info"]["commit_id"] in pyproject
    assert origin["subdirectory"] == "floe-lineage"


def test_dg_loads_lists_and_scaffolds_the_project(installed: Installed) -> None:
    components = installed.run("dg", "list", "components")
    assert "floe_lineage.dagster.DbtProjectWithLineage" in components.stdout, components.stderr
    assert "floe_lineage.dagster.FloeSchedule" in components.stdout
    scaffold = installed.run("dg", "scaffold", "defs", "dagster.asset", "my_asset.py")
    assert scaffold.returncode == 0, scaffold.stderr
    assert (installed.project / "src" / "my_project" / "defs" / "my_asset.py").is_file()
    listed = installed.run("dg", "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr[-3000:]
    keys = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    assert keys >= {"raw_orders", "stg_orders", "orders", "customers", "customers_snapshot"}
    assert "my_asset" in keys
    # floe.yaml's schedule, a Dagster schedule of the dbt assets (stopped: enabled is false)
    listed_defs = json.loads(listed.stdout)
    assert [(s["name"], s["cron_schedule"]) for s in listed_defs["schedules"]] == [
        ("my_project_schedule", "0 6 * * *")
    ]
    assert [j["name"] for j in listed_defs["jobs"]] == ["my_project_job"]
    check = installed.run("dg", "check", "defs")
    assert check.returncode == 0, check.stdout + check.stderr
    (installed.project / "src" / "my_project" / "defs" / "my_asset.py").unlink()


SAMPLE_ASSETS = (
    "raw_customers",
    "raw_orders",
    "raw_payments",
    "stg_customers",
    "stg_orders",
    "stg_payments",
    "orders",
    "customers",
    "customers_snapshot",
)
SAMPLE_MODELS = ("stg_customers", "stg_orders", "stg_payments", "orders", "customers")
LATEST_METADATA = f"""
import json
import dagster as dg
instance = dg.DagsterInstance.from_config(".")
latest = {{
    name: instance.get_latest_materialization_event(dg.AssetKey(name))
    for name in {SAMPLE_ASSETS!r}
}}
print(json.dumps({{
    name: sorted(event.asset_materialization.metadata) for name, event in latest.items() if event
}}))
"""
"""The metadata keys of each sample asset's latest materialization in the project's instance."""


def test_dg_launch_emits_the_samples_lineage(installed: Installed) -> None:
    launch = installed.run("dg", "launch", "--assets", "*")
    assert launch.returncode == 0, launch.stdout[-3000:] + launch.stderr[-3000:]
    events_file = installed.events_file
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    # 23 dbt nodes and the step, START and terminal each: the seeds', models' and snapshot's
    # COMPLETE carry the warehouse's facts (typed schemas, row counts ..., read inside dbt by
    # floe-lineage-dbt); once dbt exited, an OTHER event per test (the schema of what it tests)
    # and for the YAML snapshot (its SQL, known from run_results.json, and column lineage)
    assert len(events) == 48 + 15
    others = [e["job"]["name"].split(".")[0] for e in events if e["eventType"] == "OTHER"]
    assert sorted(set(others)) == ["snapshot", "test"] and len(others) == 15
    assert {e["eventType"] for e in events} == {"START", "COMPLETE", "OTHER"}
    found: dict[str, set[str]] = {kind: set() for kind in SAMPLE_FACETS}
    for event in events:
        found["run"] |= set(event["run"].get("facets", {}))
        found["job"] |= set(event["job"].get("facets", {}))
        for dataset in event["inputs"] + event["outputs"]:
            found["dataset"] |= set(dataset.get("facets", {}))
            found["input"] |= set(dataset.get("inputFacets", {}))
            found["output"] |= set(dataset.get("outputFacets", {}))
    assert found == SAMPLE_FACETS
    assert_schema_valid(events_file, minimum=63)
    # what the Dagster UI shows: every materialization of the run, views included, carries the
    # column schema, row count and run id, each model its column lineage (the project's
    # instance in .dagster/, as dg launch and dg dev use it)
    recorded = installed.run("python", "-c", LATEST_METADATA)
    assert recorded.returncode == 0, recorded.stderr[-3000:]
    metadata = json.loads(recorded.stdout)
    for asset in SAMPLE_ASSETS:
        keys = set(metadata[asset])
        assert {"dagster/column_schema", "dagster/row_count", "openlineage/run_id"} <= keys, asset
        if asset in SAMPLE_MODELS:  # the YAML snapshot's SQL is known once dbt exited
            assert "dagster/column_lineage" in keys, asset
    check = installed.run("floe-lineage", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    summary = installed.run("floe-lineage", "summary")
    assert "model.my_project.customers" in summary.stdout  # floe's name for "my-project"


def test_the_installed_projects_own_suite_passes(installed: Installed) -> None:
    done = installed.run("pytest", "-q", "-p", "no:cacheprovider", "-rs")
    assert done.returncode == 0, done.stdout[-3000:]
    assert "8 passed" in done.stdout and "skipped" not in done.stdout, done.stdout[-500:]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_dg_dev_serves_the_dbt_assets_and_the_runs_dg_launch_made(installed: Installed) -> None:
    """With no DAGSTER_HOME, as a user has none: ``dg dev`` shows the assets and, read the way
    its UI reads them (GraphQL), the runs ``dg launch`` made from the project root: both use
    the project's instance (``dagster.yaml``: ``.dagster/``)."""
    launched = {
        event["run"]["facets"]["parent"]["root"]["run"]["runId"]
        for event in map(json.loads, installed.events_file.read_text().splitlines())
        if "root" in event["run"]["facets"].get("parent", {})
    }
    assert launched, "test_dg_launch_emits_the_samples_lineage launched no run"
    port = free_port()
    server = subprocess.Popen(
        [str(installed.venv / "bin" / "dg"), "dev", "--port", str(port), "--host", "127.0.0.1"],
        cwd=installed.project / "src",  # dg dev runs from the project root wherever started
        env=user_env(installed.venv / "bin"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopping it stops its children too
    )
    try:
        keys = None
        while keys is None:  # until it serves, or it exits
            assert server.poll() is None, "dg dev exited before serving the GraphQL API"
            try:
                nodes = graphql(port, "{ assetNodes { assetKey { path } } }")["data"]["assetNodes"]
                keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
            except (OSError, KeyError, TypeError, ValueError):
                time.sleep(1)
        assert {"raw_orders", "stg_orders", "orders", "customers", "customers_snapshot"} <= keys
        runs = graphql(port, "{ runsOrError { ... on Runs { results { runId status } } } }")
        statuses = {r["runId"]: r["status"] for r in runs["data"]["runsOrError"]["results"]}
        assert {run: statuses.get(run) for run in launched} == dict.fromkeys(launched, "SUCCESS")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_gitignore_covers_everything_the_project_writes(installed: Installed) -> None:
    """After install, ``dg``, launch, tests and ``dg dev``: git sees exactly the files copier
    rendered, nothing the project wrote (DuckDB files, events, dbt's target/ ...)."""
    project = installed.project
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    status = subprocess.run(
        ["git", "-C", str(project), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    untracked = {line[3:] for line in status.splitlines() if line.startswith("?? ")}
    assert untracked == installed.rendered
    written = [
        project / "data" / "warehouse.duckdb",
        project / ".lineage" / "events.jsonl",
        project / "dbt" / "target" / "manifest.json",
    ]
    assert all(path.is_file() for path in written)
    assert any((project / ".dagster").rglob("*.db"))  # the project's Dagster instance


def test_the_readmes_update_steps_install_the_newly_pinned_floe_lineage(
    installed: Installed,
) -> None:
    """``copier update`` to a template commit that changes floe-lineage but not its version,
    then the project README's update commands: the installed floe-lineage is the new pin's.
    Last of the tests on ``installed``: it moves the project to another template commit."""
    project, template = installed.project, installed.project.parent / "template-repo"
    git(project, "init", "-q")
    commit_all(project, "generated")
    init = template / "floe-lineage" / "src" / "floe_lineage" / "__init__.py"
    init.write_text(init.read_text() + '\nUPDATE_MARK = "after the update"\n')
    commit_all(template, "floe-lineage change, same version")
    after = git(template, "rev-parse", "HEAD").strip()

    commands = readme_commands(project, "Taking floe updates")
    assert commands[0] == "copier update --defaults", commands
    activate = f". {installed.venv}/bin/activate"
    run_as_user(project, [activate, *commands])

    assert f"@{after}#subdirectory=floe-lineage" in (project / "pyproject.toml").read_text()
    done = installed.run(
        "python",
        "-c",
        "import json, importlib.metadata as m, floe_lineage;"
        " print(floe_lineage.UPDATE_MARK);"
        " print(json.loads(m.distribution('floe-lineage').read_text('direct_url.json'))"
        "['vcs_info']['commit_id'])",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["after", "the", "update", after]
