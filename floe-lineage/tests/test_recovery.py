"""Closing the runs a killed process left open, and only those: ``floe-lineage recover`` and the
journal of open runs against wrong-shaped lines, a full disk, failing transports, other PID
namespaces and configurations that share a folder. No Dagster, no dbt: runs are opened by a
short child process that exits without closing them."""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from floe_lineage.delivery import processes
from floe_lineage.delivery.file_transport import AppendingFileTransport
from floe_lineage.delivery.processes import GONE, Process
from floe_lineage.tools.cli import main as floe_lineage

RUN_A = "6f1c5d2e-8a41-4b8e-9a0e-2f5f0f4c6a11"
RUN_B = "7a2d6e3f-9b52-4c9f-8b1f-3a6a1a5d7b22"
OPENER = """
import json, resource, signal, sys
from pathlib import Path
from floe_lineage.delivery.emitter import LineageEmitter

config, run_ids, close_under_limit = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
def event(kind, run_id):
    return {"eventType": kind, "eventTime": "2026-01-01T00:00:00+00:00",
            "run": {"runId": run_id}, "job": {"namespace": "ns", "name": "model.p." + run_id[:4]},
            "producer": "https://example.com/p"}
with LineageEmitter.configure(None, config_path=config) as emitter:
    for run_id in run_ids:
        emitter.emit(event("START", run_id))
    if close_under_limit != "no":
        journal = emitter.open_runs.path
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: a full disk
        limit = journal.stat().st_size + 8  # no room for a line more in the journal
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        for run_id in run_ids:
            emitter.emit(event("COMPLETE", run_id))
print(emitter.emitted, emitter.failures)
"""


def file_config(path: Path, events: Path) -> Path:
    path.write_text(f"transport:\n  type: file\n  log_file_path: {events}\n  append: true\n")
    return path


def open_runs_and_exit(config: Path, *run_ids: str, close_on_a_full_disk: bool = False) -> str:
    """A process that starts ``run_ids`` through ``config`` and ends (closing them only when
    asked, with no room left in the journal); its output: emitted, failures."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            OPENER,
            str(config),
            ",".join(run_ids),
            "yes" if close_on_a_full_disk else "no",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def events_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def kinds(path: Path) -> list[tuple[str, str]]:
    return [(e["eventType"], e["run"]["runId"]) for e in events_of(path)]


# -- wrong-shaped journal lines -------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "5",
        "null",
        '"closed"',
        "[1, 2]",
        '{"closed": 5}',
        '{"open": "8b3e7f40-0c63-4da0-9c20-4b7b2b6e8c33", "namespace": "ns"}',
        '{"open": "8b3e7f40-0c63-4da0-9c20-4b7b2b6e8c33", "namespace": "ns", "name": "x",'
        ' "producer": "p", "parent": null, "host": "h", "pid": "not a number",'
        ' "process_start": null, "started": ""}',
        '{"open": "9c4f8a51-1d74-4eb1-8d31-5c8c3c7f9d44", "torn',
    ],
    ids=["a number", "null", "a string", "a list", "closed not a run id", "keys missing",
         "pid not a number", "a torn line"],
)  # fmt: skip
def test_a_wrong_shaped_journal_line_is_skipped_reported_and_compacted_away(
    tmp_path: Path, capsys, line: str
):
    config = file_config(tmp_path / "openlineage.yml", tmp_path / "events.jsonl")
    open_runs_and_exit(config, RUN_A)
    journal = tmp_path / ".lineage" / "open-runs.jsonl"
    entry = journal.read_text()  # the same gone process opened RUN_B, after the bad line
    journal.write_text(entry + line + "\n" + entry.replace(RUN_A, RUN_B))
    assert floe_lineage(["recover", "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "closed 2 runs" in captured.out
    assert f"skipped 1 lines of {journal} that are not journal entries" in captured.err
    assert kinds(tmp_path / "events.jsonl")[-2:] == [("ABORT", RUN_A), ("ABORT", RUN_B)]
    assert line not in journal.read_text().splitlines()  # compacted away (ABORTs' lines follow)
    assert floe_lineage(["recover", "--config", str(config)]) == 0
    assert "skipped" not in capsys.readouterr().err
    assert journal.read_text() == ""


# -- recover's errors -----------------------------------------------------------------------


def test_recover_prints_a_transport_error_and_exits_2(tmp_path: Path, capsys, monkeypatch):
    config = file_config(tmp_path / "openlineage.yml", tmp_path / "events.jsonl")
    open_runs_and_exit(config, RUN_A)

    def full_disk(self: AppendingFileTransport, event: Any) -> None:
        raise RuntimeError(f"cannot write to {tmp_path / 'events.jsonl'}: No space left on device")

    monkeypatch.setattr(AppendingFileTransport, "emit", full_disk)
    assert floe_lineage(["recover", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "error: " in err and "No space left on device" in err
    assert "Traceback" not in err
    spooled = events_of(tmp_path / ".lineage" / "spool.jsonl")
    assert [(e["eventType"], e["run"]["runId"]) for e in spooled] == [("ABORT", RUN_A)]


def test_recover_prints_a_full_disk_under_the_journal_and_exits_2(
    tmp_path: Path, capsys, monkeypatch
):
    config = file_config(tmp_path / "openlineage.yml", tmp_path / "events.jsonl")
    open_runs_and_exit(config, RUN_A)

    def full_disk(path: Path, data: bytes, mode: int = 0o644) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("floe_lineage.delivery.open_runs.replace", full_disk)
    assert floe_lineage(["recover", "--config", str(config)]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert kinds(tmp_path / "events.jsonl") == [("START", RUN_A)]  # nothing closed twice later


# -- a full disk under the journal ----------------------------------------------------------


def test_a_run_closed_while_the_journal_is_full_is_never_aborted(tmp_path: Path, capsys):
    events = tmp_path / "events" / "events.jsonl"
    config = file_config(tmp_path / "openlineage.yml", events)
    journal = tmp_path / ".lineage" / "open-runs.jsonl"
    journal.parent.mkdir()
    other = {"namespace": "ns", "name": "x", "producer": "p", "parent": None, "host": "elsewhere"}
    foreign = [json.dumps({"open": str(n)} | other | {"pid": n}) + "\n" for n in range(40)]
    journal.write_text("".join(foreign))  # runs of another machine: kept, larger than events
    emitted, failures = open_runs_and_exit(config, RUN_A, close_on_a_full_disk=True).split()
    assert kinds(events) == [("START", RUN_A), ("COMPLETE", RUN_A)]
    assert floe_lineage(["recover", "--config", str(config)]) == 0
    assert "closed 0 runs" in capsys.readouterr().out
    assert kinds(events) == [("START", RUN_A), ("COMPLETE", RUN_A)]  # no ABORT after COMPLETE
    assert journal.read_text().count('"elsewhere"') == 40
    assert (emitted, failures) == ("2", "0")


# -- whose runs: process identity -----------------------------------------------------------


class FakeProcesses:
    """A process table: pid -> start time; pids not in it are gone."""

    def __init__(self, table: dict[int, str]) -> None:
        self.table = table

    def start_of(self, pid: int) -> str | object | None:
        return self.table.get(pid, GONE)


ME = Process("host", 100, "boot-1", "pid:[4026531836]", "500")


@pytest.mark.parametrize(
    ("recorded", "table", "gone"),
    [
        (Process("host", 7, "boot-1", "pid:[4026531836]", "300"), {}, True),
        (Process("host", 7, "boot-1", "pid:[4026531836]", "300"), {7: "300"}, False),
        (Process("host", 7, "boot-1", "pid:[4026531836]", "300"), {7: "900"}, True),
        (Process("host", 7, "boot-1", "pid:[4026531836]", "300"), {7: None}, False),
        (Process("host", 7, "boot-1", "pid:[4026532001]", "300"), {}, False),
        (Process("host", 7, "boot-1", None, "300"), {}, False),
        (Process("host", 7, "boot-0", "pid:[4026531836]", "300"), {7: "300"}, True),
        (Process("other", 7, "boot-1", "pid:[4026531836]", "300"), {}, False),
        (Process("host", 100, "boot-1", "pid:[4026531836]", "500"), {}, False),
    ],
    ids=[
        "gone",
        "alive",
        "pid reused",
        "start time unknown",
        "another pid namespace",
        "pid namespace not recorded",
        "the machine restarted",
        "another host",
        "this very process",
    ],
)
def test_a_run_is_judged_gone_only_when_its_process_certainly_is(
    recorded: Process, table: dict[int, str], gone: bool
):
    assert processes.certainly_gone(recorded, ME, FakeProcesses(table)) is gone


def test_this_process_is_identified_by_boot_pid_namespace_and_start_time():
    me = processes.this_process()
    assert me.pid == os.getpid()
    if Path("/proc/self/ns/pid").exists():
        assert me.pid_namespace == os.readlink("/proc/self/ns/pid")
        assert me.boot and me.start
        assert processes.LocalProcesses().start_of(os.getpid()) == me.start
    assert processes.LocalProcesses().start_of(2**22 + 1) is GONE


UNSHARE = shutil.which("unshare")


@pytest.mark.skipif(
    UNSHARE is None or os.geteuid() != 0, reason="needs unshare and root (a new PID namespace)"
)
def test_recover_in_another_pid_namespace_leaves_a_live_run_open(tmp_path: Path):
    from floe_lineage.delivery.emitter import LineageEmitter

    config = file_config(tmp_path / "openlineage.yml", tmp_path / "events.jsonl")
    command = str(Path(sys.executable).parent / "floe-lineage")
    recover = [command, "recover", "--config", str(config)]
    with LineageEmitter.configure(None, config_path=config) as emitter:  # this live process
        emitter.emit(
            {"eventType": "START", "eventTime": "2026-01-01T00:00:00+00:00",
             "run": {"runId": RUN_A}, "job": {"namespace": "ns", "name": "model.p.a"},
             "producer": "https://example.com/p"}
        )  # fmt: skip
        inside = subprocess.run(
            [UNSHARE, "--pid", "--fork", "--mount-proc", *recover],
            capture_output=True,
            text=True,
            check=False,
        )
        if inside.returncode != 0 and "unshare" in inside.stderr:
            pytest.skip(f"no new PID namespace here: {inside.stderr.strip()}")
        assert inside.returncode == 0, inside.stderr
        assert "closed 0 runs" in inside.stdout
        assert kinds(tmp_path / "events.jsonl") == [("START", RUN_A)]


# -- whose runs: the destination ------------------------------------------------------------


def test_an_orphans_abort_goes_where_its_start_went(tmp_path: Path, capsys):
    shared = tmp_path / "configs"
    shared.mkdir()
    config_a = file_config(shared / "a.yml", tmp_path / "a" / "events.jsonl")
    config_b = file_config(shared / "b.yml", tmp_path / "b" / "events.jsonl")
    open_runs_and_exit(config_a, RUN_A)
    open_runs_and_exit(config_b, RUN_B)
    assert floe_lineage(["recover", "--config", str(config_b)]) == 0
    assert "closed 1 runs" in capsys.readouterr().out
    assert kinds(tmp_path / "b" / "events.jsonl") == [("START", RUN_B), ("ABORT", RUN_B)]
    assert kinds(tmp_path / "a" / "events.jsonl") == [("START", RUN_A)]
    assert floe_lineage(["recover", "--config", str(config_a)]) == 0
    assert kinds(tmp_path / "a" / "events.jsonl") == [("START", RUN_A), ("ABORT", RUN_A)]


@pytest.mark.parametrize("last", [b"5\n", b'"closed"\n', b"garbage without a newline"])
def test_a_run_is_still_recorded_after_a_wrong_shaped_last_line(tmp_path: Path, last: bytes):
    """The journal is floe-lineage's own file: a bad last line is left for recovery to skip,
    never a reason to stop recording runs."""
    config = file_config(tmp_path / "openlineage.yml", tmp_path / "events.jsonl")
    open_runs_and_exit(config, RUN_A)
    journal = tmp_path / ".lineage" / "open-runs.jsonl"
    with journal.open("ab") as out:
        out.write(last)
    open_runs_and_exit(config, RUN_B)
    lines = journal.read_bytes().splitlines()
    assert lines[1] == last.rstrip(b"\n")  # kept as it was, for recovery to skip
    assert json.loads(lines[2])["open"] == RUN_B
    assert floe_lineage(["recover", "--config", str(config)]) == 0
    assert kinds(tmp_path / "events.jsonl")[-2:] == [("ABORT", RUN_A), ("ABORT", RUN_B)]
