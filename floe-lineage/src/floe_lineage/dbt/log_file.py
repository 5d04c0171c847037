"""dbt's own log file of one invocation, read as it grows, for what the info-level stream on
stdout lacks: the error text of a node that failed, at the moment it fails.

dbt writes every event at debug level to ``dbt.log`` in its log path (dagster-dbt points that at
the invocation's target folder). With ``DBT_LOG_FORMAT_FILE=json`` (``JSON_FILE_LOG``) each line
is a JSON event; ``NodeFinished`` carries the node's run result, message included, about a
millisecond after the ``Log*Result`` line reaches stdout. Only lines naming ``NodeFinished`` are
parsed, so reading the file costs next to nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

JSON_FILE_LOG = {"DBT_LOG_FORMAT_FILE": "json"}
"""The environment that makes dbt write its log file as JSON lines."""
POLL = 0.01


class DbtLogFile:
    """The run results in a growing ``dbt.log``, by unique id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self._results: dict[str, Mapping[str, Any]] = {}

    def result(self, unique_id: str, wait: float = 0.0) -> Mapping[str, Any] | None:
        """The run result dbt logged for ``unique_id``, waiting up to ``wait`` seconds for it
        to be written; None when the file does not have it (not JSON, not written)."""
        ends = time.monotonic() + wait
        while True:
            self._read()
            if unique_id in self._results or time.monotonic() >= ends:
                return self._results.get(unique_id)
            time.sleep(POLL)

    def _read(self) -> None:
        try:
            with self.path.open("rb") as log:
                log.seek(self._offset)
                data = log.read()
        except OSError:
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # the last line may still be being written
        for line in lines:
            if b'"NodeFinished"' not in line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            data_ = event.get("data", {})
            unique_id = data_.get("node_info", {}).get("unique_id")
            if unique_id and isinstance(data_.get("run_result"), dict):
                self._results[unique_id] = data_["run_result"]
