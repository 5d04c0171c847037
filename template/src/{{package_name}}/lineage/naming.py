"""Stable identities: job names, run ids and dataset names.

Dataset identity follows the convention of ``dbt-ol`` (openlineage-dbt) for DuckDB, so events from
both tools describe the same tables: namespace ``duckdb://`` + the profile's ``path`` exactly as
written in ``profiles.yml`` (after ``env_var`` rendering), name ``database.schema.table``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

# Fixed namespace for uuid5 run ids: changing it would change every run id ever emitted.
RUN_ID_NAMESPACE = uuid.UUID("6f1c5d2e-8a41-4b8e-9a0e-2f5f0f4c6a11")


def stable_run_id(*parts: str) -> str:
    """Canonical UUID derived only from ``parts``: re-emitting the same run reuses its id."""
    return str(uuid.uuid5(RUN_ID_NAMESPACE, "\x1f".join(parts)))


def duckdb_namespace(profile_path: str) -> str:
    """Dataset namespace of a DuckDB database, as dbt-ol names it."""
    return f"duckdb://{profile_path}"


@dataclass(frozen=True)
class Relation:
    """A table or view in the warehouse, as dbt names it (unquoted parts)."""

    database: str | None
    schema: str | None
    identifier: str

    @property
    def name(self) -> str:
        """OpenLineage dataset name: the non-empty parts joined with dots."""
        return ".".join(part for part in (self.database, self.schema, self.identifier) if part)
