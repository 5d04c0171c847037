"""Invalid answers are refused with the validator's message, before anything is written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, render, tool

# (answers given with --defaults, the message copier must report)
INVALID = {
    "project_name starts with a digit": (
        {"project_name": "9lives"},
        "project_name must start with a letter and contain only letters, digits, spaces, "
        "'-' or '_' (got '9lives')",
    ),
    "project_name with punctuation": (
        {"project_name": "Data!Platform"},
        "project_name must start with a letter and contain only letters, digits, spaces, "
        "'-' or '_' (got 'Data!Platform')",
    ),
    "project_name missing": ({}, 'Question "project_name" is required'),
    "package_name starts with a digit": (
        {"project_name": "Ok", "package_name": "9bad"},
        "package_name must be a valid Python identifier: letters, digits and '_', "
        "not starting with a digit (got '9bad')",
    ),
    "package_name with a dash": (
        {"project_name": "Ok", "package_name": "my-pkg"},
        "package_name must be a valid Python identifier: letters, digits and '_', "
        "not starting with a digit (got 'my-pkg')",
    ),
    "package_name is a keyword": (
        {"project_name": "Ok", "package_name": "class"},
        "package_name must not be a Python keyword (got 'class')",
    ),
    "package_name derived from the project name is a keyword": (
        {"project_name": "Class"},
        "package_name must not be a Python keyword (got 'class')",
    ),
    "package_name shadows a dependency": (
        {"project_name": "Ok", "package_name": "dagster"},
        "package_name must not shadow a package the project depends on (got 'dagster')",
    ),
    "package_name shadows the tests": (
        {"project_name": "Ok", "package_name": "tests"},
        "package_name must not shadow a package the project depends on (got 'tests')",
    ),
    "description with double quotes": (
        {"project_name": "Ok", "description": 'The "best" platform'},
        "description must be a single line without double quotes or backslashes",
    ),
    "description on two lines": (
        {"project_name": "Ok", "description": "first line\nsecond line"},
        "description must be a single line without double quotes or backslashes",
    ),
    "description with a backslash": (
        {"project_name": "Ok", "description": "Loads C:\\data\\new"},
        "description must be a single line without double quotes or backslashes",
    ),
    "python_version not offered": (
        {"project_name": "Ok", "python_version": "3.9"},
        "Invalid choice for 'python_version': '3.9' is not in ['3.10', '3.11', '3.12', '3.13']",
    ),
    "lineage_namespace starts with a dash": (
        {"project_name": "Ok", "lineage_namespace": "-prod"},
        "lineage_namespace must start with a letter or digit and contain only letters, digits, "
        "'.', '_', ':', '/' or '-' (got '-prod')",
    ),
    "lineage_namespace with a space": (
        {"project_name": "Ok", "lineage_namespace": "my namespace"},
        "lineage_namespace must start with a letter or digit and contain only letters, digits, "
        "'.', '_', ':', '/' or '-' (got 'my namespace')",
    ),
    "lineage_producer not a URI": (
        {"project_name": "Ok", "lineage_producer": "not a uri"},
        "lineage_producer must be an absolute URI such as https://github.com/acme/ok "
        "(got 'not a uri')",
    ),
    "lineage_producer without a scheme": (
        {"project_name": "Ok", "lineage_producer": "github.com/acme/ok"},
        "lineage_producer must be an absolute URI such as https://github.com/acme/ok "
        "(got 'github.com/acme/ok')",
    ),
    "lineage_producer with a backslash": (
        {"project_name": "Ok", "lineage_producer": "https://example.com/a\\"},
        "lineage_producer must be an absolute URI such as https://github.com/acme/ok "
        "(got 'https://example.com/a\\')",
    ),
    "lineage_transport not offered": (
        {"project_name": "Ok", "lineage_transport": "kafka"},
        "Invalid choice for 'lineage_transport': 'kafka' is not in ['file', 'console', 'http']",
    ),
}


def assert_nothing_written(destination: Path) -> None:
    assert not destination.exists() or not any(destination.iterdir()), sorted(
        str(p.relative_to(destination)) for p in destination.rglob("*")
    )


@pytest.mark.parametrize(("data", "message"), INVALID.values(), ids=INVALID.keys())
def test_invalid_answer_is_refused_with_its_message(
    data: dict[str, str], message: str, tmp_path: Path
) -> None:
    destination = tmp_path / "project"
    with pytest.raises(ValueError) as refused:
        render(destination, data)
    assert message in str(refused.value)
    assert_nothing_written(destination)


@pytest.mark.parametrize("name", ["package_name is a keyword", "lineage_producer not a URI"])
def test_cli_refuses_invalid_answer(name: str, tmp_path: Path) -> None:
    """The command line exits non-zero with the message and leaves an empty destination."""
    data, message = INVALID[name]
    destination = tmp_path / "project"
    destination.mkdir()  # an existing empty folder stays empty
    args = [arg for key, value in data.items() for arg in ("--data", f"{key}={value}")]
    done = subprocess.run(
        [tool("copier"), "copy", "--defaults", *args, str(ROOT), str(destination)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=300,
    )
    assert done.returncode != 0
    assert message in " ".join(done.stderr.split()), done.stderr
    assert_nothing_written(destination)
