"""``run_results.json``: what dbt wrote about each node it ran, read once the invocation ended."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def read_run_results(target_path: Path | None) -> dict[str, Mapping[str, Any]]:
    """Results by unique id from ``target_path/run_results.json``; empty when dbt wrote none
    (it stopped before the end, or never started)."""
    path = target_path / "run_results.json" if target_path else None
    if path is None or not path.is_file():
        return {}
    return {r["unique_id"]: r for r in json.loads(path.read_bytes()).get("results", [])}
