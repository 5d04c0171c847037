"""Validating events against the OpenLineage JSON Schemas shipped in ``floe_lineage.schemas``,
offline, with the ``uuid``, ``uri`` and ``date-time`` formats enforced.

Every event is validated against the schema its ``schemaURL`` names, and every facet against
the schema its ``_schemaURL`` names. A schema that is not shipped (nor given as ``extra``) is a
problem too: nothing passes unchecked.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from ..schemas import shipped_schemas

FORMATS = ("uuid", "uri", "date-time")
FACET_PLACES = (
    ("run", "facets"),
    ("job", "facets"),
)
DATASET_PLACES = (("inputs", ("facets", "inputFacets")), ("outputs", ("facets", "outputFacets")))


def event_problems(
    events: Iterable[Mapping[str, Any]], extra: Iterable[Mapping[str, Any]] = ()
) -> list[str]:
    """Every schema violation, as ``event N (job, TYPE): where: what``; empty when all valid.
    ``extra`` adds schema documents (each with an ``$id``) for facets of your own."""
    registry = _shipped_registry().with_resources(_resources(extra))
    problems = []
    for number, event in enumerate(events, start=1):
        if not isinstance(event, Mapping):
            problems.append(f"event {number}: not a JSON object")
            continue
        label = _label(number, event)
        problems += [f"{label}: {p}" for p in _validate(event, event.get("schemaURL"), registry)]
        for where, facet in _facets(event):
            url = facet.get("_schemaURL") if isinstance(facet, Mapping) else None
            problems += [f"{label}: {where}: {p}" for p in _validate(facet, url, registry)]
    return problems


def _validate(document: Any, url: Any, registry: Registry) -> list[str]:
    if not isinstance(url, str) or not url:
        return ["no schema URL"]
    validator = Draft202012Validator(
        {"$ref": url}, registry=registry, format_checker=_format_checker()
    )
    try:
        errors = list(validator.iter_errors(document))
    except Unresolvable:
        return [f"no shipped schema for {url}"]
    if not errors:
        return []
    # one line per violated place; the most relevant error of each
    by_path: dict[str, list[Any]] = {}
    for error in errors:
        by_path.setdefault("/".join(map(str, error.absolute_path)) or "(root)", []).append(error)
    return [f"{path}: {best_match(found).message}" for path, found in sorted(by_path.items())]


def _facets(event: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    for part, key in FACET_PLACES:
        for name, facet in (event.get(part, {}).get(key) or {}).items():
            yield f"{part}.{key}.{name}", facet
    for part, keys in DATASET_PLACES:
        for index, dataset in enumerate(event.get(part) or []):
            for key in keys:
                for name, facet in (dataset.get(key) or {}).items():
                    yield f"{part}[{index}].{key}.{name}", facet


def _label(number: int, event: Mapping[str, Any]) -> str:
    job = event.get("job", {}).get("name", "?") if isinstance(event.get("job"), Mapping) else "?"
    return f"event {number} ({job}, {event.get('eventType', '?')})"


@cache
def _shipped_registry() -> Registry:
    return Registry().with_resources(_resources(shipped_schemas()))


def _resources(documents: Iterable[Mapping[str, Any]]) -> list[tuple[str, Resource]]:
    return [(doc["$id"], DRAFT202012.create_resource(doc)) for doc in documents]


@cache
def _format_checker() -> Any:
    """Draft 2020-12's format checker, which must check every format events use: ``uri`` and
    ``date-time`` need the rfc3986-validator and rfc3339-validator packages."""
    checker = Draft202012Validator.FORMAT_CHECKER
    missing = [name for name in FORMATS if name not in checker.checkers]
    if missing:
        raise RuntimeError(
            f"jsonschema cannot check the formats {missing}: install floe-lineage's dependencies"
            " rfc3339-validator and rfc3986-validator"
        )
    return checker
