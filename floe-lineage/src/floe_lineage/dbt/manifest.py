"""The dbt DAG as lineage needs it, read once from a ``manifest.json`` dict."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .relation import Relation

# Resource types that can run in an invocation and so get their own OpenLineage job.
RUNNABLE_TYPES = frozenset({"model", "seed", "snapshot", "test"})


@dataclass(frozen=True)
class DbtNode:
    """One manifest node or source, reduced to what lineage events are built from."""

    unique_id: str
    resource_type: str
    name: str
    relation: Relation | None
    """The table or view the node writes (sources: the one it names); None for tests and
    ephemeral models, which write nothing."""
    parents: tuple[str, ...]
    """Unique ids of the nodes and sources this one reads (``depends_on.nodes``)."""
    properties: Mapping[str, Any] = field(repr=False, compare=False)
    """The node exactly as the manifest has it (description, columns, meta, tags ...)."""

    @property
    def materialized(self) -> str | None:
        return self.properties.get("config", {}).get("materialized")

    @property
    def external(self) -> str | None:
        """What dbt writes in SQL for a source read in place rather than from a table (a
        dbt-duckdb ``external_location``: ``read_csv_auto('data/x.csv')``, ``'data/x.parquet'``),
        else None."""
        if self.resource_type != "source":
            return None
        rendered = str(self.properties.get("relation_name") or "")
        return rendered if "(" in rendered or rendered.startswith("'") else None

    @property
    def description(self) -> str | None:
        return self.properties.get("description") or None

    @property
    def tags(self) -> list[str]:
        return list(self.properties.get("tags") or [])

    @property
    def owners(self) -> list[str]:
        """``meta.owner`` as a list of names (dbt allows a string or a list)."""
        owner = merged_meta(self.properties).get("owner")
        if not owner:
            return []
        return [str(o) for o in owner] if isinstance(owner, list) else [str(owner)]

    @property
    def columns(self) -> Mapping[str, Mapping[str, Any]]:
        """Documented columns by name (from YAML: they may differ from the real ones)."""
        return self.properties.get("columns") or {}

    @property
    def column_meta(self) -> dict[str, dict[str, Any]]:
        return {name: merged_meta(column) for name, column in self.columns.items()}

    def compiled_file(self, target_path: Path) -> Path | None:
        """Where dbt writes this node's compiled SQL under ``target_path``, as dbt names it
        (a file of its own, or, for a generic test, ``<yml file>/<test>.sql``)."""
        props = self.properties
        path, original = props.get("path"), props.get("original_file_path")
        if not (path and original and props.get("package_name")):
            return None
        same_file = Path(path).name == Path(original).name
        relative = Path(original) if same_file else Path(original) / path
        return target_path / "compiled" / props["package_name"] / relative


class DbtGraph:
    """Index of a dbt manifest: nodes by unique id and the datasets each one reads.

    Every lookup is a dict access; nothing rescans the manifest per node.
    """

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        self._manifest = manifest
        self._nodes: dict[str, DbtNode] = {}
        self._inputs: dict[str, tuple[DbtNode, ...]] = {}

    @classmethod
    def from_file(cls, path: Path) -> DbtGraph:
        return cls(json.loads(path.read_bytes()))

    @property
    def metadata(self) -> Mapping[str, Any]:
        return self._manifest.get("metadata", {})

    @cached_property
    def dbt_version(self) -> str:
        return str(self.metadata.get("dbt_version", "unknown"))

    @cached_property
    def adapter_type(self) -> str:
        return str(self.metadata.get("adapter_type", "unknown"))

    def runnable_ids(self) -> list[str]:
        """Unique ids of every enabled node that can run (model, seed, snapshot, test)."""
        return [
            uid
            for uid, props in self._manifest.get("nodes", {}).items()
            if props.get("resource_type") in RUNNABLE_TYPES
            and props.get("config", {}).get("materialized") != "ephemeral"
        ]

    def nodes_of_type(self, resource_type: str) -> list[DbtNode]:
        """Every enabled node of one resource type (``model``, ``seed`` ...), in manifest
        order."""
        return [
            node
            for uid, props in self._manifest.get("nodes", {}).items()
            if props.get("resource_type") == resource_type and (node := self.node(uid)) is not None
        ]

    def unique_ids_by_relation(self) -> dict[str, str]:
        """The node or source writing (naming) each relation, by its dotted name."""
        found: dict[str, str] = {}
        for section in ("nodes", "sources"):
            for unique_id in self._manifest.get(section, {}):
                node = self.node(unique_id)
                if node is not None and node.relation is not None:
                    found.setdefault(node.relation.name, unique_id)
        return found

    def node(self, unique_id: str) -> DbtNode | None:
        """The node or source with this id, or None if the manifest does not have it."""
        if unique_id not in self._nodes:
            props = self._manifest.get("nodes", {}).get(unique_id) or self._manifest.get(
                "sources", {}
            ).get(unique_id)
            if props is None:
                return None
            self._nodes[unique_id] = _to_node(props)
        return self._nodes[unique_id]

    def inputs(self, unique_id: str) -> tuple[DbtNode, ...]:
        """The datasets a node reads: its parents that have a relation, looking through
        ephemeral models (which are inlined as CTEs) to what they read in turn."""
        if unique_id not in self._inputs:
            node = self.node(unique_id)
            found: dict[str, DbtNode] = {}
            for parent_id in node.parents if node else ():
                parent = self.node(parent_id)
                if parent is None:
                    continue
                if parent.relation is not None:
                    found[parent.unique_id] = parent
                elif parent.resource_type == "model":  # ephemeral
                    found.update((n.unique_id, n) for n in self.inputs(parent_id))
            self._inputs[unique_id] = tuple(found.values())
        return self._inputs[unique_id]

    def output(self, unique_id: str) -> DbtNode | None:
        """The node itself when it writes a relation (models, seeds, snapshots), else None."""
        node = self.node(unique_id)
        if node is None or node.resource_type == "test" or node.relation is None:
            return None
        return node


def merged_meta(properties: Mapping[str, Any]) -> dict[str, Any]:
    """dbt ``meta``, whether declared at the top level or under ``config``."""
    return {**(properties.get("meta") or {}), **(properties.get("config", {}).get("meta") or {})}


def _to_node(props: Mapping[str, Any]) -> DbtNode:
    resource_type = props["resource_type"]
    return DbtNode(
        unique_id=props["unique_id"],
        resource_type=resource_type,
        name=props["name"],
        relation=_relation(props),
        parents=tuple(props.get("depends_on", {}).get("nodes", ())),
        properties=props,
    )


def _relation(props: Mapping[str, Any]) -> Relation | None:
    resource_type = props["resource_type"]
    if resource_type == "source":
        identifier = props.get("identifier") or props["name"]
    elif resource_type in ("model", "seed", "snapshot"):
        if props.get("config", {}).get("materialized") == "ephemeral":
            return None
        identifier = props.get("alias") or props["name"]
    else:
        return None
    return Relation(
        database=props.get("database"), schema=props.get("schema"), identifier=identifier
    )


def run_manifest(project_dir: Path, run_id: str) -> Path:
    """The ``manifest.json`` dbt wrote for root run ``run_id`` of the project in ``project_dir``:
    under dagster-dbt, whose run target folders are ``target/<op>-<run id[:7]>-<random>``;
    else the project's ``target/manifest.json``."""
    target = project_dir / "target"
    for candidate in sorted(target.glob(f"*-{run_id[:7]}-*/manifest.json")):
        return candidate
    return target / "manifest.json"
