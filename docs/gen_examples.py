"""Generate the parts of the documentation that come from a real run: ``docs/generated/*.md``.

``nox -s docs`` runs this before ``mkdocs build``. It renders the template with copier (this
checkout's HEAD plus uncommitted changes, ``--vcs-ref=HEAD``) into a temporary folder, commits
the rendered project to a fresh git repository (so that jobs carry ``sourceCodeLocation``), then
runs the generated project in a subprocess, twice. Each run loads the project's definitions as
``dg`` does (``<package>.definitions``, so its ``defs.yaml`` configures floe-lineage's
``DbtProjectWithLineage``) and materializes every asset in-process as ``__ASSET_JOB``, the job
``dg launch --assets '*'`` runs:

1. the bundled dbt project, which must succeed;
2. a copy of the dbt project (``DBT_PROJECT_DIR``/``DBT_PROFILES_DIR``, which ``defs.yaml``
   reads) where ``stg_orders`` selects a column that does not exist and ``raw_payments`` has a
   duplicate id, which must fail with FAIL and ABORT events.

Events go to an OpenLineage file transport (``OPENLINEAGE_CONFIG``). From them it writes one
example event per kind, a table of every facet seen, event counts, the output of
``floe-lineage summary``, ``check`` and ``report``, the project layout and some of its files.
Anything unexpected exits non-zero, so the docs build fails: a run that fails or succeeds when it
should not, a lineage warning in a run's Dagster log, a START without exactly one terminal event,
a run id that is not the documented uuid5, an event or facet that the OpenLineage schemas shipped
with floe-lineage reject, an example without a facet the pages point at.

Needs copier, floe-lineage and the generated project's other dependencies in this interpreter's
environment.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).resolve().parent / "generated"
PROJECT_NAME = "My Data Platform"
REMOTE = "https://github.com/example/my-data-platform.git"
JOB = "__ASSET_JOB"
"""The Dagster job of the runs: the implicit asset job, which ``dg launch --assets`` runs."""
DBT_PROJECT = "my_data_platform"
"""The dbt project's name: floe's name for the product, the slug with '_' (``dbt_project.yml``)."""
STEP_OP = DBT_PROJECT
"""The op that runs dbt: dagster-dbt names it after the dbt project (``dbt_project.yml``)."""
TERMINAL = ("COMPLETE", "FAIL", "ABORT")
KINDS = ("step", "seed", "model", "snapshot", "test")
STATES = ("START", *TERMINAL, "OTHER")
"""OTHER: facts about a node's run learnt after its terminal event (see docs/events.md)."""

RUNNER = """
import json

import dagster as dg

from {pkg}.definitions import defs as found

defs = found() if callable(found) else found  # the project's definitions, as dg loads them
job = defs.resolve_implicit_global_asset_job_def()
instance = dg.DagsterInstance.ephemeral()
result = job.execute_in_process(instance=instance, raise_on_error=False)
warnings = [
    entry.user_message
    for entry in instance.all_logs(result.run_id)
    if entry.user_message.startswith("OpenLineage")
]
outcome = {{
    "outcome": "success" if result.success else "failure",
    "run_id": result.run_id,
    "job": result.dagster_run.job_name,
    "warnings": warnings,
}}
print("FLOE-DOCS-RUN", json.dumps(outcome))
"""

# Scrubbed from the environment of the runs: the docs show what the defaults produce.
SCRUBBED = (
    "OPENLINEAGE_CONFIG",
    "OPENLINEAGE_DISABLED",
    "OPENLINEAGE_NAMESPACE",
    "OPENLINEAGE_URL",
    "FLOE_DUCKDB_PATH",
    "DBT_PROJECT_DIR",
    "DBT_PROFILES_DIR",
    "DBT_PROFILE",
    "DBT_TARGET",
    "DAGSTER_HOME",
)


class DocsError(RuntimeError):
    """The run did not produce what the documentation describes."""


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="floe-docs-"))
    try:
        generate(scratch)
    except DocsError as exc:
        print(f"gen_examples: {exc}", file=sys.stderr)
        print(f"gen_examples: scratch folder kept: {scratch}", file=sys.stderr)
        return 1
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


def generate(scratch: Path) -> None:
    try:
        floe_lineage = importlib.import_module("floe_lineage")
    except ImportError as exc:
        raise DocsError(
            f"floe-lineage is not installed in this environment ({exc}): install this"
            f" checkout's, e.g. pip install {ROOT / 'floe-lineage'}"
        ) from exc
    # Every render first, close together: the runs below take minutes.
    project = render(scratch / "my-data-platform")
    variants = {
        t: render(scratch / f"variant-{t}", lineage_transport=t) for t in ("console", "http")
    }
    package = answers(project)["package_name"]
    layout = tree(project)
    commit_to_git(project)

    ok = scratch / "ok"
    ok_run = run(project, package, ok)
    if ok_run["outcome"] != "success":
        raise DocsError(f"the pipeline run failed:\n{ok_run['log']}")
    failing = scratch / "fail"
    broken = break_dbt_project(project / "dbt", failing / "dbt")
    commit_to_git(failing)  # so that its jobs carry sourceCodeLocation too
    fail_run = run(project, package, failing, dbt_copy=broken)
    if fail_run["outcome"] != "failure":
        raise DocsError(f"the run of the broken dbt project did not fail:\n{fail_run['log']}")

    ok_events = read_events(ok / "events.jsonl")
    fail_events = read_events(failing / "events.jsonl")
    check(ok, ok_events, ok_run, all_complete=True)
    check(failing, fail_events, fail_run, all_complete=False)
    validate({"successful run": ok_events, "failing run": fail_events})
    version = floe_lineage.__version__
    for event in ok_events + fail_events:
        engine = event["run"].get("facets", {}).get("processing_engine")
        if engine is not None and engine["openlineageAdapterVersion"] != version:
            raise DocsError(f"processing_engine names {engine}, not floe-lineage {version}")

    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    write_examples(ok_events, fail_events)
    write(OUT / "facets.md", facet_table({"successful run": ok_events, "failing run": fail_events}))
    write(OUT / "counts.md", count_table({"successful": ok_events, "failing": fail_events}))
    ok_file, fail_file = ok / "events.jsonl", failing / "events.jsonl"
    write(OUT / "summary.md", lineage_cli(project, "summary", str(ok_file)))
    # check finds the manifest dagster-dbt wrote for the run under the project's dbt/target/
    write(OUT / "check.md", lineage_cli(project, "check", str(ok_file)))
    write(OUT / "report.md", report_page(project, fail_file))
    write(OUT / "layout.md", f"```text\n{layout}\n```\n")
    write(OUT / "openlineage-yml.md", yaml_block(project / "openlineage.yml"))
    for transport, variant in variants.items():
        write(OUT / f"openlineage-yml-{transport}.md", yaml_block(variant / "openlineage.yml"))
    defs_yaml = project / "src" / package / "defs" / "transform" / "defs.yaml"
    write(OUT / "defs-yaml.md", yaml_block(defs_yaml, f"src/{package}/defs/transform/defs.yaml"))
    write(OUT / "definitions-py.md", code_block(project / "src" / package / "definitions.py"))
    write(OUT / "dependencies.md", dependencies(project))
    write(OUT / "test-lineage-py.md", code_block(project / "tests" / "test_lineage.py"))
    write(OUT / "run-info.md", run_info(project, ok, ok_run, ok_events))
    print(f"gen_examples: wrote {len(list(OUT.iterdir()))} files to {OUT}")


# -- the project and its runs ------------------------------------------------------------------


def render(destination: Path, **data: str) -> Path:
    given = {"project_name": PROJECT_NAME, **data}
    command = [sys.executable, "-m", "copier", "copy", "--defaults", "--vcs-ref=HEAD", "--quiet"]
    command += [arg for key, value in given.items() for arg in ("--data", f"{key}={value}")]
    command += [str(ROOT), str(destination)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise DocsError(f"copier failed:\n{done.stdout}\n{done.stderr}")
    return destination


def answers(project: Path) -> dict[str, str]:
    text = (project / ".copier-answers.yml").read_text()
    return {
        m.group(1): m.group(2).strip("'\"") for m in re.finditer(r"^([a-z_]+): (.+)$", text, re.M)
    }


def commit_to_git(project: Path) -> None:
    git = [
        "git",
        "-C",
        str(project),
        "-c",
        "user.name=floe docs",
        "-c",
        "user.email=docs@example.com",
    ]
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["commit", "-qm", "copier copy"],
        ["remote", "add", "origin", REMOTE],
    ):
        done = subprocess.run([*git, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise DocsError(f"git {' '.join(args)} failed: {done.stderr}")


def break_dbt_project(source: Path, destination: Path) -> Path:
    """A copy of the dbt project with a model that fails and a test that fails."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("target", "logs"))
    model = destination / "models" / "staging" / "stg_orders.sql"
    text = model.read_text()
    if "status\n" not in text:
        raise DocsError(f"{model}: no 'status' line to break")
    model.write_text(text.replace("status\n", "status, no_such_column\n"))
    with (destination / "seeds" / "raw_payments.csv").open("a") as payments:
        payments.write("11,10,card,100\n")  # a second payment with id 11
    return destination


def run(project: Path, package: str, workspace: Path, dbt_copy: Path | None = None) -> dict:
    """Materialize every asset of the project in a subprocess; events go to
    ``workspace/events.jsonl``. ``dbt_copy``: run that dbt project instead of ``dbt/``."""
    workspace.mkdir(parents=True, exist_ok=True)
    config = workspace / "openlineage.yml"
    config.write_text(
        f"transport:\n  type: file\n  log_file_path: {workspace / 'events.jsonl'}\n  append: true\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED}
    env |= {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        "PYTHONPATH": str(project / "src"),
        "FLOE_DUCKDB_PATH": str(workspace / "warehouse.duckdb"),
        "OPENLINEAGE_CONFIG": str(config),
        "DAGSTER_DISABLE_TELEMETRY": "1",
    }
    if dbt_copy is not None:  # defs.yaml reads them, as dbt does
        env |= {"DBT_PROJECT_DIR": str(dbt_copy), "DBT_PROFILES_DIR": str(dbt_copy)}
    command = [sys.executable, "-c", RUNNER.format(pkg=package)]
    print(f"gen_examples: running the pipeline in {workspace}", flush=True)
    done = subprocess.run(command, env=env, cwd=workspace, capture_output=True, text=True)
    log = (done.stdout + done.stderr)[-6000:]
    found = re.search(r"^FLOE-DOCS-RUN (\{.*\})$", done.stdout, re.M)
    if done.returncode != 0 or found is None:
        raise DocsError(f"the runner exited with {done.returncode}:\n{log}")
    outcome = json.loads(found.group(1))
    if outcome["warnings"]:
        raise DocsError("lineage warnings in the run:\n" + "\n".join(outcome["warnings"]))
    return outcome | {"log": log}


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DocsError(f"no events were written to {path}")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def lineage_cli(project: Path, *args: str) -> str:
    """``floe-lineage <args>`` in the project folder; its output as a console block (paths
    shown as given)."""
    script = Path(sys.executable).parent / "floe-lineage"
    command = (
        [str(script)]
        if script.is_file()
        else [sys.executable, "-c", "from floe_lineage.tools.cli import main; exit(main())"]
    )
    env = {key: value for key, value in os.environ.items() if key not in SCRUBBED}
    done = subprocess.run(
        [*command, *args], cwd=project, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise DocsError(f"floe-lineage {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return f"```console\n$ floe-lineage {' '.join(args)}\n{done.stdout}```\n"


def report_page(project: Path, events_file: Path) -> str:
    """The page ``report`` writes, copied into the site beside this snippet, and the snippet
    that shows it in a frame (the page is self-contained: its script runs there as anywhere)."""
    page = OUT / "report-failing-run.html"
    lineage_cli(project, "report", str(events_file), "--out", str(page))
    if 'id="report-data"' not in page.read_text(encoding="utf-8"):
        raise DocsError(f"{page}: the report holds no graph data")
    return (
        # raw HTML: mkdocs does not rewrite it; pages are folders (use_directory_urls)
        f'<iframe src="../generated/{page.name}" title="floe-lineage report of the failing run"'
        ' style="width: 100%; height: 640px; border: 1px solid #ddd"></iframe>\n\n'
        f"[Open the report on its own](generated/{page.name})\n"
    )


# -- checks: the facts the prose states ---------------------------------------------------------


def kind(event: dict[str, Any]) -> str:
    job_type = event["job"]["facets"]["jobType"]
    return "step" if job_type["integration"] == "DAGSTER" else job_type["jobType"].lower()


def check(
    workspace: Path,
    events: list[dict[str, Any]],
    dagster_run: dict[str, Any],
    *,
    all_complete: bool,
) -> None:
    """The facts the pages state about jobs, run ids, parents and dataset namespaces."""
    from floe_lineage.openlineage.naming import stable_run_id

    dagster_run_id = dagster_run["run_id"]
    if dagster_run["job"] != JOB:
        raise DocsError(f"the run's Dagster job is {dagster_run['job']}, not {JOB}")
    by_run: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        by_run[event["run"]["runId"]].append(event)
    step_id = stable_run_id(dagster_run_id, STEP_OP)
    namespace = "duckdb://" + str(workspace / "warehouse.duckdb")
    for run_id, run_events in by_run.items():
        states = [e["eventType"] for e in run_events]
        job = run_events[0]["job"]["name"]
        if (
            len(states) < 2
            or states[0] != "START"
            or states[1] not in TERMINAL
            or any(state != "OTHER" for state in states[2:])
        ):
            raise DocsError(f"{job}: expected START, one terminal event, OTHER, got {states}")
        if kind(run_events[0]) == "step" and len(states) != 2:
            raise DocsError(f"{job}: expected START then one terminal event, got {states}")
        if str(uuid.UUID(run_id)) != run_id:
            raise DocsError(f"{job}: run id {run_id} is not a canonical UUID")
        parent = run_events[0]["run"]["facets"]["parent"]
        if parent["root"]["run"]["runId"] != dagster_run_id or parent["root"]["job"]["name"] != JOB:
            raise DocsError(f"{job}: the root is not the Dagster run")
        if kind(run_events[0]) == "step":
            expected = step_id
            if job != f"{JOB}.{STEP_OP}":
                raise DocsError(f"the step's job is {job}, not {JOB}.{STEP_OP}")
        else:
            expected = stable_run_id(dagster_run_id, job)
            if parent["run"]["runId"] != step_id or parent["job"]["name"] != f"{JOB}.{STEP_OP}":
                raise DocsError(f"{job}: its parent is not the step")
        if run_id != expected:
            raise DocsError(f"{job}: run id {run_id} is not the documented uuid5 {expected}")
        for event in run_events:
            for dataset in event["inputs"] + event["outputs"]:
                if dataset["namespace"] != namespace:
                    raise DocsError(f"{job}: dataset namespace {dataset['namespace']}")
        if all_complete and states[1] != "COMPLETE":
            raise DocsError(f"{job}: {states[1]} in the successful run")
    check_other_events(events)


def check_other_events(events: list[dict[str, Any]]) -> None:
    """What docs/events.md says of OTHER events on DuckDB: sent once dbt exited, after every
    node's terminal event and before the step's, all stamped with one time between the last
    node's end and the step's, in the order the nodes finished, never for a node that ended
    ABORT."""
    step_end = next(
        (i for i, e in enumerate(events) if kind(e) == "step" and e["eventType"] in TERMINAL), None
    )
    if step_end != len(events) - 1:
        raise DocsError("the step's terminal event is not the last event")
    ended: dict[str, dict[str, Any]] = {}
    last_terminal, previous, stamps = -1, None, set()
    for index, event in enumerate(events[:step_end]):
        run_id = event["run"]["runId"]
        if event["eventType"] in TERMINAL:
            ended[run_id] = event
            last_terminal = index
        elif event["eventType"] == "OTHER":
            job = event["job"]["name"]
            terminal = ended.get(run_id)
            if terminal is None or terminal["eventType"] == "ABORT":
                raise DocsError(f"{job}: an OTHER event without a COMPLETE or FAIL before it")
            stamps.add(datetime.fromisoformat(event["eventTime"]))
            finished = datetime.fromisoformat(terminal["eventTime"])
            if previous is not None and finished < previous:
                raise DocsError(f"{job}: OTHER events not in the order the nodes finished")
            previous = finished
    others = [i for i, e in enumerate(events) if e["eventType"] == "OTHER"]
    if others and min(others) < last_terminal:
        raise DocsError("an OTHER event came before the last node's terminal event")
    node_ends = [
        datetime.fromisoformat(e["eventTime"])
        for e in events[:step_end]
        if e["eventType"] in TERMINAL
    ]
    step_time = datetime.fromisoformat(events[step_end]["eventTime"])
    if stamps and (
        len(stamps) != 1 or not max(node_ends, default=min(stamps)) <= min(stamps) <= step_time
    ):
        raise DocsError("the OTHER events are not stamped with one time after the nodes ended")


def validate(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Every event and facet against the official OpenLineage schemas shipped with
    floe-lineage (offline, formats enforced), as ``floe-lineage check`` and the pytest plugin's
    ``assert_valid()`` validate them."""
    from floe_lineage.tools.validation import event_problems

    for label, events in runs.items():
        problems = event_problems(events)
        if problems:
            raise DocsError(f"invalid OpenLineage events in the {label}:\n" + "\n".join(problems))
    print("gen_examples: every event is valid (floe-lineage's shipped OpenLineage schemas)")


# -- Markdown -----------------------------------------------------------------------------------


def pick(events: list[dict[str, Any]], job: str, state: str) -> dict[str, Any]:
    """The event of ``state`` of the job named ``job`` (or starting with it, for test hashes)."""
    for event in events:
        name = event["job"]["name"]
        if event["eventType"] == state and (name == job or name.startswith(job + ".")):
            return event
    raise DocsError(f"no {state} event of {job}")


def require(event: dict[str, Any], *paths: str) -> None:
    """Fail when an example lacks a facet the prose points at."""
    for path in paths:
        value: Any = event
        for part in path.split("/"):
            value = value[int(part)] if isinstance(value, list) else value.get(part)
            if value is None:
                raise DocsError(f"{event['job']['name']} {event['eventType']}: no {path}")


def facts(events: list[dict[str, Any]], job: str) -> dict[str, Any]:
    """The event of ``job`` that carries what the warehouse told about its completed run: the
    OTHER event sent once dbt exited (DuckDB), else its COMPLETE event."""
    for event in events:
        if event["eventType"] == "OTHER" and event["job"]["name"] == job:
            return event
    return pick(events, job, "COMPLETE")


def write_examples(ok: list[dict[str, Any]], failing: list[dict[str, Any]]) -> None:
    step = f"{ok[0]['job']['name']}"
    examples = {
        "step-start": (pick(ok, step, "START"), [], "+"),
        "step-complete": (pick(ok, step, "COMPLETE"), [], ""),
        "model-start": (pick(ok, f"model.{DBT_PROJECT}.customers", "START"), [], ""),
        "model-complete": (
            pick(ok, f"model.{DBT_PROJECT}.customers", "COMPLETE"),
            [
                "job/facets/sql",
                "job/facets/sourceCodeLocation",
                "outputs/0/facets/columnLineage",
                "outputs/0/facets/schema",
                "outputs/0/facets/columnClassification",
                "outputs/0/outputFacets/outputStatistics",
            ],
            "",
        ),
        "seed-facts": (
            facts(ok, f"seed.{DBT_PROJECT}.raw_orders"),
            ["outputs/0/outputFacets/outputStatistics", "outputs/0/facets/schema"],
            "",
        ),
        "snapshot-facts": (
            facts(ok, f"snapshot.{DBT_PROJECT}.customers_snapshot"),
            ["outputs/0/outputFacets/outputStatistics"],
            "",
        ),
        "test-complete": (
            pick(ok, f"test.{DBT_PROJECT}.unique_stg_customers_customer_id", "COMPLETE"),
            ["inputs/0/inputFacets/dataQualityAssertions"],
            "",
        ),
        "model-fail": (
            pick(failing, f"model.{DBT_PROJECT}.stg_orders", "FAIL"),
            ["run/facets/errorMessage"],
            "",
        ),
        "test-fail": (
            pick(failing, f"test.{DBT_PROJECT}.unique_stg_payments_payment_id", "FAIL"),
            ["run/facets/errorMessage", "inputs/0/inputFacets/dataQualityAssertions"],
            "",
        ),
        "model-abort": (pick(failing, f"model.{DBT_PROJECT}.orders", "ABORT"), [], ""),
        "step-fail": (
            pick(failing, failing[0]["job"]["name"], "FAIL"),
            ["run/facets/errorMessage"],
            "",
        ),
    }
    for name, (event, required, opened) in examples.items():
        require(event, *required)
        title = f"{kind(event)} {event['eventType']}: `{event['job']['name']}`"
        body = json.dumps(event, indent=2, ensure_ascii=False)
        indented = "\n".join(("    " + line).rstrip() for line in body.splitlines())
        write(
            OUT / f"event-{name}.md",
            f'???{opened} example "{title}"\n\n    ```json\n{indented}\n    ```\n',
        )


LOCATIONS = {
    "run.facets": lambda e: [e["run"].get("facets") or {}],
    "job.facets": lambda e: [e["job"].get("facets") or {}],
    "inputs[].facets": lambda e: [d.get("facets") or {} for d in e["inputs"]],
    "inputs[].inputFacets": lambda e: [d.get("inputFacets") or {} for d in e["inputs"]],
    "outputs[].facets": lambda e: [d.get("facets") or {} for d in e["outputs"]],
    "outputs[].outputFacets": lambda e: [d.get("outputFacets") or {} for d in e["outputs"]],
}


def facet_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for events in runs.values():
        for event in events:
            for where, facets_of in LOCATIONS.items():
                for facets in facets_of(event):
                    for key, facet in facets.items():
                        entry = seen.setdefault(
                            (where, key), {"on": defaultdict(set), "urls": set(), "by": set()}
                        )
                        entry["on"][kind(event)].add(event["eventType"])
                        entry["urls"].add(facet.get("_schemaURL", "-"))
                        own = facet.get("_producer") == event["producer"]
                        entry["by"].add("floe-lineage" if own else "OpenLineage client")
    rows = [
        "| facet | where | on (node kind: event types) | set by | `_schemaURL` |",
        "| --- | --- | --- | --- | --- |",
    ]
    order = list(LOCATIONS)
    for (where, key), entry in sorted(seen.items(), key=lambda i: (order.index(i[0][0]), i[0][1])):
        on = "<br>".join(
            f"{k}: {', '.join(s for s in STATES if s in entry['on'][k])}"
            for k in KINDS
            if k in entry["on"]
        )
        urls = "<br>".join(f"`{u}`" for u in sorted(entry["urls"]))
        rows.append(f"| `{key}` | `{where}` | {on} | {', '.join(sorted(entry['by']))} | {urls} |")
    return "\n".join(rows) + "\n"


def count_table(runs: dict[str, list[dict[str, Any]]]) -> str:
    rows = [
        "| run | node kind | jobs | " + " | ".join(STATES) + " |",
        "| --- | --- | ---: | " + " | ".join("---:" for _ in STATES) + " |",
    ]
    for label, events in runs.items():
        counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        jobs: dict[str, set[str]] = defaultdict(set)
        for event in events:
            counts[kind(event)][event["eventType"]] += 1
            jobs[kind(event)].add(event["job"]["name"])
        for k in KINDS:
            if k in counts:
                cells = " | ".join(str(counts[k][s]) for s in STATES)
                rows.append(f"| {label} | {k} | {len(jobs[k])} | {cells} |")
        empty = " |" * (len(STATES) - 1)
        rows.append(f"| {label} | **all** | | **{len(events)} events** |{empty}")
    return "\n".join(rows) + "\n"


def run_info(
    project: Path, workspace: Path, dagster_run: dict[str, Any], events: list[dict[str, Any]]
) -> str:
    from importlib.metadata import version

    versions = ", ".join(
        f"{name} {version(name)}"
        for name in (
            "floe-lineage",
            "dagster",
            "dagster-dbt",
            "dbt-core",
            "dbt-duckdb",
            "openlineage-python",
        )
    )
    a = answers(project)
    producers = sorted({event["producer"] for event in events})
    producer = (
        f"producer `{a['lineage_producer']}`"
        if a["lineage_producer"]
        else f"no producer answer, so floe-lineage's own: `{'`, `'.join(producers)}`"
    )
    return (
        f"The examples on this page were produced while these docs were built: "
        f'`copier copy --defaults --data "project_name={a["project_name"]}"` '
        f"(package `{a['package_name']}`, job namespace `{a['lineage_namespace']}`, "
        f"{producer}), committed to a fresh git repository with origin "
        f"`{REMOTE}`; its definitions loaded as `dg` loads them and every asset materialized "
        f"in-process as the job `{dagster_run['job']}`, the job `dg launch --assets '*'` runs, "
        f"with `FLOE_DUCKDB_PATH={workspace / 'warehouse.duckdb'}` and a file transport "
        f"(`OPENLINEAGE_CONFIG`). Versions: {versions}.\n"
    )


def tree(root: Path) -> str:
    skip = {".git", "target", "logs", "__pycache__"}

    def walk(folder: Path, prefix: str) -> Iterable[str]:
        entries = sorted(
            (p for p in folder.iterdir() if p.name not in skip),
            key=lambda p: (p.is_file(), p.name),
        )
        for i, entry in enumerate(entries):
            last = i == len(entries) - 1
            yield f"{prefix}{'└── ' if last else '├── '}{entry.name}{'/' if entry.is_dir() else ''}"
            if entry.is_dir():
                yield from walk(entry, prefix + ("    " if last else "│   "))

    return "\n".join([f"{root.name}/", *walk(root, "")])


def yaml_block(path: Path, title: str | None = None) -> str:
    return f'```yaml title="{title or path.name}"\n{path.read_text()}```\n'


def code_block(path: Path) -> str:
    return f'```python title="{path.name}"\n{path.read_text()}```\n'


def dependencies(project: Path) -> str:
    """The ``dependencies`` of the generated ``pyproject.toml``, the floe-lineage pin shown with
    a placeholder for the template's URL (here a temporary clone) and its real shape."""
    text = (project / "pyproject.toml").read_text()
    found = re.search(r"^dependencies = \[\n.*?^\]\n", text, re.M | re.S)
    if found is None:
        raise DocsError("pyproject.toml: no dependencies list")
    block, pins = re.subn(
        r"floe-lineage @ git\+\S+@([0-9a-f]{40})#subdirectory=floe-lineage",
        "floe-lineage @ git+<template repository>@<commit>#subdirectory=floe-lineage",
        found.group(0),
    )
    if pins != 1:
        raise DocsError(f"pyproject.toml: expected one floe-lineage pin, found {pins}")
    return f'```toml title="pyproject.toml"\n{block}```\n'


def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
