"""Lineage that survives kills, full disks and slow backends: terminal events are sent live,
runs a killed process left open are closed, files hold only whole lines, delivery never costs a
run more than its budget, a replay sends each event once, and no secret reaches an event or a
message."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Backend, copy_dbt_project, make_workspace

from floe_lineage.dbt.source_code import git_checkout
from floe_lineage.delivery.emitter import LineageEmitter, redact
from floe_lineage.delivery.file_transport import AppendingFileTransport
from floe_lineage.delivery.open_runs import OpenRuns
from floe_lineage.delivery.processes import Process
from floe_lineage.delivery.spool import Spool
from floe_lineage.tools.check import TERMINAL, open_runs
from floe_lineage.tools.cli import main as floe_lineage

SLOW_MODEL = "select count(*) as n from range(0, 20000000000) as t(i) where i % 7 = 3\n"
RUNNER = """
import sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from conftest import make_workspace, materialize

ws = make_workspace(Path(sys.argv[2]), Path(sys.argv[3]))
selection = sys.argv[4:] or None
sys.exit(0 if materialize(ws, strict=False, selection=selection).success else 1)
"""


def start_run(root: Path, project: Path, *selection: str) -> subprocess.Popen:
    """A Dagster run of ``project`` in a process group of its own, events under ``root``."""
    here = str(Path(__file__).parent)
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, here, str(root), str(project), *selection],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def events_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def dbt_log(project: Path, *names: str) -> list[dict[str, Any]]:
    """The events named ``names`` in dbt's own log (JSON lines), in every run folder of
    ``project``; a line dbt is still writing is left for later."""
    found = []
    for log in project.glob("target/*/dbt.log"):
        for line in log.read_bytes().split(b"\n")[:-1]:  # whole lines only
            if any(f'"{name}"'.encode() in line for name in names):
                event = json.loads(line)
                if event["info"]["name"] in names:
                    found.append(event)
    return found


def reported_finished(project: Path) -> set[str]:
    """The nodes dbt's own log says it finished, in every run folder of ``project``."""
    return {e["data"]["node_info"]["unique_id"] for e in dbt_log(project, "NodeFinished")}


def wait_until_quiet(
    events_file: Path, project: Path, slow_job: str, run: subprocess.Popen
) -> None:
    """Until ``slow_job`` has started, dbt's own log says it finished every other node of the
    run, and no event came for 3 seconds after both. Quiet alone does not mean dbt got that far:
    the slow node starts with the seeds, and on a loaded machine dbt can be silent for seconds;
    and the run reads dbt's last lines a moment after dbt logged them. However long that takes
    on a loaded machine: it fails only when the run ends first."""
    size, since, finished, others_done = -1, time.monotonic(), 0, False
    while run.poll() is None:
        current = events_file.stat().st_size if events_file.exists() else 0
        if current != size:
            size, since = current, time.monotonic()
        started = any(
            e["job"]["name"] == slow_job and e["eventType"] == "START"
            for e in events_of(events_file)
        )
        if not others_done:
            nodes = [e["data"]["node_count"] for e in dbt_log(project, "ConcurrencyLine")]
            finished = len(reported_finished(project) - {slow_job})
            others_done = bool(nodes) and finished >= sum(nodes) - 1
            if others_done:
                since = time.monotonic()  # the quiet counts from here
        if started and others_done and time.monotonic() - since > 3:
            return
        time.sleep(0.2)
    raise AssertionError(
        f"the run ended ({run.returncode}) before {slow_job} ran alone: dbt finished"
        f" {finished} other nodes"
    )


@pytest.mark.slow
@pytest.mark.parametrize("kill", ["SIGKILL the step", "SIGTERM the group", "SIGKILL the group"])
def test_a_killed_run_keeps_what_dbt_finished_and_the_next_run_closes_the_rest(
    tmp_path: Path, kill: str
):
    project = copy_dbt_project(tmp_path / "dbt")
    (project / "models" / "marts" / "slow.sql").write_text(SLOW_MODEL)
    ws = make_workspace(tmp_path / "ws", project)
    run = start_run(ws.root, project)
    try:
        wait_until_quiet(ws.events_file, project, "model.floe.slow", run)
        if kill == "SIGKILL the step":
            os.kill(run.pid, signal.SIGKILL)
        else:
            os.killpg(run.pid, signal.SIGTERM if "SIGTERM" in kill else signal.SIGKILL)
        run.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)  # dbt, if only the step was killed
    events = events_of(ws.events_file)
    ended = {e["job"]["name"] for e in events if e["eventType"] in TERMINAL}
    finished = reported_finished(project)
    assert len(finished) >= 5
    assert finished <= ended  # every node dbt reported finished has its terminal event
    left_open = open_runs(events)
    if "SIGKILL" in kill:  # nothing could close what was running
        assert any("model.floe.slow" in run for run in left_open), left_open
    else:  # Dagster turns SIGTERM into an interruption: the run closes its own runs
        assert left_open == []
        (slow,) = [
            e for e in events if e["job"]["name"] == "model.floe.slow" and e["eventType"] == "ABORT"
        ]
        assert "dbt stopped before this node finished" in json.dumps(slow)
        return

    # the next run, on this machine, closes what the killed one left open
    after = start_run(ws.root, project, "raw_customers")
    assert after.wait() == 0
    events = events_of(ws.events_file)
    assert open_runs(events) == []
    aborts = [
        e for e in events if e["eventType"] == "ABORT" and "closed by floe-lineage" in json.dumps(e)
    ]
    assert {e["job"]["name"] for e in aborts} >= {"model.floe.slow"}
    message = aborts[0]["run"]["facets"]["errorMessage"]["message"]
    assert "ended without closing it" in message and str(run.pid) in message
    closed = {e["run"]["runId"] for e in aborts}
    assert all(
        len([x for x in events if x["run"]["runId"] == run_id and x["eventType"] in TERMINAL]) == 1
        for run_id in closed
    )


def node_event(kind: str, run_id: str) -> dict[str, Any]:
    return {
        "eventType": kind,
        "eventTime": "2026-01-01T00:00:00+00:00",
        "run": {"runId": run_id},
        "job": {"namespace": "ns", "name": f"model.p.{run_id[:4]}"},
        "producer": "https://example.com/p",
    }


def test_the_open_runs_journal_kept_open_follows_another_process_compacting_it(tmp_path: Path):
    """An emitter keeps the journal open between events; when another process compacts it
    (replaces the file) meanwhile, what it records next goes into the new journal."""
    journal = tmp_path / ".lineage" / "open-runs.jsonl"
    mine, other = OpenRuns(journal), OpenRuns(journal)
    other._me = Process("another-host", 1, None, None, None)  # its runs are not judged here
    other.record(node_event("START", "a0a0a0a0-0000-4000-8000-000000000001"))
    mine.record(node_event("START", "b0b0b0b0-0000-4000-8000-000000000002"))
    first = journal.stat().st_ino
    assert other.close_orphans(lambda event: None).closed == []  # compacts: a new file
    assert journal.stat().st_ino != first
    mine.record(node_event("COMPLETE", "b0b0b0b0-0000-4000-8000-000000000002"))
    entries = [json.loads(line) for line in journal.read_text().splitlines()]
    assert entries[-1] == {"closed": "b0b0b0b0-0000-4000-8000-000000000002"}
    assert [e.get("open") for e in entries[:-1]] == [
        "a0a0a0a0-0000-4000-8000-000000000001",
        "b0b0b0b0-0000-4000-8000-000000000002",
    ]
    descriptors = len(os.listdir("/proc/self/fd"))
    mine.close()
    other.close()
    assert len(os.listdir("/proc/self/fd")) == descriptors - 4  # each: journal and lock file
    mine.record(node_event("START", "c0c0c0c0-0000-4000-8000-000000000003"))  # opens again
    assert json.loads(journal.read_text().splitlines()[-1])["open"].startswith("c0c0")
    mine.close()


def test_recover_closes_runs_of_a_process_that_is_gone(tmp_path: Path, capsys):
    config = tmp_path / "openlineage.yml"
    events = tmp_path / "events.jsonl"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events}\n  append: true\n")
    dead = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                from pathlib import Path
                from floe_lineage.delivery.emitter import LineageEmitter
                with LineageEmitter.configure(None, config_path=Path({str(config)!r})) as e:
                    e.emit({{"eventType": "START", "eventTime": "2026-01-01T00:00:00+00:00",
                             "run": {{"runId": "6f1c5d2e-8a41-4b8e-9a0e-2f5f0f4c6a11"}},
                             "job": {{"namespace": "ns", "name": "model.p.a"}},
                             "producer": "https://example.com/p"}})
                """
            ),
        ],
        check=True,
    )
    assert dead.returncode == 0  # it ended without closing its run
    assert floe_lineage(["recover", "--config", str(config)]) == 0
    assert "closed 1 runs" in capsys.readouterr().out
    abort = events_of(events)[-1]
    assert (abort["eventType"], abort["job"]["name"]) == ("ABORT", "model.p.a")
    assert floe_lineage(["recover", "--config", str(config)]) == 0  # once only
    assert "closed 0 runs" in capsys.readouterr().out


# -- full disks -----------------------------------------------------------------------------

FULL_DISK = """
import logging, resource, signal, sys
from pathlib import Path
from floe_lineage.delivery.emitter import LineageEmitter

logging.basicConfig(level=logging.WARNING, format="%(message)s")
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, as on a full disk
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), int(sys.argv[2])))
with LineageEmitter.configure(None, config_path=Path(sys.argv[1])) as emitter:
    for n in range(100):
        emitter.emit({"eventType": "OTHER", "n": n, "padding": "x" * 900})
print(emitter.emitted, emitter.spooled, emitter.lost)
"""


def whole_lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes() if path.exists() else b""
    assert data == b"" or data.endswith(b"\n"), f"{path} ends in a torn line"
    return [json.loads(line) for line in data.splitlines()]


def test_a_full_disk_leaves_whole_lines_and_counts_every_event(tmp_path: Path):
    events = tmp_path / "events.jsonl"
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events}\n  append: true\n")
    done = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(config), "40000"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    emitted, spooled, lost = map(int, done.stdout.split())
    written = whole_lines(events)
    kept = whole_lines(tmp_path / ".lineage" / "spool.jsonl")
    assert (len(written), len(kept)) == (emitted, spooled)
    assert emitted + spooled + lost == 100 and lost > 0
    assert [e["n"] for e in written + kept] == list(range(emitted + spooled))  # none twice
    assert f"{emitted} events delivered, {spooled} spooled" in done.stderr
    assert f"{lost} lost" in done.stderr


def test_a_torn_line_is_cut_before_anything_is_appended(tmp_path: Path, caplog):
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"n": 1}\n{"n": 2, "padd')  # a write cut short by a full disk
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events}\n  append: true\n")
    spool = Spool(tmp_path / ".lineage" / "spool.jsonl")
    spool.add({"n": 3})
    with caplog.at_level(logging.WARNING):
        assert floe_lineage(["replay", "--config", str(config)]) == 0
    assert whole_lines(events) == [{"n": 1}, {"n": 3}]
    assert "removed a torn line of 14 bytes" in caplog.text


def test_a_spool_write_cut_short_is_undone(tmp_path: Path):
    spool = Spool(tmp_path / "spool.jsonl")
    spool.add({"n": 1})
    code = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        from floe_lineage.delivery.spool import Spool
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100, 100))
        try:
            Spool(Path({str(spool.path)!r})).add({{"n": 2, "padding": "x" * 500}})
        except OSError as error:
            print("refused:", error)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.startswith("refused:")
    assert whole_lines(spool.path) == [{"n": 1}]


# -- slow and silent backends ---------------------------------------------------------------


def http_emitter(tmp_path: Path, url: str, timeout: str | None = None, **options: Any):
    config = tmp_path / "openlineage.yml"
    config.write_text(
        f"transport:\n  type: http\n  url: {url}\n" + (f"  timeout: {timeout}\n" if timeout else "")
    )
    log = logging.getLogger(f"floe.test.{tmp_path.name}")
    return LineageEmitter.configure(None, config_path=config, log=log, **options), log


def deliver(emitter: LineageEmitter, count: int = 48) -> float:
    """Emit ``count`` events as a run would, then close; seconds spent in ``close``."""
    for n in range(count):
        emitter.emit({"eventType": "OTHER", "n": n})
    started = time.monotonic()
    emitter.close()
    return time.monotonic() - started


@pytest.mark.parametrize(
    ("mode", "timeout"),
    [("drip", None), ("hang", "null"), ("slow", None)],
    ids=["drips its answer", "never answers, timeout null", "0.3 s a request"],
)
def test_a_slow_backend_costs_a_run_at_most_its_budget(
    tmp_path: Path, backend: Backend, caplog, mode: str, timeout: str | None
):
    backend.mode = mode
    emitter, log = http_emitter(tmp_path, backend.url, timeout)
    with caplog.at_level(logging.WARNING, logger=log.name):
        spent = deliver(emitter)
    assert spent <= 2.0 + 0.5  # the budget, and one poll
    assert emitter.emitted + emitter.spooled == 48 and emitter.lost == 0
    assert emitter.spooled > 0
    spooled = [json.loads(line)["n"] for line in emitter._spool.path.read_text().splitlines()]
    assert len(spooled) == emitter.spooled and spooled == sorted(spooled)
    warnings = [r.getMessage() for r in caplog.records if r.name == log.name]
    reason = {
        "drip": "one request took over 0.8 s",
        "hang": "one request took over 0.8 s",
        "slow": "delivery budget of 2 s is spent",
    }[mode]
    assert any(reason in w for w in warnings), warnings
    assert any(f"{emitter.spooled} spooled to" in w for w in warnings), warnings


# -- replay ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_replay_killed_midway_sends_at_most_one_event_twice(tmp_path: Path, backend: Backend):
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: http\n  url: {backend.url}\n")
    spool = Spool(tmp_path / ".lineage" / "spool.jsonl")
    for n in range(48):
        spool.add({"eventType": "OTHER", "n": n})
    backend.mode, backend.delay = "slow", 0.1
    replay = [str(Path(sys.executable).parent / "floe-lineage"), "replay", "--config", str(config)]
    first = subprocess.Popen(replay, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while backend.requests < 10 and first.poll() is None:
        time.sleep(0.02)
    first.kill()
    first.wait()
    backend.mode = "ok"
    done = subprocess.run(replay, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    received = [e["n"] for e in backend.events]
    assert sorted(set(received)) == list(range(48))
    assert len(received) - 48 <= 1, received
    assert not spool.path.read_text().strip()


# -- secrets --------------------------------------------------------------------------------


def test_git_credentials_never_reach_an_event(tmp_path: Path):
    repo = tmp_path / "repo"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "-C", str(repo)]
    repo.mkdir()
    (repo / "x.sql").write_text("select 1\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "x"], check=True)
    remote = "https://gitlab-ci-token:glcbt-s3cr3t@gitlab.example.com/acme/x.git?private=tok3n"
    subprocess.run([*git, "remote", "add", "origin", remote], check=True)
    checkout = git_checkout(repo)
    assert checkout is not None
    assert (checkout.url, checkout.remote) == (
        "https://gitlab.example.com/acme/x.git",
        "https://gitlab.example.com/acme/x.git",
    )


def test_messages_never_show_url_credentials_or_query_strings():
    text = (
        "HTTPError for http://user:pa55@backend.example.com:5000/api/v1/lineage?api_key=K3Y"
        " and https://backend.example.com/x?token=T0K (key s3cret-value)"
    )
    shown = redact(text, ("s3cret-value",))
    for secret in ("pa55", "user:", "K3Y", "T0K", "s3cret-value"):
        assert secret not in shown
    assert "http://***@backend.example.com:5000/api/v1/lineage?***" in shown


def test_a_failing_endpoints_query_string_is_not_in_the_warning(tmp_path: Path, caplog):
    emitter, log = http_emitter(tmp_path, "http://127.0.0.1:9/api?api_key=QUERY-SECRET")
    with caplog.at_level(logging.WARNING, logger=log.name):
        deliver(emitter, 3)
    assert caplog.records, "no warning"
    assert "QUERY-SECRET" not in caplog.text


def test_the_file_transport_is_registered_for_every_file_transport():
    from openlineage.client.transport import get_default_factory

    assert get_default_factory().transports["file"] is AppendingFileTransport
