"""``floe-lineage replay`` against backends that drip, stall or take their time: it stops at the
first dead-looking backend and at its total deadline, says how many events were sent and how
many remain, and never holds up a run that spools meanwhile."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from conftest import Backend

from floe_lineage.delivery.config import DEFAULT_DELIVERY_BUDGET
from floe_lineage.delivery.spool import Spool
from floe_lineage.tools.cli import main as floe_lineage


def spooled(tmp_path: Path, url: str, count: int, timeout: str | None = None) -> Path:
    """An HTTP config for ``url`` and a spool of ``count`` events beside it."""
    config = tmp_path / "openlineage.yml"
    config.write_text(
        f"transport:\n  type: http\n  url: {url}\n" + (f"  timeout: {timeout}\n" if timeout else "")
    )
    spool = Spool(tmp_path / ".lineage" / "spool.jsonl")
    for n in range(count):
        spool.add({"eventType": "OTHER", "n": n})
    return config


def left_in(tmp_path: Path) -> list[int]:
    spool = tmp_path / ".lineage" / "spool.jsonl"
    return [json.loads(line)["n"] for line in spool.read_text().splitlines()]


def test_replay_stops_at_a_backend_that_drips_its_answer(tmp_path: Path, backend: Backend, capsys):
    backend.mode, backend.delay = "drip", 0.05  # 28 bytes: about 1.4 s an answer, in bytes
    config = spooled(tmp_path, backend.url, 3)
    assert floe_lineage(["replay", "--config", str(config)]) == 1
    captured = capsys.readouterr()
    assert "replayed 0 events" in captured.out and "3 still spooled" in captured.out
    assert "one request took over 0.8 s" in captured.err
    assert backend.requests == 1  # the first dead-looking answer ends the replay
    assert left_in(tmp_path) == [0, 1, 2]


def test_replay_ends_at_its_deadline(tmp_path: Path, backend: Backend, capsys):
    backend.mode, backend.delay = "slow", 0.3  # each request within its timeout
    config = spooled(tmp_path, backend.url, 20)
    assert floe_lineage(["replay", "--config", str(config), "--deadline", "1"]) == 1
    out, err = capsys.readouterr()
    sent, left = int(out.split()[1]), int(out.split("; ")[1].split()[0])
    assert sent + left == 20 and 0 < sent < 20
    assert "the replay's deadline of 1 s is spent" in err
    assert left_in(tmp_path) == list(range(sent, 20))


def test_a_run_spooling_during_a_replay_waits_for_it_at_most_its_budget(
    tmp_path: Path, backend: Backend
):
    backend.mode = "hang"  # takes the request and answers only when released
    config = spooled(tmp_path, backend.url, 3, timeout="60")
    replay = threading.Thread(target=floe_lineage, args=(["replay", "--config", str(config)],))
    replay.start()
    deadline = time.monotonic() + 30
    while backend.requests == 0 and replay.is_alive() and time.monotonic() < deadline:
        replay.join(0.01)  # until the replay's first request is in flight
    assert backend.requests == 1
    run = threading.Thread(
        target=Spool(tmp_path / ".lineage" / "spool.jsonl").add, args=({"n": 3},)
    )
    run.start()
    run.join(DEFAULT_DELIVERY_BUDGET)
    waited = run.is_alive()
    in_flight = replay.is_alive()
    backend.released.set()
    replay.join(60)
    run.join(60)
    assert in_flight, "the replay ended before the run spooled"
    assert not waited, "a run spooling waited for the replay beyond its delivery budget"
    assert 3 in left_in(tmp_path)  # the run's event is still spooled after the replay
