"""dbt's own log file of one invocation, read as it grows, for what the info-level stream on
stdout lacks: the error text of a node that failed, at the moment it fails.

dbt writes every event at debug level to ``dbt.log`` in its log path (dagster-dbt points that at
the invocation's target folder). With ``DBT_LOG_FORMAT_FILE=json`` (``JSON_FILE_LOG``) each line
is a JSON event; ``NodeFinished`` carries the node's run result, message included, about a
millisecond after the ``Log*Result`` line reaches stdout. Only lines naming ``NodeFinished`` are
parsed, so reading the file costs next to nothing.

dbt rotates the file as Python's ``RotatingFileHandler`` does, at ``--log-file-max-bytes`` (10 MB
by default, about 300 models): ``dbt.log`` becomes ``dbt.log.1`` (``.1`` becomes ``.2``, up to
five) and a new ``dbt.log`` starts. The reader notices the file it follows was replaced (another
inode) and reads the rest of it, then every newer backup, then the new ``dbt.log``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

JSON_FILE_LOG = {"DBT_LOG_FORMAT_FILE": "json"}
"""The environment that makes dbt write its log file as JSON lines."""
POLL = 0.01
BACKUPS = 5
"""dbt keeps this many rotated files (``dbt.log.1`` ... ``dbt.log.5``)."""


class DbtLogFile:
    """The run results in a growing ``dbt.log``, by unique id."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._inode: int | None = None
        """The file being followed (``path`` until dbt rotates it)."""
        self._partial = b""
        self._results: dict[str, Mapping[str, Any]] = {}
        self._waited_in_vain = False

    def result(self, unique_id: str, wait: float = 0.0) -> Mapping[str, Any] | None:
        """The run result dbt logged for ``unique_id``, waiting up to ``wait`` seconds for it
        to be written; None when the file does not have it (not JSON, not written). Once a
        wait ended without it, later calls do not wait: the file is not being written."""
        ends = time.monotonic() + (0.0 if self._waited_in_vain else wait)
        while True:
            self._read()
            if unique_id in self._results:
                return self._results[unique_id]
            if time.monotonic() >= ends:
                self._waited_in_vain = self._waited_in_vain or wait > 0
                return None
            time.sleep(POLL)

    def _read(self) -> None:
        try:
            with self.path.open("rb") as log:
                inode = os.fstat(log.fileno()).st_ino
                if self._inode is not None and inode != self._inode:
                    self._read_rotated()
                self._inode = inode
                log.seek(self._offset)
                data = log.read()
        except OSError:
            return
        self._offset += len(data)
        self._parse(data)

    def _read_rotated(self) -> None:
        """The rest of the file followed so far, now a backup, and every newer backup."""
        backups = []
        for number in range(BACKUPS, 0, -1):  # oldest first
            backup = self.path.with_name(f"{self.path.name}.{number}")
            try:
                backups.append((backup, backup.stat().st_ino))
            except OSError:
                continue
        inodes = [inode for _, inode in backups]
        # from the one followed so far (at its offset); all, if it was rotated out already
        followed = self._inode in inodes
        start = inodes.index(self._inode) if followed else 0
        for index, (backup, _) in enumerate(backups[start:]):
            offset = self._offset if index == 0 and followed else 0
            try:
                with backup.open("rb") as log:
                    log.seek(offset)
                    data = log.read()
            except OSError:
                data = b""
            self._parse(data)
            self._parse(b"\n")  # dbt rolls over between lines
        self._offset = 0

    def _parse(self, data: bytes) -> None:
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
