"""The generated project is clean (ruff) and its own test suite passes.

The generated suite runs dbt on DuckDB several times, so it runs for two variants only: the
defaults and one where every answer differs. Both suites start together in the background
(each in its own folder, with its own DuckDB file and pytest temp folder) and each test waits
for its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import VARIANTS, Renders, render, validator

SUITE_VARIANTS = ("defaults", "http")
# The fault-injection tests (marked slow) take minutes; they run with the defaults only, spread
# over the cores like the generated noxfile does (pytest-xdist, each test its own DuckDB file).
SUITE_OPTIONS = {
    "defaults": ["--numprocesses=auto", "--dist=worksteal"],
    "http": ["-m", "not slow"],
}
SUITE_TIMEOUT = 25 * 60  # seconds from its start (suites run side by side on 2 cores)
# Variables that would point the generated project's tests somewhere else.
REDIRECTING = (
    "FLOE_DUCKDB_PATH",
    "DBT_PROJECT_DIR",
    "DBT_PROFILES_DIR",
    "OPENLINEAGE_CONFIG",
    "OPENLINEAGE_DISABLED",
    "OPENLINEAGE_NAMESPACE",
    "OPENLINEAGE_URL",
)


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


@dataclass
class Suite:
    project: Path
    process: subprocess.Popen[bytes]
    log: Path
    report: Path
    started: float = field(default_factory=time.monotonic)

    def wait(self) -> int:
        remaining = SUITE_TIMEOUT - (time.monotonic() - self.started)
        try:
            return self.process.wait(timeout=max(remaining, 1))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"the generated test suite took over {SUITE_TIMEOUT}s\n{self.tail()}")

    def tail(self, lines: int = 60) -> str:
        text = self.log.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def start_suite(project: Path, work: Path, options: list[str]) -> Suite:
    """``python -m pytest`` inside the generated project, importing it from ``src``."""
    env = {key: value for key, value in os.environ.items() if key not in REDIRECTING}
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(project / "src"), os.environ.get("PYTHONPATH")])
    )
    env["DAGSTER_DISABLE_TELEMETRY"] = "1"
    # The console scripts next to this interpreter first (dbt, which dagster-dbt runs).
    env["PATH"] = os.pathsep.join(filter(None, [str(Path(sys.executable).parent), env.get("PATH")]))
    # A DuckDB file of this suite only (stem "warehouse"), for anything its tests don't redirect.
    env["FLOE_DUCKDB_PATH"] = str(work / "warehouse.duckdb")
    found = validator()
    if found is not None:
        env["FLOE_OL_VALIDATOR"] = str(found)
    log, report = work / "pytest.log", work / "report.xml"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--basetemp={work / 'pytest'}",
        f"--junitxml={report}",
        *options,
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    return Suite(project, process, log, report)


@pytest.fixture(scope="session")
def suites(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Suite]]:
    """``suites(name)``: the generated suite of that variant, started on first request.

    Without pytest-xdist the first request starts every selected variant at once, so the
    suites share the machine's cores; under xdist each worker starts only its own."""
    started: dict[str, Suite] = {}

    def start(name: str) -> None:
        if name not in started:
            work = tmp_path_factory.mktemp(f"suite-{name}")
            # A render of its own: the suite writes dbt/target, data/, ... into its project.
            project = render(work / "project", VARIANTS[name])
            started[name] = start_suite(project, work, SUITE_OPTIONS.get(name, []))

    def get(name: str) -> Suite:
        if not started and not os.environ.get("PYTEST_XDIST_WORKER"):
            for item in request.session.items:
                if (
                    getattr(item, "originalname", None)
                    == "test_generated_project_test_suite_passes"
                ):
                    start(item.callspec.params["name"])
        start(name)
        return started[name]

    yield get
    for suite in started.values():
        if suite.process.poll() is None:
            suite.process.kill()
            suite.process.wait()


@pytest.mark.parametrize("name", SUITE_VARIANTS)
def test_generated_project_test_suite_passes(name: str, suites: Callable[[str], Suite]) -> None:
    suite = suites(name)
    code = suite.wait()
    assert code == 0, f"generated test suite exited {code} (5 = no tests)\n{suite.tail()}"
    assert suite.report.is_file(), suite.tail()
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for testsuite in ET.parse(suite.report).getroot().iter("testsuite"):
        for key in totals:
            totals[key] += int(testsuite.get(key, 0))
    passed = totals["tests"] - totals["failures"] - totals["errors"] - totals["skipped"]
    assert passed > 0, f"no generated test passed: {totals}\n{suite.tail()}"
    if validator() is not None:  # given a validator, no test may skip for want of one
        skipped_for_validator = [
            case.get("name")
            for case in ET.parse(suite.report).getroot().iter("testcase")
            for skip in case.iter("skipped")
            if "validator" in (skip.get("message") or "").lower()
        ]
        assert skipped_for_validator == [], suite.tail()
