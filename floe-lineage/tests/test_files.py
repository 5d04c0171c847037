"""Files floe-lineage writes beside others': it never cuts a line it cannot show it wrote (only a
partial JSON event), refuses, with one warning, a target that does not look like a file of JSON
events (a symlink to another file included), and keeps the spool and the journal to their
owner (0600 in a 0700 ``.lineage/``) whatever the umask."""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe_lineage.delivery.emitter import LineageEmitter
from floe_lineage.tools.cli import main as floe_lineage

RUN = "6f1c5d2e-8a41-4b8e-9a0e-2f5f0f4c6a11"


def emit(config: Path, *kinds: str) -> tuple[LineageEmitter, list[str]]:
    """Emit one event per kind through ``config``; the emitter and its warnings."""
    warnings: list[str] = []

    class Log:
        def warning(self, msg: str, *args: object) -> None:
            warnings.append(msg % args if args else msg)

    with LineageEmitter.configure(None, config_path=config, log=Log()) as emitter:
        for kind in kinds:
            emitter.emit(
                {"eventType": kind, "eventTime": "2026-01-01T00:00:00+00:00",
                 "run": {"runId": RUN}, "job": {"namespace": "ns", "name": "model.p.a"},
                 "producer": "https://example.com/p"}
            )  # fmt: skip
    return emitter, warnings


def file_config(tmp_path: Path, events: Path | str) -> Path:
    config = tmp_path / "openlineage.yml"
    config.write_text(f"transport:\n  type: file\n  log_file_path: {events}\n  append: true\n")
    return config


# -- files that are not ours ----------------------------------------------------------------

FOREIGN = {
    "no final newline": b"first line\nsecond line",
    "a final newline": b"export PATH=/usr/bin\nalias ll='ls -l'\n",
    "one line, no newline": b"just text",
    "pretty JSON": b'{\n  "a": 1\n}',
}


@pytest.mark.parametrize("content", FOREIGN.values(), ids=FOREIGN.keys())
@pytest.mark.parametrize("through", ["the file", "a symlink"])
def test_a_file_that_is_not_an_events_file_is_left_whole_and_refused(
    tmp_path: Path, content: bytes, through: str
):
    other = tmp_path / "notes.txt"
    other.write_bytes(content)
    events = other
    if through == "a symlink":
        events = tmp_path / "lineage" / "events.jsonl"
        events.parent.mkdir()
        events.symlink_to(other)
    descriptors = len(os.listdir("/proc/self/fd")) if Path("/proc/self/fd").is_dir() else 0
    emitter, warnings = emit(file_config(tmp_path, events), "START", "COMPLETE")
    assert other.read_bytes() == content
    if descriptors:
        assert len(os.listdir("/proc/self/fd")) == descriptors  # the refused file was closed
    assert (emitter.emitted, emitter.spooled, emitter.lost) == (0, 2, 0)
    refused = [w for w in warnings if "does not look like a file of JSON events" in w]
    assert len(refused) == 1, warnings
    assert str(events) in refused[0]


def test_a_whole_event_without_its_newline_is_kept(tmp_path: Path):
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"n": 1}\n{"n": 2}')
    emitter, warnings = emit(file_config(tmp_path, events), "START")
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert lines[:2] == [{"n": 1}, {"n": 2}] and lines[2]["eventType"] == "START"
    assert emitter.emitted == 1 and not warnings


def test_a_partial_event_is_still_cut(tmp_path: Path, caplog):
    events = tmp_path / "events.jsonl"
    events.write_bytes(b'{"n": 1}\n{"n": 2, "padd')
    with caplog.at_level(logging.WARNING, logger="floe_lineage.delivery.locking"):
        emit(file_config(tmp_path, events), "START")
    assert [json.loads(line).get("n") for line in events.read_text().splitlines()] == [1, None]
    assert "removed a torn line of 14 bytes" in caplog.text


# -- permissions ----------------------------------------------------------------------------


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("umask_022")
def test_the_spool_and_the_journal_are_their_owners_alone(tmp_path: Path, capsys):
    config = file_config(tmp_path, ".lineage/events.jsonl")  # the generated default
    emit(config, "START")
    lineage = tmp_path / ".lineage"
    journal = lineage / "open-runs.jsonl"
    assert mode(lineage) == 0o700
    assert mode(journal) == 0o600
    http = tmp_path / "http"
    http.mkdir()
    (http / "openlineage.yml").write_text("transport:\n  type: http\n  url: http://127.0.0.1:9\n")
    emitter, _ = emit(http / "openlineage.yml", "START")
    spool = http / ".lineage" / "spool.jsonl"
    assert emitter.spooled == 1
    assert (mode(spool.parent), mode(spool)) == (0o700, 0o600)
    assert floe_lineage(["replay", "--config", str(http / "openlineage.yml")]) == 1
    assert mode(spool) == 0o600  # rewritten after the replay: still private
    assert floe_lineage(["recover", "--config", str(config)]) == 0  # compacts the journal
    assert mode(journal) == 0o600
    capsys.readouterr()
