"""The ``floe-lineage`` command a user runs on captured events: ``check`` against the manifest
and the schemas, ``summary``, and the HTML ``report`` (looked at in headless Chromium)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import pytest
from conftest import WARNED_TEST, step_name

from floe_lineage.dbt.manifest import run_manifest
from floe_lineage.tools.manifest_lookup import component_project_dirs
from floe_lineage.tools.report import render_report, short_name
from floe_lineage.tools.report_layout import layered_order

FLOE_LINEAGE = Path(sys.executable).parent / "floe-lineage"
BENCH = Path(__file__).resolve().parents[2] / "bench"


def cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLOE_LINEAGE), *args], capture_output=True, text=True, check=False, cwd=cwd, env=env
    )


def test_check_passes_a_complete_run(build):
    result, ws = build
    done = cli("check", str(ws.events_file), cwd=ws.project)  # finds the run's manifest
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Run {result.run_id}: 23 dbt nodes, 63 events (23 COMPLETE)" in done.stdout
    assert "OK: every node has a START and one terminal event" in done.stdout
    assert "OK: all 63 events are valid OpenLineage" in done.stdout


def test_summary_groups_by_run_and_ends_quietly_in_a_closed_pipe(
    build, failed_build, tmp_path: Path
):
    (result, ws), (failed, failed_ws) = build, failed_build
    both = tmp_path / "two-runs.jsonl"
    both.write_text(ws.events_file.read_text() + failed_ws.events_file.read_text())
    done = cli("summary", str(both))
    assert done.returncode == 0, done.stderr
    headers = [line for line in done.stdout.splitlines() if line.startswith("run ")]
    assert (
        headers[0].startswith(f"run {result.run_id}: ")
        and "23 dbt nodes: 23 COMPLETE" in (headers[0])
    )
    assert headers[1].startswith(f"run {failed.run_id}: ") and " FAIL; " in headers[1]
    assert len(headers) == 2
    assert re.search(r"model\.floe\.orders +COMPLETE +warehouse\.main\.stg_orders, ", done.stdout)
    assert f"events: {both.resolve()}" in done.stdout

    many = tmp_path / "many-runs.jsonl"  # more output than a pipe buffers
    text = ws.events_file.read_text()
    many.write_text("".join(text.replace(result.run_id, str(uuid.uuid4())) for _ in range(80)))
    piped = subprocess.run(  # `floe-lineage summary | head -1`
        f"'{FLOE_LINEAGE}' summary '{many}' | head -1",
        shell=True,
        capture_output=True,
        text=True,
        check=False,
        executable="/bin/bash",
    )
    assert piped.stdout.startswith("run ") and piped.stdout.count("\n") == 1
    assert piped.stderr == ""


def test_run_is_chosen_by_any_unique_prefix(build, failed_build, tmp_path: Path):
    (result, ws), (failed, failed_ws) = build, failed_build
    both = tmp_path / "two-runs.jsonl"
    both.write_text(ws.events_file.read_text() + failed_ws.events_file.read_text())
    manifest = str(run_manifest(ws.project, result.run_id))
    done = cli("check", str(both), "--run", result.run_id[:8], "--manifest", manifest)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Run {result.run_id}: 23 dbt nodes" in done.stdout

    unknown = cli("check", str(both), "--run", "zz", "--manifest", manifest)
    assert unknown.returncode == 2
    assert f"--run 'zz' names no run; runs: {result.run_id}, {failed.run_id}" in unknown.stderr
    common = os.path.commonprefix([result.run_id, failed.run_id])  # noqa: RUF071 (text)
    if common:  # two random run ids rarely share a first character
        ambiguous = cli("check", str(both), "--run", common, "--manifest", manifest)
        assert ambiguous.returncode == 2 and "names several runs" in ambiguous.stderr
    ambiguous = cli("check", str(both), "--run", "", "--manifest", manifest)
    assert ambiguous.returncode == 2
    assert f"--run '' names several runs; runs: {result.run_id}, {failed.run_id}" in (
        ambiguous.stderr
    )


def test_check_fails_on_schema_violations(build, tmp_path: Path):
    result, ws = build
    events = ws.events()
    events[3]["producer"] = "not a uri"
    events[5]["eventTime"] = "2026-01-01T10:00:00"  # no offset
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(json.dumps(e) + "\n" for e in events))
    done = cli("check", str(broken), "--manifest", str(run_manifest(ws.project, result.run_id)))
    assert done.returncode == 1
    assert "schema violations:" in done.stdout
    assert "producer: 'not a uri' is not a 'uri'" in done.stdout
    assert "eventTime: '2026-01-01T10:00:00' is not a 'date-time'" in done.stdout


def test_check_passes_a_failed_run_and_catches_broken_lineage(failed_build, tmp_path: Path):
    result, ws = failed_build
    manifest = run_manifest(ws.project, result.run_id)
    done = cli("check", str(ws.events_file), cwd=ws.project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "FAIL" in done.stdout and "ABORT" in done.stdout

    events = [
        e
        for e in ws.events()
        if not (e["job"]["name"] == "model.floe.orders" and e["eventType"] != "START")
    ]  # the terminal event of orders is lost ...
    payments = next(e for e in events if e["job"]["name"] == "model.floe.stg_payments")
    payments["inputs"] = []  # ... and stg_payments reads nothing
    broken = tmp_path / "broken.jsonl"
    broken.write_text("".join(json.dumps(e) + "\n" for e in events))
    done = cli("check", str(broken), "--manifest", str(manifest))
    assert done.returncode == 1
    assert "model.floe.orders: expected START then one terminal event, got ['START']" in done.stdout
    assert "model.floe.stg_payments: inputs [] differ from the DAG's" in done.stdout


def test_a_warned_dbt_test_shows_in_summary_and_check(failed_build):
    """A dbt test of severity warn that fails: its run is COMPLETE, its assertion on the tested
    dataset ``success: false``; summary says WARN, check counts it and still passes."""
    _, ws = failed_build
    summary = cli("summary", str(ws.events_file))
    assert summary.returncode == 0, summary.stderr
    assert re.search(
        rf"{re.escape(WARNED_TEST)} +WARN +warehouse\.main\.stg_payments -> -", summary.stdout
    )
    header = next(line for line in summary.stdout.splitlines() if line.startswith("run "))
    assert re.search(r"dbt nodes: .*\b1 WARN\b", header), header
    assert "unique_stg_payments_payment_id" in summary.stdout  # the failed test stays FAIL
    assert not re.search(r"unique_stg_payments_payment_id\S* +WARN", summary.stdout)

    done = cli("check", str(ws.events_file), cwd=ws.project)
    assert done.returncode == 0, done.stdout + done.stderr  # a warning is not a problem
    assert (
        "1 warned: COMPLETE with a failed assertion (a dbt test of severity warn), not a problem:"
    ) in done.stdout
    assert (
        f"  - {WARNED_TEST}: gift_card_payments_are_rare on warehouse.main.stg_payments:"
        " 2 failing rows, severity warn"
    ) in done.stdout


def report_parts(html: str) -> tuple[str, dict, list[dict]]:
    """The header line of a report page, its embedded graph data and the graph's job nodes."""
    header = re.search(r'<p id="summary">(.*?)</p>', html, re.S)
    data = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html)
    assert header and data
    graph = json.loads(data.group(1))
    return unescape(header.group(1)), graph, [n for n in graph["nodes"] if n["kind"] == "job"]


def test_report_header_counts_what_its_filters_count_and_marks_a_warned_test(failed_build):
    result, ws = failed_build
    html = render_report(ws.events(), "Lineage")
    header, _, jobs = report_parts(html)
    counted, _, ran = header.partition("; ")
    # the filters count the graph's jobs, the dbt nodes, by state: the header counts the same
    states = Counter(n["state"] for n in jobs)
    assert counted == f"{len(jobs)} dbt nodes: " + ", ".join(
        f"{states[s]} {s}" for s in ("COMPLETE", "WARN", "FAIL", "ABORT") if states[s]
    )
    assert ran == f"run by {step_name(result)} (FAIL)"
    warned = next(n for n in jobs if n["name"] == WARNED_TEST)
    assert warned["state"] == "WARN"
    assert warned["warning"] == (
        "gift_card_payments_are_rare on warehouse.main.stg_payments: 2 failing rows, severity warn"
    )
    assert f'<tr class="warn"><td>{WARNED_TEST}</td><td>TEST</td><td>WARN</td>' in html
    assert f"All {len(jobs) + 1} jobs: the {len(jobs)} dbt nodes and the job that ran dbt" in html


def dbt_project(folder: Path, name: str) -> Path:
    """A dbt project folder named ``name`` with a parsed (empty) manifest."""
    (folder / "target").mkdir(parents=True)
    (folder / "dbt_project.yml").write_text(f"name: {name}\nprofile: {name}\n")
    manifest = {"metadata": {"project_name": name, "dbt_version": "1.10.0"}, "nodes": {}}
    (folder / "target" / "manifest.json").write_text(json.dumps(manifest))
    return folder


def team_project(root: Path, project_dir: str) -> Path:
    """A generated project's layout under ``root``: its ``dbt/`` is a dbt project of another
    name than the sample's, its component's ``project_dir`` is ``project_dir``."""
    dbt_project(root / "dbt", "other")
    (root / "pyproject.toml").write_text('[project]\nname = "team"\n')
    defs = root / "src" / "team" / "defs" / "transform" / "defs.yaml"
    defs.parent.mkdir(parents=True)
    defs.write_text(
        "type: floe_lineage.dagster.DbtProjectWithLineage\n"
        f"attributes:\n  project:\n    project_dir: {json.dumps(project_dir)}\n"
    )
    return root


def test_check_compares_with_the_dbt_project_the_events_came_from(build, tmp_path: Path):
    result, ws = build
    env = {k: v for k, v in os.environ.items() if k != "DBT_PROJECT_DIR"}
    (tmp_path / "analytics").symlink_to(ws.project)  # the dbt project the events came from
    team = team_project(tmp_path / "team", "../../../../../analytics")  # from defs.yaml's folder
    manifest = run_manifest(ws.project.resolve(), result.run_id)
    done = cli("check", str(ws.events_file), cwd=team, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(
        f"Manifest: {manifest} (dbt project 'floe', from src/team/defs/transform/defs.yaml)\n"
    )
    assert f"Run {result.run_id}: 23 dbt nodes" in done.stdout

    # pointed at another dbt project, or at none of the events' one: one clear error
    other = team / "dbt" / "target" / "manifest.json"
    pointed = cli("check", str(ws.events_file), cwd=team, env=env | {"DBT_PROJECT_DIR": "dbt"})
    given = cli("check", str(ws.events_file), "--manifest", str(other), cwd=team, env=env)
    elsewhere = tmp_path / "elsewhere"
    dbt_project(elsewhere / "dbt", "other")
    lost = cli("check", str(ws.events_file), cwd=elsewhere, env=env)
    for done, what in (
        (pointed, f"the manifest {team / 'dbt/target/manifest.json'} ($DBT_PROJECT_DIR)"),
        (given, f"the manifest {other} (--manifest)"),
        (lost, f"./dbt ({elsewhere / 'dbt'}) is dbt project 'other', . has no dbt_project.yml"),
    ):
        assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert done.stderr.startswith("error: the events are of dbt project 'floe'")
        assert what in done.stderr, done.stderr
        assert "--manifest PATH" in done.stderr and "DBT_PROJECT_DIR" in done.stderr
    assert "is of dbt project 'other'" in pointed.stderr + given.stderr


@pytest.mark.parametrize(
    ("written", "found"),
    [
        ("/srv/analytics", "/srv/analytics"),
        ("../../../../analytics", "{root}/analytics"),  # from the defs.yaml folder, as Dagster
        ("{{ env('DBT_PROJECT_DIR', context.project_root ~ '/dbt') }}", "{root}/dbt"),
        ("{{ env('TEAM_DBT', context.project_root ~ '/dbt') }}", "/srv/team"),
        ("{{ project_root }}/warehouse", "{root}/warehouse"),
        ("{{ no_such_function() }}/dbt", None),
    ],
)
@pytest.mark.parametrize("shape", ["project_dir", "project"])
def test_the_dbt_project_of_a_component_is_read_from_its_defs_yaml(
    tmp_path: Path, written: str, found: str | None, shape: str
):
    root = tmp_path / "team"
    defs = root / "src" / "team" / "defs" / "dbt" / "defs.yaml"
    defs.parent.mkdir(parents=True)
    project = f"project_dir: {json.dumps(written)}" if shape == "project_dir" else ""
    value = f"\n    {project}" if project else f" {json.dumps(written)}"
    defs.write_text(
        "type: dagster.SomethingElse\nattributes: {project: /not/this}\n---\n"
        f"type: floe_lineage.dagster.DbtProjectWithLineage\nattributes:\n  project:{value}\n"
    )
    dirs = component_project_dirs(root, {"TEAM_DBT": "/srv/team"})
    expected = [] if found is None else [(defs, Path(found.format(root=root)))]
    assert dirs == expected


def chromium() -> str | None:
    found = (
        shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )
    if found is None and os.environ.get("FLOE_REQUIRE_CHROMIUM"):
        pytest.fail("FLOE_REQUIRE_CHROMIUM is set but no Chromium is installed")
    return found


def headless(browser: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def test_report_draws_the_lineage_graph_with_failures_marked(failed_build, tmp_path: Path):
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium to look at the report with (apt-get install chromium)")
    _, ws = failed_build
    page = tmp_path / "report.html"
    done = cli("report", str(ws.events_file), "--out", str(page))
    assert done.returncode == 0, done.stderr
    assert_self_contained(page.read_text())
    nodes = {e["job"]["name"]: e for e in ws.events() if e["job"]["name"].count(".") >= 2}
    failed_test = next(
        name for name, e in nodes.items() if name.startswith("test.") and e["eventType"] == "FAIL"
    )

    dom = dump_dom(browser, page.as_uri(), "--window-size=1400,900")
    assert first_render_ms(dom) > 0
    jobs = drawn_jobs(dom)
    assert jobs["model.floe.stg_orders"] == ("FAIL", "MODEL")
    assert jobs["model.floe.orders"] == ("ABORT", "MODEL")
    assert jobs["model.floe.stg_payments"] == ("COMPLETE", "MODEL")
    assert jobs["seed.floe.raw_orders"] == ("COMPLETE", "SEED")
    assert jobs["snapshot.floe.customers_snapshot"] == ("COMPLETE", "SNAPSHOT")
    assert set(jobs) == {n for n in nodes if not n.startswith("test.")}  # no step, no test
    # the state filter counts the dbt nodes as the header does, a warned test among them
    header = re.search(r'<p id="summary">(\d+) dbt nodes: ([^;<]*)', dom)
    assert header
    filters = dict(re.findall(r'<span class="swatch [a-z]+"></span>([A-Z]+) \((\d+)\)', dom))
    assert sum(int(n) for n in filters.values()) == int(header.group(1)) == len(nodes)
    assert header.group(2) == ", ".join(f"{n} {state}" for state, n in filters.items())
    assert filters["WARN"] == "1"
    assert {"warehouse.main.stg_orders", "warehouse.main.raw_orders"} <= drawn_datasets(dom)
    assert 'data-from="dataset:warehouse.main.raw_orders" data-to="job:model.floe.stg_orders"' in (
        dom
    )
    assert "Binder Error" in dom.split('<details id="jobs"')[1]  # the table for readers without JS

    # deep links: the failed model's details, with its error, input and output
    panel = details(dump_dom(browser, f"{page.as_uri()}#node=model.floe.stg_orders"))
    assert '<span class="badge fail">FAIL</span>' in panel and "Binder Error" in panel
    assert 'href="#node=warehouse.main.raw_orders"' in panel
    assert 'href="#node=warehouse.main.stg_orders"' in panel
    # a dataset's columns, their types and column lineage
    panel = details(dump_dom(browser, f"{page.as_uri()}#node=warehouse.main.stg_payments"))
    assert re.search(
        r"<td>amount</td><td>DOUBLE</td><td><a [^>]*>raw_payments</a>\.amount_cents"
        r' <span class="how">DIRECT TRANSFORMATION</span>',
        panel,
    )
    assert f'href="#node={failed_test}"' in panel  # read by the failed test (hidden, linked)
    # a hidden test: linking to it shows the tests
    linked = dump_dom(browser, f"{page.as_uri()}#node={failed_test}")
    assert drawn_jobs(linked)[failed_test] == ("FAIL", "TEST")
    assert "Got 1 result, configured to fail if != 0" in details(linked)
    # a warned test: marked WARN, its failed assertion in its details
    warned = dump_dom(browser, f"{page.as_uri()}#node={WARNED_TEST}")
    assert drawn_jobs(warned)[WARNED_TEST] == ("WARN", "TEST")
    panel = details(warned)
    assert '<span class="badge warn">WARN</span>' in panel
    assert "gift_card_payments_are_rare on warehouse.main.stg_payments: 2 failing rows" in panel

    shot = tmp_path / "report.png"
    headless(browser, "--window-size=1400,900", f"--screenshot={shot}", page.as_uri())
    assert png_size(shot) == (1400, 900) and shot.stat().st_size > 10_000


def test_report_draws_2000_dbt_nodes(tmp_path: Path, record_property):
    """The report of a run of 2,000 dbt nodes (synthetic events, as the benchmark
    ``bench/report_render.py`` renders them) draws every visible node; the time its first
    render took is recorded, not judged (the benchmark judges it)."""
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium to look at the report with (apt-get install chromium)")
    bench = bench_report_render()
    events = bench.synthetic_events(2000)
    hostile = next(e for e in events if e["eventType"] == "FAIL" and e["inputs"])
    hostile["run"]["facets"]["errorMessage"]["message"] = HOSTILE
    renamed = next(e["job"]["name"] for e in events if e["job"]["name"].startswith("model."))
    for event in events:
        if event["job"]["name"] == renamed:
            event["job"]["name"] = f"model.bench.{HOSTILE}"
    events_file, page = tmp_path / "events.jsonl", tmp_path / "report.html"
    events_file.write_text("".join(json.dumps(e) + "\n" for e in events))
    done = cli("report", str(events_file), "--out", str(page))
    assert done.returncode == 0, done.stderr
    assert_self_contained(page.read_text())

    dom = dump_dom(browser, page.as_uri(), "--window-size=1600,1000")
    took = first_render_ms(dom)
    record_property("first_render_ms", took)
    print(f"first render of 2,000 dbt nodes: {took} ms, page {page.stat().st_size // 1024} KB")
    job_type = {e["job"]["name"]: e["job"]["facets"]["jobType"]["jobType"] for e in events}
    assert len(job_type) == 2000
    jobs = drawn_jobs(dom)
    assert set(jobs) == {name for name, kind in job_type.items() if kind != "TEST"}  # tests hidden
    assert len(drawn_datasets(dom)) > 1000
    tags = Tags()
    tags.feed(dom)  # the user's text stayed text
    assert tags.seen["script"] == 2 and "img" not in tags.seen and "b" not in tags.seen
    assert tags.title.startswith("Lineage of run ")

    panel = details(dump_dom(browser, f"{page.as_uri()}#node={hostile['job']['name']}"))
    assert "&lt;/script&gt;&lt;script&gt;document.title" in panel  # the error, as text
    model = bench.detail_node(events)  # columns computed from several inputs
    panel = details(dump_dom(browser, f"{page.as_uri()}#node={model}"))
    reads = next(e["inputs"] for e in events if e["job"]["name"] == model)
    assert all(f'href="#node={d["name"]}"' in panel for d in reads)
    assert re.search(r"</a>\.\w+ <span class=\"how\">DIRECT AGGREGATION</span><br>", panel)
    assert '<h3>Rows decided by (INDIRECT)</h3><p><a href="#node=' in panel

    shot = tmp_path / "report-2000.png"
    headless(browser, "--window-size=1600,1000", f"--screenshot={shot}", page.as_uri())
    assert png_size(shot) == (1600, 1000) and shot.stat().st_size > 50_000


def test_report_controls_search_filter_zoom_and_select(tmp_path: Path):
    """The page's controls, driven by a script added to it (what a user's clicks and keys
    would fire): search, next match, the filters, wheel zoom, fit, a click on a node."""
    browser = chromium()
    if browser is None:
        pytest.skip("no Chromium to look at the report with (apt-get install chromium)")
    events = bench_report_render().synthetic_events(200)
    events_file, page = tmp_path / "events.jsonl", tmp_path / "report.html"
    events_file.write_text("".join(json.dumps(e) + "\n" for e in events))
    assert cli("report", str(events_file), "--out", str(page)).returncode == 0
    page.write_text(page.read_text().replace("</body>", f"<script>{DRIVE}</script></body>"))
    dom = dump_dom(browser, page.as_uri(), "--window-size=1400,900")
    found = re.search(r'data-drive="([^"]*)"', dom)
    assert found, "the driving script did not finish"
    seen = json.loads(unescape(found.group(1)))

    names = {e["job"]["name"]: e for e in events}
    stg = [n for n in names if ".stg_" in n] + [
        d["name"] for e in names.values() for d in e["outputs"] if ".stg_" in d["name"]
    ]
    assert seen["matches"] == len(set(stg)) > 0  # case-insensitive: "STG_" finds stg_
    assert seen["current"] in stg and seen["moved"]
    assert seen["zoomed"] > seen["zoom"] and seen["fit"] < seen["zoom"]
    states = {e["job"]["name"]: e["eventType"] for e in events if e["eventType"] != "START"}
    assert seen["without_complete"] == sum(
        1 for n, s in states.items() if s != "COMPLETE" and not n.startswith("test.")
    )
    assert seen["with_tests"] == len(names)
    assert seen["panel"].startswith(seen["clicked"]) and not seen["panel_hidden"]
    assert seen["hash"] == f"#node={seen['clicked']}"
    assert seen["closed"]


DRIVE = """
var out = {}, $ = function (s) { return document.querySelector(s); };
var transform = function () { return $("#viewport").getAttribute("transform"); };
var scale = function () { return +/scale\\(([0-9.]+)\\)/.exec(transform())[1]; };
var search = $("#search");
search.value = "STG_";
search.dispatchEvent(new Event("input"));
out.matches = document.querySelectorAll(".node.match").length;
var before = transform();
search.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter"}));
out.current = $(".node.current").dataset.name;
out.moved = transform() !== before;
out.zoom = scale();
$("#canvas").dispatchEvent(new WheelEvent("wheel", {deltaY: -300, clientX: 300, clientY: 300,
  bubbles: true, cancelable: true}));
out.zoomed = scale();
$("#fit").click();
out.fit = scale();
var toggle = function (value, on) {
  var box = $("#toolbar input[value=" + value + "]");
  box.checked = on;
  box.dispatchEvent(new Event("change", {bubbles: true}));
};
toggle("COMPLETE", false);
out.without_complete = document.querySelectorAll(".node.job").length;
toggle("COMPLETE", true);
toggle("TEST", true);
out.with_tests = document.querySelectorAll(".node.job").length;
var node = $(".node.job");
out.clicked = node.dataset.name;
$("#canvas").setPointerCapture = function () {};  // no real pointer to capture
["pointerdown", "pointerup"].forEach(function (type) {
  node.dispatchEvent(new PointerEvent(type, {bubbles: true, button: 0, pointerId: 1}));
});
out.panel = $("#panel .full").textContent;
out.panel_hidden = $("#panel").hidden;
out.hash = decodeURIComponent(location.hash);
document.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape"}));
out.closed = $("#panel").hidden && !$(".node.selected");
document.body.dataset.drive = JSON.stringify(out);
"""
"""Drives the report's controls as a user would, and records what they did on ``<body>``."""


def test_report_layout_orders_columns_to_avoid_crossings():
    # sources a b c; x reads c, y reads b, z reads a: in name order every edge would cross
    edges = [("a", "z"), ("b", "y"), ("c", "x"), ("x", "p"), ("z", "q"), ("a", "t1"), ("c", "t2")]
    columns = layered_order([], edges, followers=["t1", "t2"])
    assert columns == [["a", "b", "c"], ["z", "t1", "y", "x", "t2"], ["q", "p"]]
    assert layered_order([], reversed(edges), followers=("t2", "t1")) == columns  # deterministic
    chain = [(f"n{i:05d}", f"n{i + 1:05d}") for i in range(5000)]  # deep: no recursion limit
    assert len(layered_order(["alone"], chain)) == 5001
    cycle = layered_order([], [("a", "b"), ("b", "c"), ("c", "a"), ("s", "a")])
    assert sorted(k for column in cycle for k in column) == ["a", "b", "c", "s"]
    assert short_name("job:model.floe.orders") == "orders"
    assert short_name("job:test.floe.unique_stg_orders_order_id.e3b841c71a") == (
        "unique_stg_orders_order_id"
    )
    assert short_name("job:model.floe.orders.v2") == "orders.v2"
    assert short_name("dataset:warehouse.main.orders") == "orders"
    assert short_name("dataset:s3://bucket/exports/orders.csv") == "orders.csv"


HOSTILE = '</script><script>document.title="pwned"</script><img src=x onerror=alert(1)><b>x</b>'
"""User text (a name, an error message) that would run or draw if it were not escaped."""


class Tags(HTMLParser):
    """How many elements of each tag a page has, and its title."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter[str] = Counter()
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen[tag] += 1
        self._in_title = tag == "title" and self.seen[tag] == 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def bench_report_render() -> ModuleType:
    """``bench/report_render.py`` of this repository, whose ``synthetic_events`` the
    benchmark renders."""
    spec = importlib.util.spec_from_file_location("report_render", BENCH / "report_render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_self_contained(html: str) -> None:
    """Nothing is fetched: no external source or link, a CSP that forbids fetching."""
    assert not re.search(r"""\b(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert '<meta http-equiv="Content-Security-Policy" content="default-src \'none\';' in html
    assert "<script src" not in html and "<link" not in html


def first_render_ms(dom: str) -> int:
    found = re.search(r'<body[^>]* data-first-render-ms="(\d+)"', dom)
    assert found, "the page recorded no first render: its script failed"
    return int(found.group(1))


def drawn_jobs(dom: str) -> dict[str, tuple[str, str]]:
    """The job nodes the page drew: name -> (state, dbt resource type)."""
    return {
        unescape(name): (state, kind)
        for name, state, kind in re.findall(
            r'<g class="node job [a-z ]+" data-name="([^"]+)" data-state="([A-Z]+)"'
            r' data-type="([A-Z]+)"',
            dom,
        )
    }


def drawn_datasets(dom: str) -> set[str]:
    return {
        unescape(n) for n in re.findall(r'<g class="node dataset[a-z ]*" data-name="([^"]+)"', dom)
    }


def dump_dom(browser: str, url: str, *args: str) -> str:
    """The page at ``url`` once loaded and its script has run, which must not have failed."""
    done = headless(browser, "--enable-logging=stderr", "--v=0", *args, "--dump-dom", url)
    errors = [line for line in done.stderr.splitlines() if "Uncaught" in line]
    assert not errors, errors
    return done.stdout


def details(dom: str) -> str:
    """The details panel's HTML (a node is selected)."""
    found = re.search(r'<aside id="panel">(.*?)</aside>', dom, re.S)
    assert found, "no details panel open"
    return found.group(1)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("{}", "not an OpenLineage run event: no run.runId"),
        ("[]", "not an OpenLineage run event: a JSON list, not an object"),
        ('"x"', "not an OpenLineage run event: a JSON str, not an object"),
        ("{not json", "not a JSON event"),
    ],
)
@pytest.mark.parametrize("command", ["summary", "check", "report"])
def test_a_line_that_is_not_an_event_is_one_line_of_error(
    build, tmp_path: Path, command: str, line: str, why: str
):
    _, ws = build
    events = ws.events_file.read_text().splitlines()
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join([*events[:3], line, *events[3:]]) + "\n")
    done = cli(command, str(broken), cwd=ws.project)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"error: {broken}:4: {why}")


def test_check_refuses_a_start_after_the_end_and_finds_open_runs(build, tmp_path: Path):
    result, ws = build
    events = ws.events()
    ended = next(e for e in events if e["eventType"] == "COMPLETE")
    restarted = json.loads(json.dumps(ended)) | {"eventType": "START"}
    never_ended = next(e for e in events if e["eventType"] == "START") | {
        "run": {"runId": "6f1c5d2e-8a41-4b8e-9a0e-2f5f0f4c6a11", "facets": {}}
    }
    broken = tmp_path / "broken.jsonl"
    lines = [never_ended, *events, restarted]
    broken.write_text("".join(json.dumps(e) + "\n" for e in lines))
    done = cli("check", str(broken), "--manifest", str(run_manifest(ws.project, result.run_id)))
    assert done.returncode == 1
    assert f"{ended['job']['name']}: START after the terminal event COMPLETE" in done.stdout
    assert "runs in the file were started and never ended" in done.stdout
    assert "6f1c5d2e-8a41-4b8e-9a0e-2f5f0f4c6a11" in done.stdout
    assert "floe-lineage recover" in done.stdout
