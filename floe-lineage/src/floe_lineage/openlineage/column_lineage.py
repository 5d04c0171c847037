"""Column-level lineage of a model's compiled SQL, traced with sqlglot through CTEs, ``select *``
and aliases down to the tables the model reads: for each output column the columns its value is
computed from (DIRECT) and those deciding it through a condition (INDIRECT CONDITIONAL), and for
the whole result the columns deciding which rows it holds (INDIRECT JOIN, FILTER, GROUP_BY,
SORT, WINDOW: ``indirect_lineage``)."""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage

from ..dbt.relation import Relation
from .indirect_lineage import TableColumn, indirect_lineage
from .observations import Columns

IDENTITY, TRANSFORMATION, AGGREGATION = "IDENTITY", "TRANSFORMATION", "AGGREGATION"
PARALLEL_FROM = 64
"""From this many models on, ``trace_models`` spreads the work over the machine's cores."""

Task = tuple[str, str, str, Mapping[Relation, Columns], Columns]
"""(unique id, SQL, dialect, input columns, output columns) of one model."""
Traced = tuple[str, "ColumnLineage | str"]
"""(unique id, its lineage or why it could not be traced)."""


class ColumnLineageError(ValueError):
    """The SQL could not be analysed; the message says why."""


@dataclass(frozen=True)
class ColumnSource:
    """An upstream column an output column (or the whole result) depends on, and how."""

    relation: Relation
    column: str
    subtype: str
    """DIRECT: IDENTITY (copied as is), TRANSFORMATION (computed row by row) or AGGREGATION;
    INDIRECT: CONDITIONAL (a field), JOIN, FILTER, GROUP_BY, SORT or WINDOW (the dataset)."""
    type: str = "DIRECT"


@dataclass(frozen=True)
class ColumnLineage:
    """The lineage of a model's output: per column, and for the dataset as a whole."""

    fields: dict[str, list[ColumnSource]]
    dataset: list[ColumnSource]


def column_lineage(
    sql: str, dialect: str, inputs: Mapping[Relation, Columns], output: Columns = ()
) -> ColumnLineage:
    """Every output column of ``sql`` mapped to the table columns it depends on, and the table
    columns the whole result depends on.

    ``inputs`` holds the real columns of the relations the SQL reads (the model's own relation
    too, for SQL that reads it: an incremental model's ``{{ this }}``); ``select *`` is
    expanded with them. Column names are reported as the warehouse spells them (``output``
    holds the real output columns), since the parser folds the case of identifiers. Raises
    ``ColumnLineageError`` when the SQL cannot be parsed or traced.
    """
    schema: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
    known: dict[tuple[str, str, str], Relation] = {}
    spelling: dict[tuple[tuple[str, str, str], str], str] = {}
    for relation, columns in inputs.items():
        key = _key(relation.database, relation.schema, relation.identifier)
        known[key] = relation
        # quoted as spelled: PostgreSQL keeps the case of quoted names, DuckDB ignores it
        database, db, table = (
            _quote(part) if part else ""
            for part in (relation.database, relation.schema, relation.identifier)
        )
        schema.setdefault(database, {}).setdefault(db, {})[table] = {
            _quote(name): data_type for name, data_type in columns
        }
        spelling.update(((key, name.lower()), name) for name, _ in columns)
    output_spelling = {name.lower(): name for name, _ in output}
    try:
        statement = sqlglot.parse_one(sql, dialect=dialect)
        untraced = _untraceable(statement)
        if untraced:
            raise ColumnLineageError(f"{' and '.join(untraced)} not traced")
        if not isinstance(statement, exp.Query):
            raise ColumnLineageError(f"not a query but {type(statement).__name__}")
        # trim_selects=False: the nodes keep the full SELECT instead of a copy trimmed to one
        # column per node (which cost 60 % of the time); only leaves and expressions are read.
        roots = lineage(
            None, statement, schema=schema, dialect=dialect, copy=False, trim_selects=False
        )
        indirect = indirect_lineage(statement)  # lineage() qualified it in place
    except SqlglotError as exc:
        raise ColumnLineageError(str(exc).splitlines()[0]) from exc

    def sources(found: set[TableColumn], subtype: str) -> list[ColumnSource]:
        return sorted(
            {ColumnSource(*_named(t, c, known, spelling), subtype, "INDIRECT") for t, c in found},
            key=lambda s: (s.relation.name, s.column),
        )

    fields = {}
    for column, root in roots.items():
        only_conditions = {
            _named(t, c, known, spelling)
            for t, c in indirect.conditional_only.get(column, set())
            | indirect.window_only.get(column, set())
        }
        direct = [
            s
            for s in _sources(root, known, spelling, dialect)
            if (s.relation, s.column) not in only_conditions
        ]
        fields[output_spelling.get(column.lower(), column)] = (
            direct
            + sources(indirect.conditional.get(column, set()), "CONDITIONAL")
            + sources(indirect.window.get(column, set()), "WINDOW")
        )
    if output_spelling:
        unknown = sorted(set(fields) - set(output_spelling.values()))
        if unknown:  # a construct the tracer reads wrong: no lineage rather than a wrong one
            raise ColumnLineageError(f"traced columns the model does not write: {unknown}")
    dataset = [
        source
        for subtype in ("JOIN", "FILTER", "GROUP_BY", "SORT", "WINDOW")
        for source in sources(indirect.dataset.get(subtype, set()), subtype)
    ]
    return ColumnLineage(fields, dataset)


def snapshot_columns(
    config: Mapping[str, Any], source: Relation, output: Columns
) -> dict[str, list[ColumnSource]]:
    """The lineage of the columns a dbt snapshot adds to what it copies (``dbt_scd_id``,
    ``dbt_updated_at``, ``dbt_valid_from``, ``dbt_valid_to``), from its config: the id hashes
    the unique key (and ``updated_at``); with the timestamp strategy the times come from
    ``updated_at``, with the check strategy from the clock (no column)."""
    present = {name.lower(): name for name, _ in output}
    keys = config.get("unique_key") or []
    keys = [keys] if isinstance(keys, str) else list(keys)
    updated_at = config.get("updated_at") if config.get("strategy") == "timestamp" else None
    added: dict[str, list[ColumnSource]] = {}

    def add(column: str, sources: list[str], subtype: str) -> None:
        if column in present and sources:
            added[present[column]] = [ColumnSource(source, s, subtype) for s in sources]

    add("dbt_scd_id", [*keys, *([updated_at] if updated_at else [])], TRANSFORMATION)
    if updated_at:
        add("dbt_updated_at", [updated_at], IDENTITY)
        add("dbt_valid_from", [updated_at], IDENTITY)
        add("dbt_valid_to", [updated_at], TRANSFORMATION)
    return added


def trace_models(tasks: Sequence[Task]) -> Iterator[Traced]:
    """``column_lineage`` of every task: (unique id, lineage) or (unique id, why not).

    Parsing is CPU-bound pure Python, so many models go to a pool of forked worker processes,
    which need nothing from the caller but this module (spawned workers would re-import the
    caller's main module). Where fork is unavailable the work stays in this process.
    """
    if (
        len(tasks) < PARALLEL_FROM
        or (os.cpu_count() or 1) < 2
        or "fork" not in multiprocessing.get_all_start_methods()
    ):
        yield from map(_trace, tasks)
        return
    context = multiprocessing.get_context("fork")
    workers = min(os.cpu_count() or 2, 8)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_trace, tasks, chunksize=max(1, len(tasks) // (workers * 8)))


def _trace(task: Task) -> Traced:
    unique_id, sql, dialect, inputs, output = task
    try:
        return unique_id, column_lineage(sql, dialect, inputs, output)
    except ColumnLineageError as exc:
        return unique_id, str(exc)


def _untraceable(statement: exp.Expression) -> list[str]:
    """The constructs in ``statement`` the tracer reads wrong (sqlglot's lineage gives their
    columns no sources, or a ``*``): DuckDB's PIVOT and UNPIVOT, ``COLUMNS(...)``."""
    found = []
    pivots = list(statement.find_all(exp.Pivot))
    if isinstance(statement, exp.Pivot) or any(not p.args.get("unpivot") for p in pivots):
        found.append("PIVOT")
    if any(p.args.get("unpivot") for p in pivots):
        found.append("UNPIVOT")
    columns = getattr(exp, "Columns", None)  # DuckDB's COLUMNS(...); older sqlglot: a function
    if (columns is not None and statement.find(columns)) or any(
        f.name.upper() == "COLUMNS" for f in statement.find_all(exp.Anonymous)
    ):
        found.append("COLUMNS(...)")
    return found


def _sources(
    root: Node,
    known: Mapping[tuple[str, str, str], Relation],
    spelling: Mapping[tuple[tuple[str, str, str], str], str],
    dialect: str,
) -> list[ColumnSource]:
    found: dict[tuple[Relation, str], str] = {}
    for leaf, path in _leaves(root, ()):
        table = leaf.source
        if not isinstance(table, exp.Table) or not table.name:
            continue  # a literal, a function without columns, or a table function (range(10))
        relation, column = _named(table, _column_name(leaf.name, dialect), known, spelling)
        subtype = _subtype(path)
        previous = found.get((relation, column))
        found[(relation, column)] = max(previous or subtype, subtype, key=_RANK.__getitem__)
    return [
        ColumnSource(rel, col, subtype) for (rel, col), subtype in sorted(found.items(), key=_order)
    ]


def _named(
    table: exp.Table,
    column: str,
    known: Mapping[tuple[str, str, str], Relation],
    spelling: Mapping[tuple[tuple[str, str, str], str], str],
) -> tuple[Relation, str]:
    """A table column as the warehouse names it (the parser folds identifiers' case)."""
    key = _key(table.catalog, table.db, table.name)
    relation = known.get(key) or Relation(table.catalog or None, table.db or None, table.name)
    return relation, spelling.get((key, column.lower()), column)


def _column_name(name: str, dialect: str) -> str:
    """The column of a lineage node's name (``table.column``, quoted where the name needs it:
    ``people."First Name"``), unquoted."""
    if '"' not in name and "`" not in name:
        return name.rsplit(".", 1)[-1]
    return exp.to_column(name, dialect=dialect).name


def _leaves(node: Node, path: Sequence[Node]) -> Iterator[tuple[Node, Sequence[Node]]]:
    path = (*path, node)
    if not node.downstream:
        yield node, path
    for child in node.downstream:
        yield from _leaves(child, path)


def _subtype(path: Sequence[Node]) -> str:
    expressions = [node.expression for node in path if not isinstance(node.expression, exp.Table)]
    if any(e.find(exp.AggFunc) for e in expressions):
        return AGGREGATION
    if all(isinstance(e.unalias(), exp.Column) for e in expressions):
        return IDENTITY
    return TRANSFORMATION


_RANK = {IDENTITY: 0, TRANSFORMATION: 1, AGGREGATION: 2}


def _order(item: tuple[tuple[Relation, str], str]) -> tuple[str, str]:
    (relation, column), _ = item
    return relation.name, column


def _key(database: str | None, schema: str | None, table: str) -> tuple[str, str, str]:
    return ((database or "").lower(), (schema or "").lower(), table.lower())


@functools.cache
def _quote(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql()
