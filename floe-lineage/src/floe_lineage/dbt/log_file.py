"""dbt's own log file of one invocation, read as it grows, for what the info-level stream on
stdout lacks: the error text of a node that failed, and the rows a node wrote, where dbt does not
run as ``floe-lineage-dbt`` (which reports both on stdout, ``in_dbt.reader``). It is read as it
stands when asked, never waited for.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

JSON_FILE_LOG = {"DBT_LOG_FORMAT_FILE": "json"}
"""The environment that makes dbt write its log file as JSON lines."""
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

    def result(self, unique_id: str) -> Mapping[str, Any] | None:
        """The run result dbt logged for ``unique_id`` so far (what was added to the file since
        the last call is read first); None when the file does not have it (not JSON, not
        written yet)."""
        if unique_id not in self._results:
            self._read()
        return self._results.get(unique_id)

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
