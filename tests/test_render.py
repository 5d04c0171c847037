"""Rendering the template: answers recorded, every file where it belongs with the chosen values,
no template syntax left over, nothing written outside the destination, no ``--trust`` needed."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from conftest import (
    ANSWERS_FILE,
    DBT_NAMES,
    OLD_DEFAULT_PRODUCER,
    QUESTIONS,
    ROOT,
    SLUGS,
    TEMPLATE,
    VARIANTS,
    Renders,
    answers,
    expected_answers,
    render,
    rendered_path,
    tool,
)
from packaging.requirements import Requirement

ALL = sorted(VARIANTS)
# Jinja left in a file copier rendered, unless it is dbt's own ({{ ref('x') }}, {{ env_var(..) }}
# ...), which generated files may quote (e.g. a test writing a dbt profile), a Dagster component's
# ({{ env('X', ...) }}, {{ context.project_root }} in defs.yaml) or a GitHub Actions expression
# (${{ matrix.python }}).
LEFTOVER_JINJA = re.compile(
    r"(?<!\$)\{\{(?!-?\s*(?:ref|source|env_var|var|config|this|target|env|context)\b)|\{%|\{#"
)
# A reference to a copier answer or to copier's own context: never valid once rendered.
ANSWER_NAMES = "|".join([*QUESTIONS, "project_slug", r"_copier_\w+"])
COPIER_REFERENCE = re.compile(
    rf"\{{\{{-?\s*(?:{ANSWER_NAMES})\b"  # {{ package_name ...
    rf"|\{{%-?\s*(?:if|elif|for)\s+[^%]*\b(?:{ANSWER_NAMES})\b"  # {% if lineage_transport ...
)


def copier_yml() -> dict:
    """copier.yml as copier reads it: its documents merged, ``!include`` files included."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor(
        "!include",
        lambda loader, node: yaml.safe_load((ROOT / loader.construct_scalar(node)).read_text()),
    )
    merged: dict = {}
    for document in yaml.load_all((ROOT / "copier.yml").read_text(), Loader):
        merged.update(document)
    return merged


def project_files(project: Path) -> set[str]:
    return {str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()}


def layout(name: str, rendered: Renders) -> dict[str, str]:
    """Rendered path -> template file, for the answers of ``VARIANTS[name]``."""
    values = {**expected_answers(name), "_copier_conf.answers_file": ANSWERS_FILE}
    paths = {rendered_path(source, values): source for source in rendered.sources(name)}
    return {path: source for path, source in paths.items() if path is not None}


def text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None


def test_variants_answer_every_question_and_cover_every_choice() -> None:
    config = copier_yml()
    asked = {
        key
        for key, spec in config.items()
        if not key.startswith("_") and not (isinstance(spec, dict) and spec.get("when") is False)
    }
    assert asked == set(QUESTIONS)
    for key, spec in config.items():
        if isinstance(spec, dict) and "choices" in spec:
            choices = spec["choices"]
            offered = set(choices.values() if isinstance(choices, dict) else choices)
            used = {expected_answers(name)[key] for name in VARIANTS}
            assert used == offered, f"variants do not cover every choice of {key}"


def test_non_default_variants_change_every_answer(tmp_path: Path) -> None:
    """Each answer of these variants differs from what copier would choose by default, and
    between them they answer every question."""
    for name in ("console", "http"):
        project_name = VARIANTS[name]["project_name"]
        defaults = answers(render(tmp_path / name, {"project_name": project_name}))
        for key, value in VARIANTS[name].items():
            if key != "project_name":
                assert value != defaults[key], (name, key)
    assert set(VARIANTS["console"]) | set(VARIANTS["http"]) == set(QUESTIONS)


@pytest.mark.parametrize("name", ALL)
def test_answers_file_records_every_answer(name: str, rendered: Renders) -> None:
    recorded = answers(rendered(name))
    given = {k: v for k, v in recorded.items() if not k.startswith("_")}
    assert given == expected_answers(name)
    # What `copier update` needs to find the template and the version rendered.
    assert Path(recorded["_src_path"]).resolve() == ROOT
    assert str(recorded["_commit"]).strip()


@pytest.mark.parametrize("name", ALL)
def test_every_template_file_is_rendered_where_expected(name: str, rendered: Renders) -> None:
    project = rendered(name)
    expected = layout(name, rendered)
    assert expected, "no template files found"
    assert project_files(project) == set(expected)
    for target, source in expected.items():
        if not source.endswith(".jinja"):  # copied verbatim
            assert (project / target).read_bytes() == rendered.sources(name)[source], target


@pytest.mark.parametrize("name", ALL)
def test_no_template_syntax_is_left(name: str, rendered: Renders) -> None:
    project = rendered(name)
    sources = layout(name, rendered)
    for relative in sorted(project_files(project)):
        assert not relative.endswith(".jinja") and "{{" not in relative and "{%" not in relative
        content = text(project / relative)
        if content is None:
            continue
        assert not COPIER_REFERENCE.search(content), f"{relative} refers to a copier answer"
        # Files without the .jinja suffix are copied as they are (checked byte for byte
        # elsewhere): dbt's Jinja and Python f-strings ("{{") are legitimate there.
        if sources[relative].endswith(".jinja"):
            leftover = LEFTOVER_JINJA.search(content)
            where = leftover and content[leftover.start() : leftover.start() + 60]
            assert leftover is None, f"{relative}: unrendered Jinja: {where!r}"


@pytest.mark.parametrize("name", ALL)
def test_files_carry_the_chosen_values(name: str, rendered: Renders) -> None:
    project = rendered(name)
    want = expected_answers(name)
    package = want["package_name"]
    version = want["python_version"]

    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == SLUGS[want["project_name"]]
    assert pyproject["project"]["description"] == want["description"]
    assert pyproject["project"]["requires-python"] == f">={version}"
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + version.replace(".", "")
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [f"src/{package}"]
    assert pyproject["tool"]["dg"]["project"]["root_module"] == package

    component = yaml.safe_load(
        (project / "src" / package / "defs" / "transform" / "defs.yaml").read_text()
    )
    assert component["type"] == "floe_lineage.dagster.DbtProjectWithLineage"
    lineage = component["attributes"]["lineage"]
    assert lineage["namespace"] == (
        f"{{{{ env('OPENLINEAGE_NAMESPACE', '{want['lineage_namespace']}') }}}}"
    )
    producer = want["lineage_producer"]
    if producer and producer != OLD_DEFAULT_PRODUCER.format(slug=SLUGS[want["project_name"]]):
        assert lineage["producer"] == producer
    else:  # floe-lineage names its own code at the pinned commit
        assert "producer" not in lineage

    transport = yaml.safe_load((project / "openlineage.yml").read_text())["transport"]
    assert transport["type"] == want["lineage_transport"]
    if want["lineage_transport"] == "file":
        assert transport["log_file_path"] == ".lineage/events.jsonl"
    if want["lineage_transport"] == "http":
        assert transport["url"] == "${OPENLINEAGE_URL}"  # from the environment, never the file

    # The dbt project and its profile are named as floe names the product's: dbt unique ids
    # model.<name>.<model> line up with floe's runtime and lineage.
    slug = SLUGS[want["project_name"]]
    dbt_project = yaml.safe_load((project / "dbt" / "dbt_project.yml").read_text())
    assert dbt_project["name"] == dbt_project["profile"] == DBT_NAMES[slug]
    assert list(dbt_project["models"]) == list(dbt_project["seeds"]) == [DBT_NAMES[slug]]
    profiles = yaml.safe_load((project / "dbt" / "profiles.yml").read_text())
    assert list(profiles) == [DBT_NAMES[slug]]
    assert profiles[DBT_NAMES[slug]]["outputs"]["dev"]["path"] == (
        "{{ env_var('FLOE_DUCKDB_PATH', '../data/warehouse.duckdb') }}"
    )
    lineage_tests = (project / "tests" / "test_lineage.py").read_text()
    assert f'SAMPLE = "{DBT_NAMES[slug]}"' in lineage_tests
    snapshot = project / "tests" / "__snapshots__" / "test_lineage"
    jobs = (snapshot / "test_lineage_is_the_reviewed_one.txt").read_text()
    assert f"  model.{DBT_NAMES[slug]}.orders (MODEL): COMPLETE" in jobs
    assert ".floe." not in jobs or DBT_NAMES[slug] == "floe"

    schedule_defs = project / "src" / package / "defs" / "schedule" / "defs.yaml"
    if want["floe_spec"]:
        spec = yaml.safe_load((project / "floe.yaml").read_text())
        assert (spec["apiVersion"], spec["kind"]) == ("floe.dev/v1", "FloeSpec")
        owner = {"owner": want["floe_owner"]} if want["floe_owner"] else {}
        assert spec["metadata"] == {
            "name": slug,
            "version": "0.1.0",
            "description": want["description"],
            **owner,
        }
        assert spec["schedule"] == {"cron": "0 6 * * *", "timezone": "UTC", "enabled": False}
        assert yaml.safe_load(schedule_defs.read_text()) == {
            "type": "floe_lineage.dagster.FloeSchedule",
            "attributes": {"spec": "floe.yaml", "target": "kind:dbt"},
        }
    else:
        assert not (project / "floe.yaml").exists()
        assert not schedule_defs.parent.exists()
    if want.get("floe_manifest"):
        assert spec["platform"] == {"manifest": "./manifest.yaml"}
        manifest = yaml.safe_load((project / "manifest.yaml").read_text())
        assert (manifest["apiVersion"], manifest["kind"]) == ("floe.dev/v1", "Manifest")
        assert manifest["plugins"]["compute"] == {
            "type": "duckdb",
            "config": {"path": "warehouse.duckdb", "threads": 4},
        }
        assert manifest["plugins"]["orchestrator"] == {"type": "dagster"}
    else:
        assert not (project / "manifest.yaml").exists()
        assert not want["floe_spec"] or "platform" not in spec

    readme = (project / "README.md").read_text()
    assert readme.startswith(f"# {want['project_name']}\n")
    assert want["description"] in readme
    assert want["lineage_namespace"] in readme


@pytest.mark.parametrize("name", ["defaults", "http"])
def test_the_project_depends_on_floe_lineage_at_the_rendered_commit(
    name: str, rendered: Renders
) -> None:
    project = tomllib.loads((rendered(name) / "pyproject.toml").read_text())["project"]
    runtime = {r.name: r for r in map(Requirement, project["dependencies"])}
    dev = {r.name: r for r in map(Requirement, project["optional-dependencies"]["dev"])}
    assert set(runtime) == {"dagster", "dbt-duckdb", "floe-lineage"}
    assert set(dev) >= {
        "dagster-webserver",
        "dagster-dg-cli",
        "pytest",
        "syrupy",
        "ruff",
    }
    assert runtime["dagster"].specifier.contains("1.13.0")
    pin = re.fullmatch(
        r"git\+file://localhost(?P<repo>/.+)@(?P<commit>[0-9a-f]{40})#subdirectory=floe-lineage",
        runtime["floe-lineage"].url or "",
    )
    assert pin is not None, runtime["floe-lineage"]
    assert Path(pin["repo"]) == ROOT


def test_floe_lineage_keeps_the_supported_ranges() -> None:
    package = tomllib.loads((ROOT / "floe-lineage" / "pyproject.toml").read_text())["project"]
    runtime = {r.name: r for r in map(Requirement, package["dependencies"])}
    assert runtime["dagster"].specifier.contains("1.13.0")
    assert runtime["dagster-dbt"].specifier.contains("0.29.0")
    assert runtime["openlineage-python"].specifier.contains("1.54.0")
    # dbt-core 1.12 cannot be installed here: the range must stop before it.
    assert runtime["dbt-core"].specifier.contains("1.11.0")
    assert not runtime["dbt-core"].specifier.contains("1.12.0")


# What the floe-lineage requirement points at, for each way of naming the template.
SOURCES = {
    "gh:acme/floe": "git+https://github.com/acme/floe",
    "gl:acme/floe.git": "git+https://gitlab.com/acme/floe.git",
    "https://github.com/acme/floe.git": "git+https://github.com/acme/floe.git",
    "git+https://git.example.com/floe": "git+https://git.example.com/floe",
    "git@github.com:acme/floe.git": "git+ssh://git@github.com/acme/floe.git",
    "ssh://git@git.example.com/acme/floe.git": "git+ssh://git@git.example.com/acme/floe.git",
    # pip 23.2 (what `python3 -m venv` gives Python 3.11) refuses a git+file URL without a host
    "/srv/templates/floe": "git+file://localhost/srv/templates/floe",
    "file:///srv/templates/floe": "git+file://localhost/srv/templates/floe",
}


@pytest.mark.parametrize(("source", "url"), SOURCES.items())
def test_the_pin_names_the_template_repository_as_pip_reads_it(source: str, url: str) -> None:
    """The Jinja of pyproject.toml.jinja, with copier's filters, for each way a template is
    named (copier records it as ``_src_path``)."""
    from copier._main import Worker

    with Worker(src_path=str(ROOT), dst_path=Path("unused"), vcs_ref="HEAD") as worker:
        environment = worker.jinja_env
    text = environment.from_string((TEMPLATE / "pyproject.toml.jinja").read_text()).render(
        _copier_answers={"_src_path": source},
        _copier_conf={"vcs_ref_hash": "f" * 40},
        project_slug="p",
        description="d",
        python_version="3.11",
        package_name="p",
    )
    requirement = next(
        r
        for r in map(Requirement, tomllib.loads(text)["project"]["dependencies"])
        if r.name == "floe-lineage"
    )
    assert requirement.url == f"{url}@{'f' * 40}#subdirectory=floe-lineage"


def test_cli_render_writes_only_the_destination_and_needs_no_trust(
    tmp_path: Path,
) -> None:
    """``copier copy --defaults`` without ``--trust``: only the destination appears; copier's
    scratch clone is cleaned up; home and temp folders point inside the snapshot."""
    home, scratch = tmp_path / "home", tmp_path / "tmp"
    for folder in (home, scratch, tmp_path / "untouched"):
        folder.mkdir()
    (tmp_path / "untouched" / "keep.txt").write_text("as it was\n")
    destination = tmp_path / "out" / "my-project"

    def snapshot() -> dict[str, int | None]:
        """Every path below tmp_path: a file's modification time, None for a folder."""
        return {
            str(p.relative_to(tmp_path)): p.stat().st_mtime_ns if p.is_file() else None
            for p in tmp_path.rglob("*")
        }

    before = snapshot()
    env = {
        **os.environ,
        "HOME": str(home),
        "TMPDIR": str(scratch),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
    }
    done = subprocess.run(
        [
            tool("copier"),
            "copy",
            "--defaults",
            "--data",
            "project_name=My Project",
            str(ROOT),
            str(destination),
        ],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "trust" not in done.stderr.lower() and "unsafe" not in done.stderr.lower()
    assert (destination / ANSWERS_FILE).is_file()
    assert (destination / "src" / "my_project" / "definitions.py").is_file()

    after = snapshot()
    changed = {p for p in set(before) | set(after) if before.get(p, -1) != after.get(p, -1)}
    inside = Path("out") / "my-project"
    allowed = {"out", str(inside)}  # the destination and its parent, created for it
    outside = {p for p in changed if p not in allowed and inside not in Path(p).parents}
    assert outside == set()
    assert list(scratch.iterdir()) == [], "copier left temporary files behind"


def test_python_api_refuses_nothing_without_trust(tmp_path: Path) -> None:
    """The template has no tasks, migrations or Jinja extensions: unsafe=False renders it."""
    config = copier_yml()
    assert not {"_tasks", "_migrations", "_jinja_extensions"} & set(config)
    project = render(tmp_path / "p", {"project_name": "Trustless"})
    assert (project / "src" / "trustless" / "definitions.py").is_file()


# manifest.yaml's lineage, per lineage_transport: floe's runtime sends lineage only to a backend
# plugin (Marquez: http); floe compile's own events go to observability.lineage.
MANIFEST_LINEAGE = {
    "file": (None, {"transport": "noop"}),
    "console": (None, {"transport": "console"}),
    "http": (
        {"type": "marquez", "config": {"url": "http://localhost:5000"}},
        {"transport": "noop"},
    ),
}


@pytest.mark.parametrize("transport", sorted(MANIFEST_LINEAGE))
def test_the_manifests_lineage_follows_the_transport(transport: str, tmp_path: Path) -> None:
    data = {"project_name": "Lake", "lineage_transport": transport, "floe_owner": "data@x.test"}
    manifest = yaml.safe_load((render(tmp_path / "p", data) / "manifest.yaml").read_text())
    backend, observability = MANIFEST_LINEAGE[transport]
    assert manifest["plugins"].get("lineage_backend") == backend
    assert manifest["observability"] == {"lineage": observability}
    assert manifest["metadata"]["owner"] == "data@x.test"
