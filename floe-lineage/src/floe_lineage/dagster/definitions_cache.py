"""A dbt component's definitions, built once per process for the same configuration and manifest.

``dg launch`` and ``dagster asset materialize`` load a project's definitions seven times in one
process: once for the command, then ``ReconstructableRepository.get_definition`` (dagster's
``_core/definitions/reconstruct.py``, cached per object only) is asked again to execute the job,
to reconstruct it and for telemetry. Each load makes dagster-dbt build an asset spec for every
dbt node from ``manifest.json`` and a multi-asset over them, work that grows with the project
(``build_dbt_specs`` in dagster-dbt's ``asset_utils.py``). ``built_once`` hands a later load the
definitions an earlier one built when nothing they are made from differs: the component's class
and every one of its fields (equal, as ``==`` says: a field that cannot be compared, such as a
``translation`` function resolved afresh, never matches), its folder and project root, and the
manifest file (the same file, size and modification time). Anything else builds them again.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

KEPT = 8
"""Builds kept per process (distinct components or configurations), the latest first."""

_kept: list[tuple[tuple[Any, ...], dg.Definitions]] = []
_lock = threading.Lock()


def built_once(
    component: Any,
    context: dg.ComponentLoadContext,
    manifest_path: Path,
    build: Callable[[], dg.Definitions],
) -> dg.Definitions:
    """``build()``, or what it returned for an equal component, context and manifest before."""
    signature = (
        type(component),
        tuple(getattr(component, field.name) for field in dataclasses.fields(component)),
        str(context.path),
        str(context.project_root),
        _file_identity(manifest_path),
    )
    with _lock:
        for kept, defs in _kept:
            if _same(kept, signature):
                return defs
    defs = build()
    with _lock:
        _kept.insert(0, (signature, defs))
        del _kept[KEPT:]
    return defs


def _file_identity(path: Path) -> tuple[str, int, int, int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (str(path), found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns)


def _same(kept: tuple[Any, ...], signature: tuple[Any, ...]) -> bool:
    try:
        return bool(kept == signature)
    except Exception:  # a field whose comparison fails is not known to be the same
        return False
