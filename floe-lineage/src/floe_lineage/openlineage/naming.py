"""Stable run ids. (A dataset's name is its dbt relation's ``Relation.name``; its namespace
comes from the warehouse, ``floe_lineage.warehouse``, which knows how its adapter is addressed.)
"""

from __future__ import annotations

import uuid

# Fixed namespace for uuid5 run ids: changing it would change every run id ever emitted.
RUN_ID_NAMESPACE = uuid.UUID("6f1c5d2e-8a41-4b8e-9a0e-2f5f0f4c6a11")


def stable_run_id(*parts: str) -> str:
    """Canonical UUID derived only from ``parts``: re-emitting the same run reuses its id."""
    return str(uuid.uuid5(RUN_ID_NAMESPACE, "\x1f".join(parts)))
