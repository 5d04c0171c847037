"""JSON Schemas shipped with floe-lineage, used offline.

- ``ColumnClassificationDatasetFacet.json``: the schema of floe-lineage's one custom facet. Its
  ``$id`` (the facet's ``_schemaURL``) names this package's repository at this release.
- ``openlineage/``: the official OpenLineage schemas of the spec version and the facet versions
  floe-lineage emits (Apache-2.0, see ``openlineage/LICENSE``; ``openlineage/SOURCE`` names the
  commit of the OpenLineage repository they come from).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import metadata, resources
from typing import Any

from .. import __version__

CLASSIFICATION_FILE = "ColumnClassificationDatasetFacet.json"


def repository_url() -> str:
    """This package's repository, from its ``Project-URL: Repository`` metadata."""
    for entry in metadata.metadata("floe-lineage").get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        if label.strip().lower() == "repository":
            return url.strip()
    raise LookupError("floe-lineage's metadata names no Repository URL")


CLASSIFICATION_SCHEMA_ID = (
    f"{repository_url()}/blob/v{__version__}/floe-lineage/src/floe_lineage/schemas/"
    f"{CLASSIFICATION_FILE}"
)
CLASSIFICATION_SCHEMA_URL = CLASSIFICATION_SCHEMA_ID + "#/$defs/ColumnClassificationDatasetFacet"


@cache
def shipped_schemas() -> tuple[dict[str, Any], ...]:
    """Every shipped schema document (each has an ``$id``), loaded once."""
    root = resources.files(__package__)
    documents = [json.loads((root / CLASSIFICATION_FILE).read_text(encoding="utf-8"))]
    stack = [root / "openlineage"]
    while stack:
        for entry in stack.pop().iterdir():
            if entry.is_dir():
                stack.append(entry)
            elif entry.name.endswith(".json"):
                documents.append(json.loads(entry.read_text(encoding="utf-8")))
    return tuple(documents)
