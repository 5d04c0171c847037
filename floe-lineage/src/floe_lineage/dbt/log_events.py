"""Node facts from dbt's structured (``--log-format json``) log events.

At dbt's default log level a node's start is ``LogStartLine``, its result a ``Log*Result``
event, a node skipped because something upstream failed ``SkippingDetails``, and the error
text of a failed node arrives only at the end of the run, as ``RunResultError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class NodeStarted:
    unique_id: str
    at: datetime


@dataclass(frozen=True)
class NodeFinished:
    unique_id: str
    status: str
    """dbt's node status: success, error, pass, fail, warn, skipped, no-op ..."""
    at: datetime
    failures: int | None = None
    """Rows a dbt test found failing."""


@dataclass(frozen=True)
class NodeError:
    unique_id: str
    message: str


NodeFact = NodeStarted | NodeFinished | NodeError


def read_fact(raw_event: Mapping[str, Any]) -> NodeFact | None:
    """The node fact a structured dbt log event carries, or None for every other event."""
    info = raw_event.get("info", {})
    data = raw_event.get("data", {})
    node_info = data.get("node_info") or {}
    unique_id = node_info.get("unique_id")
    if not unique_id:
        return None
    name = info.get("name", "")
    if name == "LogStartLine":
        return NodeStarted(unique_id, parse_time(node_info.get("node_started_at") or info["ts"]))
    if name.startswith("Log") and name.endswith("Result"):
        return NodeFinished(
            unique_id,
            node_info.get("node_status") or str(data.get("status", "")).lower(),
            parse_time(node_info.get("node_finished_at") or info["ts"]),
            data.get("num_failures"),
        )
    if name == "SkippingDetails":
        return NodeFinished(unique_id, "skipped", parse_time(info["ts"]))
    if name == "RunResultError" and data.get("msg"):
        return NodeError(unique_id, data["msg"])
    return None


def parse_time(value: str) -> datetime:
    """dbt timestamps are UTC, sometimes without an offset; always return an aware datetime."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
