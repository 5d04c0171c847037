"""The syrupy extension that keeps lineage snapshots (imported only where syrupy is used)."""

from __future__ import annotations

from typing import Any

from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode


class LineageSnapshotExtension(SingleFileSnapshotExtension):
    """One ``.txt`` file per test under ``__snapshots__/<test file>/``, holding the text of
    ``Lineage.snapshot()``."""

    file_extension = "txt"
    _write_mode = WriteMode.TEXT

    def serialize(self, data: Any, **kwargs: Any) -> str:
        return str(data)
