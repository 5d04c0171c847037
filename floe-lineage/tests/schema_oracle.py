"""The tests' own check of captured events, independent of floe-lineage's validation code.

``assert_schema_valid(events_file)`` validates every event against the OpenLineage spec schema
its ``schemaURL`` names and every facet against the schema its ``_schemaURL`` names, with plain
``jsonschema`` (Draft 2020-12, formats ``uuid``, ``uri`` and ``date-time`` enforced). The schema
documents are the JSON files themselves, read from the repository: the official OpenLineage
schemas floe-lineage ships (copied unchanged from the OpenLineage project, see their ``SOURCE``)
and floe-lineage's own facet schemas. Nothing of ``floe_lineage`` is imported, so a bug in its
validator cannot hide a bug in its events.

When ``$FLOE_OL_VALIDATOR`` names the outside validator (CI sets it: ``../shared/tools/
validate_ol_events.py``), it checks the same file as well, ``--strict``. It adds to this check;
the tests never need it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

SCHEMAS = Path(__file__).resolve().parents[1] / "src" / "floe_lineage" / "schemas"
FORMATS = ("uuid", "uri", "date-time")


@cache
def schemas() -> dict[str, Any]:
    """Every schema file under ``SCHEMAS``, by its ``$id``."""
    documents = [json.loads(p.read_text("utf-8")) for p in sorted(SCHEMAS.rglob("*.json"))]
    assert documents, f"no schema files under {SCHEMAS}"
    return {doc["$id"]: doc for doc in documents}


@cache
def registry() -> Registry:
    return Registry().with_resources(
        (uri, DRAFT202012.create_resource(doc)) for uri, doc in schemas().items()
    )


def facets_of(event: dict[str, Any]) -> list[tuple[str, Any]]:
    """Every facet of an event with where it sits: run, job, each dataset's facets, and a static
    DatasetEvent's dataset's facets."""
    found = []
    for name, facet in ((event.get("dataset") or {}).get("facets") or {}).items():
        found.append((f"dataset.facets.{name}", facet))
    for part in ("run", "job"):
        for name, facet in (event.get(part, {}).get("facets") or {}).items():
            found.append((f"{part}.facets.{name}", facet))
    for part in ("inputs", "outputs"):
        for index, dataset in enumerate(event.get(part) or []):
            for key in ("facets", "inputFacets", "outputFacets"):
                for name, facet in (dataset.get(key) or {}).items():
                    found.append((f"{part}[{index}].{key}.{name}", facet))
    return found


def violations(document: Any, url: Any) -> list[str]:
    """Why ``document`` does not match the schema ``url`` names (empty: it does)."""
    if not isinstance(url, str) or not url:
        return ["names no schema"]
    if url.split("#", 1)[0] not in schemas():
        return [f"names a schema not in the repository: {url}"]
    checker = Draft202012Validator.FORMAT_CHECKER
    missing = [f for f in FORMATS if f not in checker.checkers]
    assert not missing, f"jsonschema cannot check the formats {missing}"
    validator = Draft202012Validator({"$ref": url}, registry=registry(), format_checker=checker)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def schema_problems(events: list[dict[str, Any]]) -> list[str]:
    """Every violation of every event and facet, labelled ``event N (job, TYPE)``."""
    problems = []
    for number, event in enumerate(events, start=1):
        about = event.get("job") or event.get("dataset") or {}
        label = f"event {number} ({about.get('name')}, {event.get('eventType', 'static')})"
        problems += [f"{label}: {p}" for p in violations(event, event.get("schemaURL"))]
        for where, facet in facets_of(event):
            url = facet.get("_schemaURL") if isinstance(facet, dict) else None
            problems += [f"{label}: {where}: {p}" for p in violations(facet, url)]
    return problems


def assert_schema_valid(events_file: Path, *, minimum: int = 1) -> None:
    """At least ``minimum`` events in ``events_file``, each valid as described above; and valid
    for the outside validator too when ``$FLOE_OL_VALIDATOR`` names it."""
    lines = [line for line in events_file.read_text("utf-8").splitlines() if line.strip()]
    assert len(lines) >= minimum, f"{len(lines)} events in {events_file}, expected {minimum}+"
    problems = schema_problems([json.loads(line) for line in lines])
    assert not problems, "invalid OpenLineage events:\n" + "\n".join(problems[:40])
    outside = os.environ.get("FLOE_OL_VALIDATOR")
    if outside:
        assert Path(outside).is_file(), f"FLOE_OL_VALIDATOR names no file: {outside}"
        done = subprocess.run(
            [sys.executable, outside, "--strict", "-q", str(events_file)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"the outside validator:\n{done.stdout}\n{done.stderr}"
