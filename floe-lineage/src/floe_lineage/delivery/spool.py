"""The spool: events that could not be delivered, kept in order until ``replay`` sends them.

Written and drained under an exclusive lock, so concurrent runs and a replay never interleave.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .locking import locked
from .serialization import event_line


class Spool:
    """Events that could not be delivered, kept in order until ``replay`` sends them."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, event: Any) -> None:
        with locked(self.path, "ab") as handle:
            handle.write(event_line(event))

    def drain(self, send: Any) -> tuple[int, int, Exception | None]:
        """Send the spooled events in order with ``send(event_dict)``. At the first failure the
        rest stay spooled, in order. Returns (sent, still spooled, the failure)."""
        if not self.path.exists():
            return 0, 0, None
        failure: Exception | None = None
        with locked(self.path, "r+") as handle:
            lines = [line for line in handle.read().splitlines() if line.strip()]
            kept: list[str] = []
            for line in lines:
                if kept:  # keep the order: once one fails, the rest wait behind it
                    kept.append(line)
                    continue
                try:
                    send(json.loads(line))
                except Exception as exc:
                    failure = exc
                    kept.append(line)
            handle.seek(0)
            handle.truncate()
            handle.writelines(line + "\n" for line in kept)
        return len(lines) - len(kept), len(kept), failure
