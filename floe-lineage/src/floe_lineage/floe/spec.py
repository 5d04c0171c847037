"""A data product's ``floe.yaml`` (floe's ``FloeSpec``) with its transforms following dbt.

floe describes a data product by a ``floe.yaml``: ``apiVersion: floe.dev/v1``,
``kind: FloeSpec``, ``metadata`` (name, version, description, owner ...) and ``transforms``, one
per dbt model, each with a quality ``tier`` and ``dependsOn``. The dbt project is the truth for
the transforms (which models there are, what each one reads); everything else in the file is its
author's and is kept as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from graphlib import TopologicalSorter
from typing import Any

import yaml

from ..dbt.manifest import DbtGraph, DbtNode, merged_meta

TIERS = ("bronze", "silver", "gold")
FOLDER_TIERS = {"staging": "silver", "intermediate": "silver", "marts": "gold"}
"""The tier of a model without one of its own, by the folder it is in (dbt's conventional
layout); a model in none of these folders is ``bronze``."""

HEADER = (
    "# A floe data product (floe-core's FloeSpec). Its transforms follow the dbt models: the\n"
    "# lineage tests fail when they do not, and `pytest --snapshot-update` rewrites them (keeping\n"
    "# every other value; comments other than this one are not kept).\n"
)


class FloeSpecError(ValueError):
    """The dbt project cannot be described by a FloeSpec; the message says which model."""


def in_step(spec: Mapping[str, Any], graph: DbtGraph) -> dict[str, Any]:
    """``spec`` (a parsed ``floe.yaml``) with ``transforms`` rebuilt from the dbt models of
    ``graph``: one per enabled model, parents before children (then by name), ``name`` the
    model's, ``dependsOn`` the models it reads (left out when none: seeds, snapshots and sources
    are not transforms), ``tier`` the model's ``meta.floe.tier``, else the tier the file already
    gives it, else its folder's (``FOLDER_TIERS``). Every other key, of the file and of each
    transform kept (``compute``, ``tags``, ``qualityChecks`` ...), is kept as written.

    Raises ``FloeSpecError`` for a ``meta.floe.tier`` that is not a floe tier, and for a project
    without models (a FloeSpec has at least one transform)."""
    models = {node.unique_id: node for node in graph.nodes_of_type("model")}
    if not models:
        raise FloeSpecError("the dbt project has no models: a FloeSpec needs one transform")
    written = {t.get("name"): t for t in spec.get("transforms") or [] if isinstance(t, Mapping)}
    transforms = []
    for node in _parents_first(models):
        own = {k: v for k, v in written.get(node.name, {}).items() if k != "dependsOn"}
        own.pop("name", None)
        tier = _tier(node, own.pop("tier", None))
        reads = sorted({models[p].name for p in node.parents if p in models})
        transforms.append(
            {"name": node.name, "tier": tier, **({"dependsOn": reads} if reads else {}), **own}
        )
    return {**spec, "transforms": transforms}


def render(spec: Mapping[str, Any]) -> str:
    """The ``floe.yaml`` text of ``spec``: ``HEADER``, then the keys in their order."""
    body = yaml.safe_dump(dict(spec), sort_keys=False, allow_unicode=True, width=100)
    return HEADER + body


def _tier(node: DbtNode, written: Any) -> str:
    declared = (merged_meta(node.properties).get("floe") or {}).get("tier")
    if declared is not None:
        if declared not in TIERS:
            raise FloeSpecError(
                f"{node.unique_id}: meta.floe.tier is {declared!r}; floe's tiers are"
                f" {', '.join(TIERS)}"
            )
        return str(declared)
    if written in TIERS:
        return str(written)
    folders = node.properties.get("fqn", [])[1:-1]
    return next((FOLDER_TIERS[f] for f in reversed(folders) if f in FOLDER_TIERS), "bronze")


def _parents_first(models: Mapping[str, DbtNode]) -> list[DbtNode]:
    """The models in dependency order; among the ones ready at a time, by name."""
    order = TopologicalSorter(
        {uid: [p for p in n.parents if p in models] for uid, n in models.items()}
    )
    order.prepare()
    ordered: list[DbtNode] = []
    while order.is_active():
        ready = sorted(order.get_ready(), key=lambda uid: (models[uid].name, uid))
        ordered.extend(models[uid] for uid in ready)
        order.done(*ready)
    return ordered
