"""openlineage-python's file transport, with appends that never interleave.

Registered with the client's transport factory for ``type: file`` when ``floe_lineage.delivery``
is imported, so it serves a top-level ``file`` transport and every ``file`` child of a
``composite`` one alike. With ``append: true`` and a local path (no URL scheme, or ``file://``) it
keeps the file open with ``O_APPEND`` and writes each event as one line in one ``write`` call,
under the file's lock (``locking``): appends from concurrent processes never interleave (on a
local filesystem). A write cut short (a full disk) is truncated away and raised, and a torn line
left by a process that died mid-write is cut when the file is opened, so the file only ever
holds whole events. Everything
else (``append: false``, ``s3://``, ``memory://`` and other fsspec URLs) is the stock transport.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from openlineage.client.transport import register_transport
from openlineage.client.transport.file import FileConfig, FileTransport

from .locking import AppendingFile
from .serialization import event_line


@register_transport
class AppendingFileTransport(FileTransport):
    kind = "file"
    config_class = FileConfig

    def __init__(self, config: FileConfig) -> None:
        super().__init__(config)
        path = local_path(config.log_file_path) if config.append else None
        self._file = AppendingFile(path) if path is not None else None

    def emit(self, event: Any) -> None:
        if self._file is None:
            return super().emit(event)
        try:
            self._file.append(event_line(event))
        except OSError as error:
            raise RuntimeError(f"cannot write to {self._file.path}: {error}") from error

    def close(self, timeout: float = -1) -> bool:
        if self._file is not None:
            self._file.close()
        return True


def local_path(log_file_path: str) -> Path | None:
    """The local file a ``log_file_path`` names: a plain path or a ``file://`` URL; None for any
    other URL (the stock, fsspec-backed transport writes those)."""
    parsed = urlparse(log_file_path)
    if parsed.scheme == "file":
        host = f"//{parsed.netloc}" if parsed.netloc not in ("", "localhost") else ""
        return Path(url2pathname(host + parsed.path))
    if "://" in log_file_path:
        return None
    return Path(log_file_path)
