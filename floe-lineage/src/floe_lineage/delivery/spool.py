"""The spool: events that could not be delivered, kept in order until ``replay`` sends them.

Events are appended under the spool's exclusive lock, each as one whole line (a write cut short
by a full disk is undone and counted by the emitter). ``drain`` sends them in order and commits
its progress after every event sent, so a replay killed midway sends at most the event that was
in flight again; it then keeps only what is left, swapped in atomically.

Contract with runs: ``drain`` holds the spool's lock only to read the file and, at the end, to
swap in what is left (never while sending), so a run that spools during a replay waits only
for those; replays exclude each other through a lock of their own (``<spool>.replay.lock``).
Both files are ``PRIVATE`` (events hold SQL and names), in a 0o700 folder when it is created.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .locking import PRIVATE, append, exclusive, open_for_append, replace
from .serialization import event_line


class Spool:
    """Events that could not be delivered, in the order they were made."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.progress = path.with_name(path.name + ".sent")
        """``<inode> <offset>``: how far a replay of that very file got."""
        self.replaying = path.with_name(path.name + ".replay")
        """Locked (``<spool>.replay.lock``) by the replay under way."""

    def add(self, event: Any) -> None:
        """Append ``event``; raises ``OSError`` (nothing written) when it cannot."""
        with exclusive(self.path, PRIVATE):
            fd = open_for_append(self.path, PRIVATE, ours=True)
            try:
                append(fd, event_line(event))
            finally:
                os.close(fd)

    def drain(self, send: Callable[[dict[str, Any]], Any]) -> tuple[int, int, Exception | None]:
        """Send the spooled events in order with ``send(event_dict)``. At the first failure
        (``send`` raising: a delivery error, or a deadline it enforces) the rest stay spooled,
        in order. Returns (sent, still spooled, the failure)."""
        if not self.path.exists():
            return 0, 0, None
        failure: Exception | None = None
        sent = 0
        with exclusive(self.replaying, PRIVATE):
            with exclusive(self.path, PRIVATE):
                data = self.path.read_bytes()
                inode = os.stat(self.path).st_ino
            offset = self._committed(inode, len(data))
            while offset < len(data):
                end = data.find(b"\n", offset)
                end = len(data) if end < 0 else end + 1
                line = data[offset:end]
                if line.strip():
                    try:
                        send(json.loads(line))
                    except Exception as exc:
                        failure = exc
                        break
                    sent += 1
                offset = end
                replace(self.progress, f"{inode} {offset}".encode(), PRIVATE)
            with exclusive(self.path, PRIVATE):  # runs appended meanwhile: keep their events
                rest = self.path.read_bytes()[offset:]
                replace(self.path, rest, PRIVATE)  # a new file: the progress no longer applies
                self.progress.unlink(missing_ok=True)
        return sent, sum(1 for line in rest.splitlines() if line.strip()), failure

    def _committed(self, inode: int, size: int) -> int:
        """Where an earlier replay of this very file (same inode) stopped, else 0."""
        try:
            recorded_inode, offset = self.progress.read_text().split()
        except (OSError, ValueError):
            return 0
        if int(recorded_inode) != inode or not 0 <= int(offset) <= size:
            return 0
        return int(offset)
