"""floe-lineage as a package: its layers, its transport registered with openlineage-python's
factory, its ways to extend it without forking, retries, imports on any platform, and the
producer it names by default."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import fsspec
import pytest
from conftest import (
    NAMESPACE,
    copy_dbt_project,
    dbt_defs,
    make_workspace,
    materialize,
    step_name,
)
from dagster_dbt import DbtProject
from openlineage.client.event_v2 import RunState
from openlineage.client.generated.base import RunFacet
from rfc3986_validator import validate_rfc3986

import floe_lineage
from floe_lineage import producer
from floe_lineage.dagster.component import DbtProjectWithLineage, LineageSettings
from floe_lineage.dbt.manifest import DbtNode
from floe_lineage.dbt.profile import ProfileTarget
from floe_lineage.delivery.config import load_config
from floe_lineage.delivery.emitter import LineageEmitter
from floe_lineage.delivery.file_transport import AppendingFileTransport
from floe_lineage.schemas import CLASSIFICATION_SCHEMA_ID, repository_url, shipped_schemas
from floe_lineage.tools.check import TERMINAL
from floe_lineage.warehouse import DuckDBWarehouse, register_warehouse, warehouse_for

PACKAGE = Path(floe_lineage.__file__).parent


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=False
    )


def test_the_core_imports_no_orchestrator():
    done = python(
        """
        import sys
        import floe_lineage.invocation, floe_lineage.tools.cli, floe_lineage.warehouse
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dagster", "dagster_dbt"))
        print(loaded)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    for module in ("dbt", "openlineage", "warehouse", "delivery", "tools"):
        for path in (PACKAGE / module).rglob("*.py"):
            assert not re.search(r"^\s*(from|import) dagster", path.read_text(), re.M), path


def test_the_package_imports_without_fcntl():
    """Windows has no fcntl: nothing may need it at import (the spool locks with msvcrt)."""
    done = python(
        """
        import sys
        sys.modules["fcntl"] = None  # import fcntl now raises ImportError
        import floe_lineage.dagster, floe_lineage.delivery.spool, floe_lineage.tools.cli
        import floe_lineage.testing.plugin, floe_lineage.testing.capture
        print("imported")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "imported"


def test_the_package_reads_no_test_harness_variable():
    for path in PACKAGE.rglob("*.py"):
        assert "FLOE_OL_VALIDATOR" not in path.read_text(), path


def test_the_version_is_the_distributions():
    assert floe_lineage.__version__ == "0.5.2"
    changelog = (PACKAGE.parents[1] / "CHANGELOG.md").read_text()
    assert f"\n## {floe_lineage.__version__}\n" in changelog


def test_own_schemas_are_named_by_a_file_on_the_branch_that_travels():
    """Only branch main travels (no tags): each own schema's ``$id`` is its file there."""
    own = [s["$id"] for s in shipped_schemas() if "floe-pipeline-template" in s["$id"]]
    assert CLASSIFICATION_SCHEMA_ID in own and len(own) == 2
    for schema_id in own:
        prefix = "https://github.com/floe-dev/floe-pipeline-template/blob/main/"
        assert schema_id.startswith(prefix), schema_id
        assert (PACKAGE.parents[2] / schema_id.removeprefix(prefix)).is_file(), schema_id


def test_the_shipped_openlineage_schemas_keep_their_licence_and_source():
    folder = PACKAGE / "schemas" / "openlineage"
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert "8f02abfb7a252783b95df79f443edb13959bf52c" in (folder / "SOURCE").read_text()
    ids = {s["$id"] for s in shipped_schemas()}
    assert "https://openlineage.io/spec/2-0-2/OpenLineage.json" in ids


def composite_config(tmp_path: Path, events: Path) -> Path:
    config = tmp_path / "openlineage.yml"
    config.write_text(
        "transport:\n"
        "  type: composite\n"
        "  transports:\n"
        "    local:\n"
        f"      type: file\n      log_file_path: {events}\n      append: true\n"
        "    quiet:\n"
        "      type: noop\n"
    )
    return config


def test_a_file_child_of_composite_is_the_appending_transport(tmp_path: Path):
    transport = load_config(composite_config(tmp_path, tmp_path / "events.jsonl")).transport()
    assert transport.kind == "composite"
    assert isinstance(transport.transports[0], AppendingFileTransport)


WRITER = """
import sys
from pathlib import Path
from floe_lineage.delivery.config import load_config

transport = load_config(Path(sys.argv[1])).transport()
for number in range(200):
    transport.emit({"writer": sys.argv[2], "n": number, "padding": "x" * 200_000})
transport.close()
"""


def test_concurrent_appends_through_composite_never_interleave(tmp_path: Path):
    """Two processes append 200 events of 200 kB each through a composite transport's file
    child: every line is one whole event (a buffered stock write splits such lines)."""
    events = tmp_path / "events.jsonl"
    config = composite_config(tmp_path, events)
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(config), name]) for name in "ab"]
    assert [w.wait() for w in writers] == [0, 0]
    lines = events.read_bytes().splitlines()
    parsed = [json.loads(line) for line in lines]
    assert len(parsed) == 400
    for name in "ab":
        assert [e["n"] for e in parsed if e["writer"] == name] == list(range(200))


def test_a_url_path_goes_through_fsspec(tmp_path: Path):
    config = tmp_path / "openlineage.yml"
    config.write_text(
        "transport:\n  type: file\n  log_file_path: memory://floe-tests/events.jsonl\n"
        "  append: true\n"
    )
    transport = load_config(config).transport()
    transport.emit({"n": 1})
    transport.emit({"n": 2})
    stored = fsspec.filesystem("memory").cat("memory://floe-tests/events.jsonl")
    assert [json.loads(line) for line in stored.splitlines()] == [{"n": 1}, {"n": 2}]
    assert not (tmp_path / "memory:").exists()


def test_a_file_url_appends_locally(tmp_path: Path):
    events = tmp_path / "from-url.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(
        f"transport:\n  type: file\n  log_file_path: {events.as_uri()}\n  append: true\n"
    )
    transport = load_config(config).transport()
    transport.emit({"n": 1})
    transport.close()
    assert json.loads(events.read_text()) == {"n": 1}


def test_the_emitter_is_a_context_manager_that_closes_its_transport(tmp_path: Path):
    events = tmp_path / "events.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events}\n  append: true\n")
    with LineageEmitter.configure(None, config_path=config, strict=True) as emitter:
        emitter.emit({"n": 1})
        transport = emitter._client
    assert transport._file._fd is None  # closed on leaving the block
    assert json.loads(events.read_text()) == {"n": 1}


# -- extending without forking ------------------------------------------------------------


class TeamRunFacet(RunFacet):
    """A facet of a team's own (the test's extra_facets callable returns it)."""


def team_facets(node: DbtNode, state: RunState) -> dict[str, Any]:
    return {"team": TeamRunFacet()} if node.resource_type == "model" else {}


def broken_facets(node: DbtNode, state: RunState) -> dict[str, Any]:
    return {"team": {"not": "a facet"}}


def test_extra_facets_come_from_a_callable_named_in_the_settings(workspace):
    result = materialize(
        workspace,
        selection=["raw_customers", "stg_customers"],
        extra_facets=f"{__name__}:team_facets",
    )
    assert result.success
    by_job = {(e["job"]["name"], e["eventType"]): e for e in workspace.events()}
    for state in ("START", "COMPLETE"):
        assert "team" in by_job[("model.floe.stg_customers", state)]["run"]["facets"]
    assert "team" not in by_job[("seed.floe.raw_customers", "COMPLETE")]["run"]["facets"]


def test_a_broken_facet_callable_costs_its_facets_not_the_events(workspace):
    instance = dg.DagsterInstance.ephemeral()
    result = materialize(
        workspace,
        strict=False,
        selection="raw_orders",
        instance=instance,
        extra_facets=f"{__name__}:broken_facets",
    )
    assert result.success
    kinds = [e["eventType"] for e in workspace.events()]
    assert kinds == ["START", "START", "COMPLETE", "COMPLETE"]  # the seed's facts in its COMPLETE
    warnings = [
        log.user_message
        for log in instance.all_logs(result.run_id)
        if "extra facets" in log.user_message
    ]
    assert len(warnings) == 1 and "not an OpenLineage RunFacet" in warnings[0]


def test_an_unimportable_facet_callable_fails_when_the_definitions_load(workspace):
    with pytest.raises(ValueError, match="names no importable callable"):
        dbt_defs(workspace, extra_facets="no_such_module:facets")


def test_asset_metadata_is_auto_unless_set_to_true_or_false():
    assert LineageSettings.resolve_from_dict({}).asset_metadata == "auto"
    for value in ("auto", True, False):
        assert LineageSettings.resolve_from_dict({"asset_metadata": value}).asset_metadata is (
            value
        )


def test_views_are_counted_by_default_within_ten_seconds_each():
    settings = LineageSettings.resolve_from_dict({})
    assert (settings.count_view_rows, settings.view_count_timeout) == (True, 10.0)


@pytest.mark.parametrize("value", [0, -1.5])
def test_a_view_count_timeout_not_above_zero_fails_when_the_definitions_load(value: float):
    with pytest.raises(ValueError, match="view_count_timeout must be a number of seconds above 0"):
        LineageSettings.resolve_from_dict({"view_count_timeout": value})


@pytest.mark.parametrize("value", ["yes", "true", "always"])
def test_any_other_asset_metadata_fails_when_the_definitions_load(value: object):
    with pytest.raises(ValueError, match="asset_metadata must be auto, true or false"):
        LineageSettings.resolve_from_dict({"asset_metadata": value})


# -- the default producer -----------------------------------------------------------------

COMMIT = "0f3c1a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"
# direct_url.json (PEP 610) as uv and pip write it for a generated project's pin,
# floe-lineage @ git+https://github.com/floe-dev/floe-pipeline-template.git@<commit>#subdirectory=floe-lineage
PINNED = {
    "url": "https://github.com/floe-dev/floe-pipeline-template.git",
    "vcs_info": {"vcs": "git", "commit_id": COMMIT, "requested_revision": COMMIT},
    "subdirectory": "floe-lineage",
}
AT_COMMIT = {
    "a generated project's pin": (
        PINNED,
        f"https://github.com/floe-dev/floe-pipeline-template/tree/{COMMIT}/floe-lineage",
    ),
    "a fork, git+ prefix, credentials from the environment, trailing slash": (
        PINNED
        | {"url": "git+https://${GH_TOKEN}@github.com/acme/floe-fork.git/", "subdirectory": "lib"},
        f"https://github.com/acme/floe-fork/tree/{COMMIT}/lib",
    ),
    "floe-lineage at the root of its repository, over http with a port": (
        {"url": "http://git.acme.example:8080/data/floe-lineage", "vcs_info": PINNED["vcs_info"]},
        f"http://git.acme.example:8080/data/floe-lineage/tree/{COMMIT}",
    ),
}
NOT_AT_COMMIT = {
    "editable checkout": {"url": "file:///home/me/floe-lineage", "dir_info": {"editable": True}},
    "local folder": {"url": "file:///home/me/floe-lineage", "dir_info": {}},
    "wheel": {
        "url": "https://files.example.com/floe_lineage-0.2.2-py3-none-any.whl",
        "archive_info": {"hashes": {"sha256": "ab" * 32}},
    },
    "git over ssh": PINNED | {"url": "ssh://git@github.com/floe-dev/floe-pipeline-template.git"},
    "git from a local path": PINNED | {"url": "file:///srv/git/floe-pipeline-template"},
    "another VCS": PINNED | {"vcs_info": {"vcs": "hg", "commit_id": COMMIT}},
    "no commit": PINNED | {"vcs_info": {"vcs": "git"}},
    "a subdirectory outside the repository": PINNED | {"subdirectory": "../elsewhere"},
    "a URL no URI can hold": PINNED | {"url": "https://github.com/a b/floe"},
    "a URL Python cannot split": PINNED | {"url": "https://[::1/floe"},
    "installed from an index (no direct_url.json)": None,
}


class InstalledAs:
    """floe-lineage's distribution as installed with ``direct_url`` (None: without one)."""

    def __init__(self, direct_url: dict[str, Any] | None) -> None:
        self.direct_url = direct_url

    def read_text(self, name: str) -> str | None:
        assert name == "direct_url.json"
        return None if self.direct_url is None else json.dumps(self.direct_url)


@pytest.fixture
def installed_as(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``installed_as(direct_url)``: floe-lineage reads that ``direct_url.json`` from now on."""

    real = producer.metadata.distribution

    def install(direct_url: dict[str, Any] | None) -> None:
        monkeypatch.setattr(
            producer.metadata,
            "distribution",
            lambda name: InstalledAs(direct_url) if name == "floe-lineage" else real(name),
        )
        producer.default_producer.cache_clear()

    producer.default_producer.cache_clear()
    yield install
    producer.default_producer.cache_clear()


@pytest.mark.parametrize(("direct_url", "expected"), AT_COMMIT.values(), ids=AT_COMMIT.keys())
def test_the_default_producer_is_floe_lineage_at_the_commit_its_git_install_names(
    installed_as: Any, direct_url: dict[str, Any], expected: str
):
    installed_as(direct_url)
    assert producer.default_producer() == expected
    assert validate_rfc3986(expected, rule="URI")
    assert LineageSettings.resolve_from_dict({}).producer == expected
    assert LineageSettings(producer=None).producer == expected


@pytest.mark.parametrize("direct_url", NOT_AT_COMMIT.values(), ids=NOT_AT_COMMIT.keys())
def test_any_other_install_defaults_to_the_repository_on_main(
    installed_as: Any, direct_url: dict[str, Any] | None
):
    expected = f"{repository_url()}/tree/main/floe-lineage"
    assert expected == "https://github.com/floe-dev/floe-pipeline-template/tree/main/floe-lineage"
    installed_as(direct_url)
    assert producer.default_producer() == expected
    assert LineageSettings.resolve_from_dict({}).producer == expected


def test_the_default_producer_is_read_once(installed_as: Any, monkeypatch: pytest.MonkeyPatch):
    installed_as(PINNED)
    first = producer.default_producer()
    monkeypatch.setattr(producer, "installed_from", lambda: pytest.fail("read again"))
    assert producer.default_producer() == first


def test_the_installed_floe_lineage_has_a_default_producer():
    found = producer.default_producer()
    assert validate_rfc3986(found, rule="URI")
    assert found.startswith(repository_url() + "/tree/")


def test_an_explicit_producer_wins(installed_as: Any):
    installed_as(PINNED)
    ours = "https://github.com/acme/my-data-platform"
    assert LineageSettings.resolve_from_dict({"producer": ours}).producer == ours
    refused = (
        "lineage.producer must be an absolute URI, such as https://github.com/acme/my-project"
        " (got 'github.com/acme/x')"
    )
    with pytest.raises(ValueError, match=re.escape(refused)):
        LineageSettings.resolve_from_dict({"producer": "github.com/acme/x"})


def test_a_component_without_a_producer_emits_the_default(workspace, installed_as: Any):
    """The step's own events, as the component makes them for a Dagster step (no dbt run)."""
    installed_as(PINNED)
    expected = AT_COMMIT["a generated project's pin"][1]
    settings = {"namespace": NAMESPACE, "config_path": str(workspace.config), "strict": True}
    component = DbtProjectWithLineage(
        project=DbtProject(project_dir=workspace.project, profiles_dir=workspace.profiles),
        lineage=LineageSettings.resolve_from_dict(settings),
    )
    component._project_root = workspace.root
    context = SimpleNamespace(
        run=SimpleNamespace(job_name="__ASSET_JOB", run_id=str(uuid.uuid4())),
        get_step_execution_context=lambda: SimpleNamespace(step=SimpleNamespace(key="floe")),
        retry_number=0,
        log=logging.getLogger(__name__),
    )
    dbt = SimpleNamespace(
        project_dir=str(workspace.project),
        profiles_dir=str(workspace.profiles),
        profile=None,
        target=None,
    )
    with component._step_lineage(context, dbt):
        pass
    events = workspace.events()
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    facets = [
        facet
        for event in events
        for part in (event["run"], event["job"])
        for facet in part.get("facets", {}).values()
    ]
    assert facets
    assert {event["producer"] for event in events} == {expected}
    assert {facet["_producer"] for facet in facets} == {expected}


class RenamedDuckDB(DuckDBWarehouse):
    """A team's own warehouse implementation: DuckDB, in a namespace of its own."""

    @classmethod
    def from_target(cls, target: ProfileTarget) -> RenamedDuckDB:
        warehouse = super().from_target(target)
        warehouse.namespace = "ours://warehouse"
        return warehouse


def test_a_custom_warehouse_is_chosen_by_adapter_type(workspace, monkeypatch: pytest.MonkeyPatch):
    from floe_lineage import warehouse

    monkeypatch.setitem(warehouse._FACTORIES, "duckdb", warehouse._FACTORIES["duckdb"])
    register_warehouse("duckdb", RenamedDuckDB.from_target)
    assert isinstance(warehouse_for(_target(workspace)), RenamedDuckDB)
    result = materialize(workspace, selection="raw_orders")
    assert result.success
    (output,) = [
        d for e in workspace.events() for d in e["outputs"] if e["eventType"] == "COMPLETE"
    ]
    assert output["namespace"] == "ours://warehouse"
    assert output["facets"]["schema"]["fields"]  # what the warehouse read


def test_an_adapter_nobody_implements_still_gets_named_datasets(tmp_path: Path):
    target = ProfileTarget(
        tmp_path / "profiles.yml", "p", "dev", {"type": "snowflake", "host": "acme"}, tmp_path
    )
    chosen = warehouse_for(target)
    assert (chosen.supported, chosen.namespace) == (False, "snowflake://acme")
    with (
        pytest.raises(NotImplementedError, match="cannot give a snowflake target"),
        chosen.isolated(tmp_path),
    ):
        pass


def _target(ws: Any) -> ProfileTarget:
    from floe_lineage.dbt.profile import read_target

    return read_target(ws.project, ws.profiles)


# -- retries ------------------------------------------------------------------------------

FLAKY = "select ok from main.retry_flag\n"
# dbt runs on-run-end even after a failure: the first attempt fails, then creates the flag.
FLAG_HOOK = '\non-run-end:\n  - "create table if not exists main.retry_flag as select 1 as ok"\n'


def test_a_retried_step_gets_new_run_ids(tmp_path: Path):
    project = copy_dbt_project(tmp_path / "dbt")
    (project / "models" / "flaky.sql").write_text(FLAKY)
    with (project / "dbt_project.yml").open("a") as config:
        config.write(FLAG_HOOK)
    ws = make_workspace(tmp_path / "ws", project)
    defs = dbt_defs(ws)
    job = dg.define_asset_job(
        "retried", selection=["flaky"], op_retry_policy=dg.RetryPolicy(max_retries=1)
    )
    resolved = dg.Definitions(assets=defs.assets, jobs=[job]).resolve_job_def("retried")

    result = resolved.execute_in_process(raise_on_error=False)

    assert result.success
    events = ws.events()
    flaky = [
        (e["eventType"], e["run"]["runId"])
        for e in events
        if e["job"]["name"] == "model.floe.flaky"
    ]
    assert [state for state, _ in flaky] == ["START", "FAIL", "START", "COMPLETE"]
    first, second = flaky[0][1], flaky[2][1]
    assert first != second and flaky[1][1] == first and flaky[3][1] == second
    step = [e for e in events if e["job"]["name"] == step_name(result)]
    assert [e["eventType"] for e in step] == ["START", "FAIL", "START", "COMPLETE"]
    assert step[0]["run"]["runId"] == step[1]["run"]["runId"] != step[2]["run"]["runId"]
    # every run, of either attempt, has one START then one terminal event
    runs: dict[str, list[str]] = {}
    for event in events:
        runs.setdefault(event["run"]["runId"], []).append(event["eventType"])
    assert all(types[0] == "START" and types[1] in TERMINAL for types in runs.values()), runs
    assert all(set(types[2:]) <= {"OTHER"} for types in runs.values()), runs
