"""Dagster metadata from lineage's facts, on the dbt assets' materializations.

Each materialization dagster-dbt yields for a dbt node gets what lineage learnt about that node:
``dagster/column_schema`` (the warehouse's real columns and types, with the dbt docs'
descriptions), ``dagster/row_count``, ``dagster/column_lineage`` (each column's DIRECT sources,
as columns of the upstream assets) and ``openlineage/run_id`` (the node's OpenLineage run).

Each materialization goes on to Dagster as soon as its node's facts are known, while dbt runs:
at once where the warehouse is read during the run (PostgreSQL), once the dbt process reported
them where it reads them itself (``floe-lineage-dbt``, DuckDB): a materialization waits for its
own node's facts, never for the end of the run. Dagster's order is kept: what dagster-dbt yields
after a waiting materialization waits behind it. Where facts come only once dbt exited (a dbt
that does not report them on a locked warehouse), ``wait_for_facts`` holds the materializations
until then; otherwise they go on with the node's OpenLineage run id. With lineage disabled
nothing is held or added.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import dagster as dg

from ..dbt.manifest import DbtGraph
from ..invocation import InvocationLineage, NodeFacts

RUN_ID = "openlineage/run_id"
"""The metadata key of a node's OpenLineage run id."""

AssetKeyOf = Callable[[str], "dg.AssetKey | None"]
"""The asset key of a dataset, by its OpenLineage name (None: no asset of this project)."""

Attach = Callable[[Any, dict[str, Any]], Any]
"""Puts metadata on the materialization an event (dagster-dbt's Output or AssetMaterialization)
makes; returns the event to yield."""


STREAM_TICK = object()
"""Put into the events after each dbt log line: facts may have arrived with it, so what waits
for them is released then, not with dagster-dbt's next event. Never yielded on."""


def with_lineage_metadata(
    events: Iterable[Any],
    lineage: InvocationLineage,
    key_of: AssetKeyOf,
    *,
    wait_for_facts: bool,
    attach: Attach | None = None,
) -> Iterator[Any]:
    """``events`` (dagster-dbt's, with ``STREAM_TICK`` after each dbt log line), each node's
    materialization completed with its lineage facts.

    A materialization waits until lineage has handled its node's result and has its facts, if
    they are still to come from the dbt process (``InvocationLineage.settled``); what follows
    it waits behind it, in order. ``wait_for_facts``: one whose facts come only once
    dbt exited waits until then (once the events end, failure or not: what dbt materialized is
    recorded either way); otherwise it goes on with the node's OpenLineage run id. ``attach``
    puts the metadata on it: by default as the event's own metadata (``on_materialization``
    keeps it off the step's output event)."""
    attach = attach or _with_metadata
    if not lineage.enabled:
        yield from (event for event in events if event is not STREAM_TICK)
        return
    held: deque[tuple[str | None, Any]] = deque()

    def waits(unique_id: str | None) -> bool:
        if unique_id is None:
            return False
        if not lineage.settled(unique_id):
            return True
        return wait_for_facts and lineage.facts_of(unique_id) is None

    def released(at_end: bool) -> Iterator[Any]:
        while held and (at_end or not waits(held[0][0])):
            unique_id, event = held.popleft()
            yield _finished(event, unique_id, lineage, key_of, attach)

    def release_all() -> Iterator[Any]:
        lineage.add_facts()
        yield from released(at_end=True)

    try:
        for event in events:
            if event is not STREAM_TICK:
                held.append((_unique_id(event), event))
            yield from released(at_end=False)
    except Exception:  # dbt failed: what it materialized before is recorded all the same
        yield from release_all()
        raise
    yield from release_all()


def _finished(
    event: Any,
    unique_id: str | None,
    lineage: InvocationLineage,
    key_of: AssetKeyOf,
    attach: Attach,
) -> Any:
    if unique_id is None:
        return event
    facts = lineage.facts_of(unique_id)
    if facts is not None:
        return attach(event, lineage_metadata(facts, key_of))
    run_id = lineage.run_id_of(unique_id)
    return event if run_id is None else attach(event, _run_id_metadata(run_id))


def on_materialization(context: dg.AssetExecutionContext) -> Attach:
    """``attach`` that puts the metadata of an ``Output`` on its asset's materialization alone
    (``context.add_asset_metadata``): as the Output's own metadata, Dagster would also store it
    in the step's STEP_OUTPUT event, serializing and writing every column schema and lineage
    twice. An ``AssetMaterialization`` gets it as its own metadata."""

    def attach(event: Any, added: dict[str, Any]) -> Any:
        if isinstance(event, dg.Output):
            key = context.asset_key_for_output(event.output_name)
            context.add_asset_metadata(added, asset_key=key)
            return event
        return _with_metadata(event, added)

    return attach


def dataset_asset_keys(
    graph_of: Callable[[], DbtGraph], spec_of: Callable[[str], Any]
) -> AssetKeyOf:
    """``key_of`` for the datasets of the nodes and sources of the graph ``graph_of`` gives
    (asked on first use: the run's own manifest is written once dbt starts);
    ``spec_of(unique_id)`` gives a node's asset spec (dagster-dbt's translator), looked up once
    per dataset."""
    by_name: dict[str, str] = {}
    cache: dict[str, dg.AssetKey | None] = {}

    def key_of(name: str) -> dg.AssetKey | None:
        if not by_name:
            by_name.update(graph_of().unique_ids_by_relation())
        if name not in cache:
            unique_id = by_name.get(name)
            try:
                cache[name] = spec_of(unique_id).key if unique_id else None
            except Exception:  # a node the translator makes no asset of
                cache[name] = None
        return cache[name]

    return key_of


def lineage_metadata(facts: NodeFacts, key_of: AssetKeyOf) -> dict[str, Any]:
    """The Dagster metadata of one node's facts."""
    metadata = _run_id_metadata(facts.run_id)
    if facts.columns:
        metadata["dagster/column_schema"] = dg.TableSchema(
            columns=[
                dg.TableColumn(name=name, type=data_type, description=description)
                for name, data_type, description in facts.columns
            ]
        )
    if facts.row_count is not None:
        metadata["dagster/row_count"] = dg.MetadataValue.int(facts.row_count)
    if facts.column_lineage is not None:
        deps = {
            column: [
                dg.TableColumnDep(asset_key=key, column_name=source.column)
                for source in sources
                if source.type == "DIRECT" and (key := key_of(source.relation.name)) is not None
            ]
            for column, sources in facts.column_lineage.fields.items()
        }
        deps = {column: found for column, found in deps.items() if found}
        if deps:
            metadata["dagster/column_lineage"] = dg.TableColumnLineage(deps_by_column=deps)
    return metadata


def _run_id_metadata(run_id: str) -> dict[str, Any]:
    return {RUN_ID: dg.MetadataValue.text(run_id)}


def _with_metadata(event: Any, added: dict[str, Any]) -> Any:
    return event.with_metadata({**event.metadata, **added})


def _unique_id(event: Any) -> str | None:
    """The dbt node of a materialization dagster-dbt made (Output or AssetMaterialization)."""
    if not isinstance(event, (dg.Output, dg.AssetMaterialization)):
        return None
    value = (event.metadata or {}).get("unique_id")
    text = getattr(value, "value", value)
    return text if isinstance(text, str) else None
