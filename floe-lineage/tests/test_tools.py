"""The ``floe-lineage`` command a user runs on captured events: ``check`` against the manifest
and the schemas, ``summary``, and the HTML ``report`` (looked at in headless Chromium)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

from floe_lineage.dbt.manifest import run_manifest

FLOE_LINEAGE = Path(sys.executable).parent / "floe-lineage"


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FLOE_LINEAGE), *args], capture_output=True, text=True, check=False, cwd=cwd
    )


def test_check_passes_a_complete_run(build):
    result, ws = build
    done = cli("check", str(ws.events_file), cwd=ws.project)  # finds the run's manifest
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Run {result.run_id}: 23 dbt nodes, 71 events (23 COMPLETE)" in done.stdout
    assert "OK: every node has a START and one terminal event" in done.stdout
    assert "OK: all 71 events are valid OpenLineage" in done.stdout


def test_summary_groups_by_run_and_ends_quietly_in_a_closed_pipe(
    build, failed_build, tmp_path: Path
):
    (result, ws), (failed, failed_ws) = build, failed_build
    both = tmp_path / "two-runs.jsonl"
    both.write_text(ws.events_file.read_text() + failed_ws.events_file.read_text())
    done = cli("summary", str(both))
    assert done.returncode == 0, done.stderr
    headers = [line for line in done.stdout.splitlines() if line.startswith("run ")]
    assert headers[0].startswith(f"run {result.run_id}: ") and "23 dbt nodes: 23 COMPLETE" in (
        headers[0]
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
    common = os.path.commonprefix([result.run_id, failed.run_id])
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
    html = page.read_text()
    assert "<script" not in html and not re.search(r"(src|href)=\"https?:", html)  # self-contained

    dom = headless(browser, "--dump-dom", page.as_uri()).stdout
    states = dict(
        re.findall(r'<g class="node job [a-z]*" data-name="([^"]+)" data-state="([A-Z]+)"', dom)
    )
    assert states["model.floe.stg_orders"] == "FAIL"
    assert states["model.floe.orders"] == "ABORT"
    assert states["model.floe.stg_payments"] == "COMPLETE"
    assert not any(name.endswith(".dbt_models") for name in states)  # the step is no node
    datasets = set(re.findall(r'<g class="node dataset" data-name="([^"]+)"', dom))
    assert {"warehouse.main.stg_orders", "warehouse.main.raw_orders"} <= datasets
    assert (
        'data-from="dataset:warehouse.main.raw_orders" data-to="job:model.floe.stg_orders"' in dom
    )
    assert "Binder Error" in dom  # the error text is in the table

    shot = tmp_path / "report.png"
    headless(browser, "--window-size=1400,900", f"--screenshot={shot}", page.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


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
