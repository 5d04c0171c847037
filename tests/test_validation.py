"""Invalid answers are refused with the validator's message, before anything is written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, render, tool

SHADOWS = (
    "package_name must not shadow a module of Python's standard library or of a package the"
    " project depends on (got '{}')"
)
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
    "project_name naming a dbt project dbt reserves": (
        {"project_name": "Source"},
        "project_name 'Source' would name the dbt project 'source', a name dbt reserves:"
        " choose another",
    ),
    "project_name naming the dbt project of an adapter": (
        {"project_name": "DBT duckdb"},
        "project_name 'DBT duckdb' would name the dbt project 'dbt_duckdb', a name dbt"
        " reserves: choose another",
    ),
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
        SHADOWS.format("dagster"),
    ),
    "package_name shadows a module of a dependency's dependency": (
        {"project_name": "Ok", "package_name": "requests"},
        SHADOWS.format("requests"),
    ),
    "package_name derived from the project name shadows the standard library": (
        {"project_name": "Json"},
        SHADOWS.format("json"),
    ),
    "package_name shadows the tests": (
        {"project_name": "Ok", "package_name": "tests"},
        SHADOWS.format("tests"),
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
    "lineage_producer with characters a URI cannot hold": (
        {"project_name": "Ok", "lineage_producer": "https://example.com/<x>"},
        "lineage_producer must be an absolute URI such as https://github.com/acme/ok "
        "(got 'https://example.com/<x>')",
    ),
    "lineage_producer with a broken escape": (
        {"project_name": "Ok", "lineage_producer": "https://example.com/%zz"},
        "lineage_producer must be an absolute URI such as https://github.com/acme/ok "
        "(got 'https://example.com/%zz')",
    ),
    "lineage_producer blank (empty is floe-lineage's default)": (
        {"project_name": "Ok", "lineage_producer": " "},
        "lineage_producer must be an absolute URI such as https://github.com/acme/ok (got ' ')",
    ),
    "lineage_producer with a backslash": (
        {"project_name": "Ok", "lineage_producer": "https://example.com/a\\"},
        "lineage_producer must be an absolute URI such as https://github.com/acme/ok "
        "(got 'https://example.com/a\\')",
    ),
    "project name too long for floe's metadata.name": (
        {"project_name": "A" + "b" * 63},
        f"floe.yaml's metadata.name is the project slug 'a{'b' * 63}', which floe limits to 63"
        " characters: shorten project_name",
    ),
    "description too long for floe": (
        {"project_name": "Ok", "description": "d" * 501},
        "floe.yaml's metadata.description is limited to 500 characters by floe (got 501)",
    ),
    "floe_owner with a double quote": (
        {"project_name": "Ok", "floe_owner": 'the "data" team'},
        "floe_owner must be a single line without double quotes or backslashes",
    ),
    "project_name with a trailing newline": (
        {"project_name": "Ok\n"},
        "project_name must start with a letter and contain only letters, digits, spaces, "
        "'-' or '_' (got 'Ok\n')",
    ),
    "package_name with a trailing newline": (
        {"project_name": "Ok", "package_name": "abc\n"},
        "package_name must be a valid Python identifier: letters, digits and '_', "
        "not starting with a digit (got 'abc\n')",
    ),
    "package_name shadows abc of the standard library": (
        {"project_name": "Ok", "package_name": "abc"},
        SHADOWS.format("abc"),
    ),
    "lineage_namespace with a trailing newline": (
        {"project_name": "Ok", "lineage_namespace": "abc\n"},
        "lineage_namespace must start with a letter or digit and contain only letters, digits, "
        "'.', '_', ':', '/' or '-' (got 'abc\n')",
    ),
    "lineage_producer with a trailing newline": (
        {"project_name": "Ok", "lineage_producer": "https://example.com/x\n"},
        "lineage_producer must be an absolute URI such as https://github.com/acme/ok "
        "(got 'https://example.com/x\n')",
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


def test_without_floe_yaml_floes_limits_do_not_apply(tmp_path: Path) -> None:
    long_name = "A" + "b" * 63
    project = render(tmp_path / "project", {"project_name": long_name, "floe_spec": False})
    assert not (project / "floe.yaml").exists()
    assert not (project / "tests" / "test_floe_yaml.py").exists()


def test_the_shadowed_modules_listed_cover_the_standard_library_and_the_dependencies() -> None:
    """copier-shadowed-modules.yml still names every module a package could shadow (else:
    python tests/shadowed_modules.py rewrites it)."""
    from shadowed_modules import LISTED, shadowed_modules

    listed = set(yaml.safe_load(LISTED.read_text())["shadowed_modules"]["default"])
    missing = shadowed_modules() - listed
    assert not missing, f"rewrite the list with python tests/shadowed_modules.py: {missing}"
    assert {"json", "os", "dagster", "dagster_dbt", "floe_lineage", "duckdb", "requests"} <= listed


# URIs the producer question must judge as the schemas' `format: uri` does (rfc3986-validator)
PRODUCERS = [
    "https://github.com/acme/x",
    "git+ssh://git.example.com/zed/lake.git",
    "https://user:pw@host:8080/p?q=1#f",
    "http://[::1]:80/x",
    "urn:floe:producer",
    "file:///srv/floe",
    "https://example.com/%20ok",
    "https://example.com/<x>",
    "https://example.com/%zz",
    "https://exa mple.com",
    "https://example.com/a|b",
    "https://example.com/{x}",
    "https://example.com/ä",
    "https://ex.com/#a#b",
    "1http://x",
    "github.com/acme/ok",
]


@pytest.mark.parametrize("producer", PRODUCERS)
def test_the_producer_is_judged_as_the_schemas_judge_uris(producer: str, tmp_path: Path) -> None:
    from rfc3986_validator import validate_rfc3986

    valid = validate_rfc3986(producer, rule="URI") is not None
    data = {"project_name": "Ok", "lineage_producer": producer}
    if valid:
        render(tmp_path / "project", data)
    else:
        with pytest.raises(ValueError, match="lineage_producer must be an absolute URI"):
            render(tmp_path / "project", data)
