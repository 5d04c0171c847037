"""``floe-lineage diff`` and ``impact``: the lineage of two captures compared, the columns one
column reaches. Inputs are the session's ``build`` capture, changed by editing its events (no new
dbt runs), and small hand-written event files."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_dbt_project
from schema_oracle import assert_schema_valid, schema_problems

from floe_lineage.dbt.manifest import run_manifest
from floe_lineage.graph.model import LineageGraph
from floe_lineage.graph.static import static_events
from floe_lineage.schemas import CLASSIFICATION_SCHEMA_URL
from floe_lineage.tools.cli import main

FLOE_LINEAGE = Path(sys.executable).parent / "floe-lineage"
NS = "duckdb://db"
DB = "warehouse.main"
PRODUCER = "https://example.com/floe-tests"
FACETS = "https://openlineage.io/spec/facets"


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``floe-lineage`` in this process (an exception escaping it fails the test: the command
    line would have printed a traceback); ``in_a_process`` runs the real command."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def in_a_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLOE_LINEAGE), *map(str, args)], capture_output=True, text=True, check=False
    )


def write_events(path: Path, events: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def datasets_of(events: list[dict[str, Any]], name: str) -> Iterator[dict[str, Any]]:
    """Every description of dataset ``name`` (as read or written) in the events."""
    for event in events:
        for part in ("inputs", "outputs"):
            for dataset in event.get(part) or []:
                if dataset["name"] == name:
                    yield dataset


def edited(events: list[dict[str, Any]], change: Callable[[dict[str, Any]], None]) -> list:
    """A copy of the events with ``change`` applied to every dataset description, and new run
    ids and times (another run of the same project)."""
    changed = copy.deepcopy(events)
    ids: dict[str, str] = {}
    for event in changed:
        run = event["run"]
        run["runId"] = ids.setdefault(run["runId"], str(uuid.uuid4()))
        event["eventTime"] = "2030-01-01T00:00:00.000000+00:00"
        for part in ("inputs", "outputs"):
            for dataset in event.get(part) or []:
                change(dataset)
    return changed


def full(events: list[dict[str, Any]], suffix: str) -> str:
    names = {d["name"] for e in events for p in ("inputs", "outputs") for d in e.get(p) or []}
    (found,) = [n for n in names if n.endswith(f".{suffix}")]
    return found


def lineage_fields(dataset: dict[str, Any]) -> dict[str, Any]:
    return dataset.get("facets", {}).get("columnLineage", {}).get("fields", {})


@pytest.fixture
def sample_events(build) -> list[dict[str, Any]]:
    _, ws = build
    return ws.events()


def diff_json(base: Path, head: Path) -> tuple[int, dict[str, Any]]:
    done = cli("diff", base, head, "--format", "json")
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def names(columns: list[dict[str, str]]) -> set[str]:
    return {f"{c['dataset'].rsplit('.', 1)[-1]}.{c['column']}" for c in columns}


def test_an_unchanged_project_diffs_empty(sample_events, tmp_path: Path):
    base = write_events(tmp_path / "base.jsonl", sample_events)
    head = write_events(tmp_path / "head.jsonl", edited(sample_events, lambda d: None))
    for form in ("text", "markdown", "json"):
        done = cli("diff", base, head, "--format", form)
        assert done.returncode == 0, done.stdout + done.stderr
    assert "no lineage changes" in cli("diff", base, head).stdout
    code, found = diff_json(base, head)
    assert code == 0 and found["changed"] is False and found["impact"] == []


def test_a_rerouted_column_names_it_and_every_column_downstream_and_nothing_else(
    sample_events, tmp_path: Path
):
    """``stg_orders.ordered_at`` now comes from ``raw_orders.id``: the diff names that column's
    edges and, as impact, that column and the columns computed from it in ``orders`` and
    ``customers``, and nothing else."""
    stg_orders = full(sample_events, "stg_orders")

    def reroute(dataset: dict[str, Any]) -> None:
        if dataset["name"] == stg_orders and "ordered_at" in lineage_fields(dataset):
            (source,) = lineage_fields(dataset)["ordered_at"]["inputFields"]
            source["field"] = "id"

    base = write_events(tmp_path / "base.jsonl", sample_events)
    head = write_events(tmp_path / "head.jsonl", edited(sample_events, reroute))
    code, found = diff_json(base, head)
    assert code == 1
    assert names(found["impact"]) == {
        "stg_orders.ordered_at",
        "orders.ordered_at",
        "customers.first_order_at",
        "customers.last_order_at",
    }
    (removed,) = found["columnLineage"]["removed"]
    (added,) = found["columnLineage"]["added"]
    assert (removed["source"]["column"], added["source"]["column"]) == ("ordered_at", "id")
    assert removed["target"] == added["target"] == {"dataset": stg_orders, "column": "ordered_at"}
    assert added["type"] == "DIRECT" and added["subtype"] == removed["subtype"]
    for part in ("datasets", "jobs", "columns"):
        assert all(not changes for changes in found[part].values()), part
    assert found["classification"] == []
    text = cli("diff", base, head).stdout
    assert f"{stg_orders}.ordered_at" in text and "impact" in text
    markdown = cli("diff", base, head, "--format", "markdown").stdout
    assert markdown.startswith("## Lineage diff") and f"`{stg_orders}.ordered_at`" in markdown


def test_a_renamed_column_is_a_remove_and_an_add_with_impact(sample_events, tmp_path: Path):
    """``stg_customers.email`` renamed ``email_address`` (and ``customers`` and the snapshot
    ``customers_snapshot`` read it as such)."""
    stg_customers = full(sample_events, "stg_customers")

    def rename(dataset: dict[str, Any]) -> None:
        if dataset["name"] == stg_customers:
            for field in dataset.get("facets", {}).get("schema", {}).get("fields", []):
                if field["name"] == "email":
                    field["name"] = "email_address"
            fields = lineage_fields(dataset)
            if "email" in fields:
                fields["email_address"] = fields.pop("email")
        for spec in lineage_fields(dataset).values():
            for source in spec["inputFields"]:
                if (source["name"], source["field"]) == (stg_customers, "email"):
                    source["field"] = "email_address"

    base = write_events(tmp_path / "base.jsonl", sample_events)
    head = write_events(tmp_path / "head.jsonl", edited(sample_events, rename))
    code, found = diff_json(base, head)
    assert code == 1
    assert names(found["columns"]["removed"]) == {"stg_customers.email"}
    assert names(found["columns"]["added"]) == {"stg_customers.email_address"}
    assert names(found["impact"]) == {
        "stg_customers.email",
        "stg_customers.email_address",
        "customers.email",
        "customers_snapshot.email",  # a snapshot of stg_customers
    }

    def hops(edges: list[dict[str, Any]]) -> set[tuple[str, str]]:
        return {(next(iter(names([e["source"]]))), next(iter(names([e["target"]])))) for e in edges}

    assert hops(found["columnLineage"]["removed"]) == {
        ("raw_customers.email", "stg_customers.email"),
        ("stg_customers.email", "customers.email"),
        ("stg_customers.email", "customers_snapshot.email"),
    }
    assert hops(found["columnLineage"]["added"]) == {
        ("raw_customers.email", "stg_customers.email_address"),
        ("stg_customers.email_address", "customers.email"),
        ("stg_customers.email_address", "customers_snapshot.email"),
    }


def test_impact_lists_columns_downstream_and_upstream_with_paths(sample_events, tmp_path: Path):
    events = write_events(tmp_path / "events.jsonl", sample_events)
    done = cli("impact", "stg_orders.ordered_at", events, "--format", "json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert names(found["columns"]) == {
        "orders.ordered_at",
        "customers.first_order_at",
        "customers.last_order_at",
    }
    deepest = max(found["columns"], key=lambda c: c["depth"])
    assert deepest["depth"] == 2
    assert [hop["target"].rsplit(".", 2)[-2] for hop in deepest["path"]] == ["orders", "customers"]
    up = cli("impact", "customers.last_order_at", events, "--upstream")
    assert up.returncode == 0, up.stderr
    assert "raw_orders.ordered_at (depth 3)" in up.stdout
    assert "-DIRECT" in up.stdout


def chain(*, reroute: bool = False, classified: str = "public") -> list[dict[str, Any]]:
    """Hand-written events: seed ``a`` (x, y) -> model ``b`` (x from a.x, or a.y when
    ``reroute``; rows filtered on a.y) -> model ``c`` (total from b.x)."""

    def source(table: str, column: str, kind: str = "DIRECT", subtype: str = "IDENTITY"):
        transformation = {"type": kind, "subtype": subtype}
        return {
            "namespace": NS,
            "name": f"{DB}.{table}",
            "field": column,
            "transformations": [transformation],
        }

    def facet(url: str, **content: Any) -> dict[str, Any]:
        return {"_producer": PRODUCER, "_schemaURL": url, **content}

    def dataset(table: str, columns: dict[str, str], lineage=None, indirect=None):
        facets: dict[str, Any] = {
            "schema": facet(
                f"{FACETS}/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                fields=[{"name": k, "type": v} for k, v in columns.items()],
            )
        }
        if lineage:
            facets["columnLineage"] = facet(
                f"{FACETS}/1-2-0/ColumnLineageDatasetFacet.json#/$defs/ColumnLineageDatasetFacet",
                fields={k: {"inputFields": v} for k, v in lineage.items()},
                **({"dataset": indirect} if indirect else {}),
            )
        if table == "b":
            facets["columnClassification"] = facet(
                CLASSIFICATION_SCHEMA_URL, fields={"x": {"classification": classified}}
            )
        return {"namespace": NS, "name": f"{DB}.{table}", "facets": facets}

    def job(name: str, inputs: list, outputs: list) -> dict[str, Any]:
        return {
            "eventType": "COMPLETE",
            "eventTime": "2030-01-01T00:00:00Z",
            "run": {"runId": str(uuid.uuid4())},
            "job": {
                "namespace": "floe",
                "name": f"model.p.{name}",
                "facets": {
                    "jobType": facet(
                        f"{FACETS}/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
                        processingType="BATCH",
                        integration="DBT",
                        jobType="MODEL",
                    )
                },
            },
            "inputs": inputs,
            "outputs": outputs,
        }

    a = dataset("a", {"x": "INTEGER", "y": "INTEGER"})
    b = dataset(
        "b",
        {"x": "INTEGER"},
        {"x": [source("a", "y" if reroute else "x")]},
        [source("a", "y", "INDIRECT", "FILTER")],
    )
    c = dataset("c", {"total": "BIGINT"}, {"total": [source("b", "x", "DIRECT", "AGGREGATION")]})
    return [job("a", [], [a]), job("b", [a], [b]), job("c", [b], [c])]


def test_diff_core_on_hand_written_events(tmp_path: Path):
    base = write_events(tmp_path / "base.jsonl", chain())
    assert cli("diff", base, write_events(tmp_path / "same.jsonl", chain())).returncode == 0
    head = write_events(tmp_path / "head.jsonl", chain(reroute=True, classified="pii"))
    code, found = diff_json(base, head)
    assert code == 1
    assert names(found["impact"]) == {"b.x", "c.total"}
    assert [(r["column"], r["base"], r["head"]) for r in found["classification"]] == [
        ("x", {"classification": "public"}, {"classification": "pii"})
    ]
    # the filter decides every row of b: upstream of c.total are a.x and a.y
    up = cli("impact", "c.total", base, "--upstream", "--format", "json")
    assert names(json.loads(up.stdout)["columns"]) == {"b.x", "a.x", "a.y"}
    down = json.loads(cli("impact", "a.y", base, "--format", "json").stdout)
    assert names(down["columns"]) == {"b.x", "c.total"}
    assert [h["subtype"] for h in down["columns"][1]["path"]] == ["FILTER", "AGGREGATION"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{not json\n", "not a JSON event"),
        ("[]\n", "not an OpenLineage event: a JSON list, not an object"),
        ("{}\n", "not an OpenLineage event: no job.name"),
        ("", "holds no events"),
        (
            json.dumps(
                {
                    **chain()[1],
                    "outputs": [
                        {
                            "name": "x",
                            "namespace": NS,
                            "facets": {"columnLineage": {"fields": ["x"]}},
                        }
                    ],
                }
            )
            + "\n",
            "malformed",
        ),
    ],
    # stable ids: the last case holds a random run id, and xdist's workers must agree on ids
    ids=["not JSON", "a list", "no job name", "empty", "column lineage not a mapping"],
)
def test_malformed_input_is_one_line_of_error(tmp_path: Path, content: str, why: str):
    good = write_events(tmp_path / "good.jsonl", chain())
    bad = tmp_path / "bad.jsonl"
    bad.write_text(content)
    for args in (("diff", good, bad), ("diff", bad, good), ("impact", "b.x", bad)):
        done = cli(*args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stdout == "" and "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1 and why in done.stderr, done.stderr
    missing = cli("diff", good, tmp_path / "missing.jsonl")
    assert missing.returncode == 2 and "no such events file" in missing.stderr
    unknown = cli("impact", "nope.x", good)
    assert unknown.returncode == 2 and "names no dataset" in unknown.stderr


def test_the_command_exits_2_with_one_line_and_no_traceback(tmp_path: Path):
    good = write_events(tmp_path / "good.jsonl", chain())
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    done = in_a_process("diff", good, bad)
    assert (done.returncode, done.stdout) == (2, "")
    assert (
        done.stderr.startswith(f"error: {bad}:1: not a JSON event") and done.stderr.count("\n") == 1
    )
    changed = in_a_process("diff", good, write_events(tmp_path / "h.jsonl", chain(reroute=True)))
    assert changed.returncode == 1 and "impact" in changed.stdout


def test_publish_static_sends_the_dag_as_valid_job_and_dataset_events(
    sample_events, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Through the configured (file) transport: one DatasetEvent per dataset, one JobEvent per
    dbt node, strict-valid against the official schemas (plain jsonschema, ``schema_oracle``);
    they describe the same lineage as the capture (an empty diff), and the run-event readers
    (``summary``) skip them in a shared file."""
    captured = write_events(tmp_path / "events.jsonl", sample_events)
    published = tmp_path / "static.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {published}\n  append: true\n")
    monkeypatch.chdir(tmp_path)
    done = cli("publish", "--static", captured, "--config", config)
    assert done.returncode == 0, done.stderr
    assert_schema_valid(published, minimum=2)
    events = [json.loads(line) for line in published.read_text().splitlines()]
    kinds = [e["schemaURL"].rsplit("/", 1)[-1] for e in events]
    assert all("run" not in e and "eventType" not in e for e in events)
    jobs = {e["job"]["name"] for e in events if "job" in e}
    assert {"model.floe.stg_orders", "model.floe.customers", "seed.floe.raw_orders"} <= jobs
    assert kinds.count("DatasetEvent") == 9 and kinds.count("JobEvent") == len(jobs) == 23
    assert f"published 9 datasets and 23 jobs ({len(events)} events)" in done.stdout
    stg_orders = next(
        e["dataset"] for e in events if e.get("dataset", {}).get("name", "").endswith(".stg_orders")
    )
    assert {"schema", "columnLineage"} <= stg_orders["facets"].keys()
    sql = next(
        e["job"]["facets"]["sql"]
        for e in events
        if e.get("job", {}).get("name") == ("model.floe.stg_orders")
    )
    assert "raw_orders" in sql["query"]
    same = cli("diff", captured, published)
    assert same.returncode == 0, same.stdout
    shared = write_events(tmp_path / "shared.jsonl", [*sample_events, *events])
    assert cli("summary", shared).returncode == 0


def test_static_lineage_of_hand_written_events_is_valid(tmp_path: Path):
    graph = LineageGraph.from_events(chain())
    at = datetime(2030, 1, 1, tzinfo=timezone.utc)
    events = list(static_events(graph, "https://example.com/p", at))
    assert [e["schemaURL"].rsplit("/", 1)[-1] for e in events] == ["DatasetEvent"] * 3 + [
        "JobEvent"
    ] * 3
    problems = schema_problems(events)
    assert not problems, problems


@pytest.fixture
def compiled_project(build, tmp_path: Path) -> Path:
    """A copy of the sample dbt project with the compiled manifest of the ``build`` run as its
    ``target/manifest.json`` (as ``dbt compile`` leaves it)."""
    result, ws = build
    project = copy_dbt_project(tmp_path / "dbt", ws.project)
    (project / "target").mkdir()
    shutil.copy(run_manifest(ws.project, result.run_id), project / "target" / "manifest.json")
    return project


def test_the_compiled_project_has_the_lineage_of_its_run(sample_events, compiled_project, tmp_path):
    """Lineage before the first run: traced from the compiled manifest, it equals the lineage
    the run captured (columns, column lineage, jobs; types aside)."""
    captured = write_events(tmp_path / "events.jsonl", sample_events)
    for given in (compiled_project, compiled_project / "target" / "manifest.json"):
        done = cli("diff", captured, given)
        assert done.returncode == 0, done.stdout + done.stderr
    down = cli("impact", "stg_orders.ordered_at", compiled_project, "--format", "json")
    assert names(json.loads(down.stdout)["columns"]) == {
        "orders.ordered_at",
        "customers.first_order_at",
        "customers.last_order_at",
    }


def test_a_rerouted_column_in_the_compiled_project(compiled_project, tmp_path: Path):
    manifest_file = compiled_project / "target" / "manifest.json"
    base = tmp_path / "base" / "manifest.json"
    base.parent.mkdir()
    shutil.copy(manifest_file, base)
    manifest = json.loads(manifest_file.read_text())
    node = manifest["nodes"]["model.floe.stg_orders"]
    assert "        ordered_at,\n" in node["compiled_code"]
    node["compiled_code"] = node["compiled_code"].replace(
        "        ordered_at,\n", "        id as ordered_at,\n"
    )
    manifest_file.write_text(json.dumps(manifest))
    code, found = diff_json(base, manifest_file)  # base: seeds read from the node's root_path
    assert code == 1
    assert names(found["impact"]) == {
        "stg_orders.ordered_at",
        "orders.ordered_at",
        "customers.first_order_at",
        "customers.last_order_at",
    }


def test_publish_static_before_the_first_run(compiled_project, tmp_path, monkeypatch):
    published = tmp_path / "static.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {published}\n  append: true\n")
    monkeypatch.chdir(tmp_path)
    done = cli("publish", "--static", compiled_project, "--config", config)
    assert done.returncode == 0, done.stderr
    assert "published 9 datasets and 23 jobs" in done.stdout
    assert_schema_valid(published, minimum=32)
    events = [json.loads(line) for line in published.read_text().splitlines()]
    customers = next(
        e for e in events if e.get("dataset", {}).get("name", "").endswith(".customers")
    )
    assert "lifetime_value" in customers["dataset"]["facets"]["columnLineage"]["fields"]


def test_a_project_that_cannot_be_read_is_one_line_of_error(compiled_project, tmp_path: Path):
    good = write_events(tmp_path / "good.jsonl", chain())
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken" / "manifest.json"
    broken.parent.mkdir()
    broken.write_text("{not json")
    parsed = tmp_path / "parsed" / "manifest.json"
    parsed.parent.mkdir()
    manifest = json.loads((compiled_project / "target" / "manifest.json").read_text())
    for node in manifest["nodes"].values():
        node.pop("compiled_code", None)
    parsed.write_text(json.dumps(manifest))
    for bad, why in (
        (empty, "no manifest.json"),
        (broken, "not a JSON manifest"),
        (parsed, "dbt compile"),
    ):
        done = cli("diff", good, bad)
        assert done.returncode == 2 and done.stdout == "", (bad, done.stdout)
        assert done.stderr.count("\n") == 1 and why in done.stderr, done.stderr


@pytest.mark.slow
def test_diff_of_two_git_refs_compiles_both_without_a_run(tmp_path: Path, monkeypatch):
    """``diff --git BASE``: the dbt project at BASE and in the working tree, each compiled
    into a temporary target against a database of its own (two `dbt compile`, no run)."""
    project = copy_dbt_project(tmp_path / "repo" / "dbt")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", "-C", str(project)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    model = project / "models" / "staging" / "stg_customers.sql"
    model.write_text(
        model.read_text().replace(
            "country as country_code", "upper(split_part(email, '.', -1)) as country_code"
        )
    )
    monkeypatch.chdir(project.parent)
    monkeypatch.delenv("DBT_PROJECT_DIR", raising=False)
    monkeypatch.delenv("DBT_PROFILES_DIR", raising=False)
    done = cli("diff", "--git", "HEAD", "--format", "json")
    assert done.returncode == 1, done.stdout + done.stderr
    found = json.loads(done.stdout)
    assert names(found["impact"]) == {
        "stg_customers.country_code",
        "customers.country_code",
        "customers_snapshot.country_code",
    }
    assert not list(tmp_path.rglob("*.duckdb"))  # the project's own database is not touched
    listed = subprocess.run([*git, "worktree", "list"], capture_output=True, text=True).stdout
    assert listed.count("\n") == 1  # the temporary worktree is gone
    unknown = cli("diff", "--git", "no-such-ref")
    assert unknown.returncode == 2 and "invalid reference" in unknown.stderr


def test_retyped_columns_and_removed_models(tmp_path: Path):
    """A retyped column is listed with both types and impacts nothing by itself; a removed model
    removes its job, its dataset and the edges into it, and its columns are not impact."""
    base_events = chain()
    base = write_events(tmp_path / "base.jsonl", base_events)
    retyped = copy.deepcopy(base_events)
    retyped[2]["outputs"][0]["facets"]["schema"]["fields"][0]["type"] = "HUGEINT"
    code, found = diff_json(base, write_events(tmp_path / "retyped.jsonl", retyped))
    assert code == 1
    assert found["columns"]["retyped"] == [
        {"dataset": f"{DB}.c", "column": "total", "base": "BIGINT", "head": "HUGEINT"}
    ]
    assert found["impact"] == [] and found["columnLineage"] == {"added": [], "removed": []}
    code, found = diff_json(base, write_events(tmp_path / "fewer.jsonl", base_events[:2]))
    assert code == 1
    assert (found["jobs"]["removed"], found["datasets"]["removed"]) == (["model.p.c"], [f"{DB}.c"])
    assert [
        (e["source"]["column"], e["target"]["column"]) for e in found["columnLineage"]["removed"]
    ] == [("x", "total")]
    assert found["impact"] == [] and found["columns"]["removed"] == []
    code, found = diff_json(write_events(tmp_path / "fewer.jsonl", base_events[:2]), base)
    assert (found["jobs"]["added"], found["datasets"]["added"]) == (["model.p.c"], [f"{DB}.c"])
    assert names(found["impact"]) == {"c.total"}
