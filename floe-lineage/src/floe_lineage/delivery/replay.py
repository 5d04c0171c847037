"""``floe-lineage replay``: the spooled events sent in order, as a run would send them.

Contract: like a run, the replay stops at the first dead-looking backend: a delivery error, or
one request taking longer than the deadline of the configuration (``LineageConfig.
delivery_deadline``, else ``DEFAULT_DELIVERY_TIMEOUT``) in all, answer included, whatever the
HTTP client's own ``timeout`` (even ``null``). It also stops once its total ``deadline`` is
spent (checked before each event). Either way the events not sent stay spooled, in order, and
the result says how many were sent, how many remain and why it stopped. A request still in
flight when the replay stops is abandoned on a daemon thread: if the backend takes it after
all, that one event arrives twice once replayed again. The spool's lock is held only briefly
(``Spool.drain``), so runs that spool meanwhile are not held up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import DEFAULT_DELIVERY_TIMEOUT, LineageConfig
from .emitter import LOCAL_TRANSPORTS
from .spool import Spool

DEFAULT_REPLAY_DEADLINE = 60.0
"""Seconds a replay may take in all, unless ``--deadline`` says otherwise."""


class Stopped(Exception):
    """The replay stopped before the backend failed: a request or the replay took too long."""


@dataclass(frozen=True)
class Replayed:
    sent: int
    left: int
    stopped: Exception | None
    """Why events are left: the delivery error or ``Stopped``; None when all were sent."""


def replay(config: LineageConfig, deadline: float = DEFAULT_REPLAY_DEADLINE) -> Replayed:
    """Send the spool of ``config`` through its transport within ``deadline`` seconds."""
    transport = config.transport()
    per_request = config.delivery_deadline or DEFAULT_DELIVERY_TIMEOUT
    ends = time.monotonic() + deadline
    abandoned = False

    def send(event: dict[str, Any]) -> None:
        nonlocal abandoned
        if time.monotonic() >= ends:
            raise Stopped(f"the replay's deadline of {deadline:g} s is spent")
        if getattr(transport, "kind", None) in LOCAL_TRANSPORTS:
            transport.emit(event)
            return
        remaining = ends - time.monotonic()
        abandoned = not _within(lambda: transport.emit(event), min(per_request, remaining))
        if abandoned and per_request < remaining:
            raise Stopped(f"one request took over {per_request:g} s")
        if abandoned:
            raise Stopped(f"the replay's deadline of {deadline:g} s is spent")

    sent, left, failure = Spool(config.spool_file).drain(send)
    if not abandoned:  # a request still hanging would hold up closing its session
        transport.close()
    return Replayed(sent, left, failure)


def _within(call: Callable[[], Any], seconds: float) -> bool:
    """Run ``call`` on a daemon thread; whether it returned within ``seconds`` (its error,
    if it raised in time, is raised here)."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            call()
            outcome.append(None)
        except BaseException as exc:  # handed to the caller
            outcome.append(exc)

    worker = threading.Thread(target=run, name="openlineage-replay", daemon=True)
    worker.start()
    worker.join(max(seconds, 0.0))
    if not outcome:
        return False
    if outcome[0] is not None:
        raise outcome[0]
    return True
