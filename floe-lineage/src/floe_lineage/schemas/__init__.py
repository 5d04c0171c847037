"""JSON Schemas shipped with floe-lineage, used offline.

- ``ColumnClassificationDatasetFacet.json``, ``DbtTargetRunFacet.json``: the schemas of
  floe-lineage's own facets. Each ``$id`` (the facet's ``_schemaURL``) names the file on this
  package's repository's branch main.
- ``openlineage/``: the official OpenLineage schemas of the spec version and the facet versions
  floe-lineage emits, and of dbt-ol's ``dbt_run`` facet (Apache-2.0, see ``openlineage/LICENSE``;
  ``openlineage/SOURCE`` names where they come from).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import metadata, resources
from typing import Any

CLASSIFICATION_FILE = "ColumnClassificationDatasetFacet.json"
DBT_TARGET_FILE = "DbtTargetRunFacet.json"
DBT_RUN_SCHEMA_URL = (
    "https://raw.githubusercontent.com/OpenLineage/OpenLineage/main/integration/common/"
    "openlineage/common/schema/dbt-run-run-facet.json#/$defs/DbtRunRunFacet"
)
"""dbt-ol's own schema URL for its ``dbt_run`` facet (floe-lineage ships a copy)."""


def repository_url() -> str:
    """This package's repository, from its ``Project-URL: Repository`` metadata."""
    for entry in metadata.metadata("floe-lineage").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip()
    raise LookupError("floe-lineage's metadata names no Repository URL")


def own_schema_id(file: str) -> str:
    """The ``$id`` of one of floe-lineage's own schemas: the file on this repository's branch
    main, the branch every release is on (the repository carries no tags). A facet whose fields
    change gets a schema file of another name, so the file an event names stays its schema."""
    return f"{repository_url()}/blob/main/floe-lineage/src/floe_lineage/schemas/{file}"


CLASSIFICATION_SCHEMA_ID = own_schema_id(CLASSIFICATION_FILE)
CLASSIFICATION_SCHEMA_URL = CLASSIFICATION_SCHEMA_ID + "#/$defs/ColumnClassificationDatasetFacet"
DBT_TARGET_SCHEMA_URL = own_schema_id(DBT_TARGET_FILE) + "#/$defs/DbtTargetRunFacet"


@cache
def shipped_schemas() -> tuple[dict[str, Any], ...]:
    """Every shipped schema document (each has an ``$id``), loaded once."""
    root = resources.files(__package__)
    documents = [
        json.loads((root / name).read_text(encoding="utf-8"))
        for name in (CLASSIFICATION_FILE, DBT_TARGET_FILE)
    ]
    stack = [root / "openlineage"]
    while stack:
        for entry in stack.pop().iterdir():
            if entry.is_dir():
                stack.append(entry)
            elif entry.name.endswith(".json"):
                documents.append(json.loads(entry.read_text(encoding="utf-8")))
    return tuple(documents)
