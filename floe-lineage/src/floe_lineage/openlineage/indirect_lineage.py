"""INDIRECT column lineage: the table columns that decide which rows land in a model, and which
rows a value comes from, as the ``columnLineage`` facet's INDIRECT transformations name them.

From a query qualified by sqlglot (every column bound to its source), scope by scope:

- dataset level: columns in JOIN conditions (JOIN), WHERE / HAVING / QUALIFY (FILTER), GROUP BY
  (GROUP_BY), ORDER BY (SORT) and window PARTITION BY / ORDER BY (WINDOW), in any CTE or
  subquery of the query, since each one shapes the rows of the result;
- field level: columns in the conditions of a CASE or IF an output column is computed through
  (CONDITIONAL), and in the PARTITION BY / ORDER BY of a window function it is computed with
  (WINDOW: they choose the rows a value is computed over, they give it no value).

Every column is followed through CTEs, derived tables and set operations down to table columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

TableColumn = tuple[exp.Table, str]
"""A column of a table the query reads: the table expression and the column's name."""

CLAUSES: tuple[tuple[str, str], ...] = (
    ("where", "FILTER"),
    ("having", "FILTER"),
    ("qualify", "FILTER"),
    ("group", "GROUP_BY"),
    ("order", "SORT"),
)


@dataclass
class IndirectLineage:
    dataset: dict[str, set[TableColumn]] = field(default_factory=dict)
    """Subtype (JOIN, FILTER, GROUP_BY, SORT, WINDOW) -> the table columns in it."""
    conditional: dict[str, set[TableColumn]] = field(default_factory=dict)
    """Output column -> the table columns in the conditions it is computed through."""
    conditional_only: dict[str, set[TableColumn]] = field(default_factory=dict)
    """Output column -> those of its conditional columns that give it no value (a DIRECT
    dependency on them is not one)."""
    window: dict[str, set[TableColumn]] = field(default_factory=dict)
    """Output column -> the table columns in the windows (PARTITION BY, ORDER BY) of the window
    functions it is computed with."""
    window_only: dict[str, set[TableColumn]] = field(default_factory=dict)
    """Output column -> those of its window columns that give it no value."""


def indirect_lineage(query: exp.Query) -> IndirectLineage:
    """The INDIRECT lineage of a query qualified by ``sqlglot.optimizer.qualify``."""
    return _Analysis(query).result()


class _Analysis:
    def __init__(self, query: exp.Query) -> None:
        self.scopes = traverse_scope(query)
        self.by_node = {id(scope.expression): scope for scope in self.scopes}
        self.root = self.scopes[-1]
        self.cache: dict[tuple[int, str, bool], set[TableColumn]] = {}

    def result(self) -> IndirectLineage:
        found = IndirectLineage()
        for scope in self.scopes:
            select = scope.expression
            if not isinstance(select, exp.Select):
                continue
            for subtype, node in self._clauses(scope, select):
                columns = self._columns_of(node)
                if columns:
                    found.dataset.setdefault(subtype, set()).update(columns)
        for projection in _selects(self.root):
            name = projection.alias_or_name
            conditional = self._conditional(self.root, projection, set(), _condition_nodes)
            window = self._conditional(self.root, projection, set(), _window_nodes)
            if conditional or window:
                valued = self._values(self.root, projection)
            if conditional:
                found.conditional[name] = conditional
                found.conditional_only[name] = conditional - valued
            if window:
                found.window[name] = window
                found.window_only[name] = window - valued
        return found

    def _clauses(self, scope: Scope, select: exp.Select) -> Iterable[tuple[str, exp.Expression]]:
        for join in select.args.get("joins") or []:
            for part in ("on", "using"):
                if join.args.get(part):
                    yield (
                        "JOIN",
                        join.args[part]
                        if part == "on"
                        else exp.Tuple(expressions=list(join.args[part])),
                    )
        for key, subtype in CLAUSES:
            if select.args.get(key):
                yield subtype, select.args[key]
        for window in select.find_all(exp.Window):
            if self._owner(window) is scope:
                for part in ("partition_by", "order"):
                    value = window.args.get(part)
                    if isinstance(value, list):
                        yield from (("WINDOW", v) for v in value)
                    elif value is not None:
                        yield "WINDOW", value

    def _columns_of(self, node: exp.Expression) -> set[TableColumn]:
        """The table columns behind every column reference in ``node``."""
        found: set[TableColumn] = set()
        for column in node.find_all(exp.Column):
            owner = self._owner(column)
            if owner is not None:
                found |= self._resolve(owner, column, values_only=False)
        return found

    def _resolve(self, scope: Scope, column: exp.Column, values_only: bool) -> set[TableColumn]:
        source = scope.sources.get(column.table)
        if isinstance(source, exp.Table):
            # a table function (range(10), read_csv(...)) has no name: no dataset behind it
            return {(source, column.name)} if source.name else set()
        if isinstance(source, Scope):
            return self._projection(source, column.name, values_only)
        return set()

    def _projection(self, scope: Scope, name: str, values_only: bool) -> set[TableColumn]:
        """The table columns behind output ``name`` of ``scope`` (all of them, or only those
        that give it a value: not CASE / IF conditions)."""
        key = (id(scope), name, values_only)
        if key in self.cache:
            return self.cache[key]
        self.cache[key] = set()  # a cycle (recursive CTE) ends here
        found: set[TableColumn] = set()
        branches = _branches(scope)
        for branch in branches:
            selects = _selects(branch)
            names = [s.alias_or_name for s in _selects(branches[0])]
            index = names.index(name) if name in names else None
            if index is None or index >= len(selects):
                continue
            found |= self._expression(branch, selects[index], values_only)
        self.cache[key] = found
        return found

    def _expression(
        self, scope: Scope, expression: exp.Expression, values_only: bool
    ) -> set[TableColumn]:
        conditions = (
            {id(c) for c in [*_condition_nodes(expression), *_window_nodes(expression)]}
            if values_only
            else set()
        )
        found: set[TableColumn] = set()
        for column in expression.find_all(exp.Column):
            if values_only and _inside(column, conditions):
                continue
            owner = self._owner(column) or scope
            found |= self._resolve(owner, column, values_only)
        return found

    def _values(self, scope: Scope, expression: exp.Expression) -> set[TableColumn]:
        return self._expression(scope, expression, values_only=True)

    def _conditional(
        self,
        scope: Scope,
        expression: exp.Expression,
        seen: set[tuple[int, str]],
        parts: Callable[[exp.Expression], list[exp.Expression]],
    ) -> set[TableColumn]:
        """Table columns in the ``parts`` of ``expression`` (its CASE / IF conditions, its
        windows), in it and in the CTE and subquery columns it reads."""
        found: set[TableColumn] = set()
        for condition in parts(expression):
            found |= self._columns_of(condition)
        for column in expression.find_all(exp.Column):
            owner = self._owner(column) or scope
            source = owner.sources.get(column.table)
            if not isinstance(source, Scope) or (id(source), column.name) in seen:
                continue
            seen.add((id(source), column.name))
            for branch in _branches(source):
                for projection in _selects(branch):
                    if projection.alias_or_name == column.name:
                        found |= self._conditional(branch, projection, seen, parts)
        return found

    def _owner(self, node: exp.Expression) -> Scope | None:
        """The scope whose SELECT ``node`` belongs to (the nearest enclosing one)."""
        parent = node.parent
        while parent is not None:
            scope = self.by_node.get(id(parent))
            if scope is not None:
                return scope
            parent = parent.parent
        return None


def _branches(scope: Scope) -> list[Scope]:
    """The SELECTs of a set operation (UNION ...), else the scope itself. (sqlglot names them
    ``set_operation_scopes``; before its version 26, ``union_scopes``.)"""
    found = getattr(scope, "set_operation_scopes", None) or getattr(scope, "union_scopes", None)
    return list(found) if found else [scope]


def _selects(scope: Scope) -> list[exp.Expression]:
    expression = scope.expression
    return list(expression.selects) if isinstance(expression, exp.Query) else []


def _condition_nodes(expression: exp.Expression) -> list[exp.Expression]:
    """The condition expressions of every CASE WHEN and IF in ``expression``."""
    found: list[exp.Expression] = []
    for case in expression.find_all(exp.Case):
        found += [branch.this for branch in case.args.get("ifs") or []]
    for if_ in expression.find_all(exp.If):
        if not isinstance(if_.parent, exp.Case):
            found.append(if_.this)
    return found


def _window_nodes(expression: exp.Expression) -> list[exp.Expression]:
    """The PARTITION BY and ORDER BY expressions of every window function in ``expression``."""
    found: list[exp.Expression] = []
    for window in expression.find_all(exp.Window):
        for part in ("partition_by", "order"):
            value = window.args.get(part)
            found += value if isinstance(value, list) else [value] if value is not None else []
    return found


def _inside(node: exp.Expression, containers: set[int]) -> bool:
    """Whether ``node`` is one of the nodes whose ids are ``containers``, or below one."""
    current: exp.Expression | None = node
    while current is not None:
        if id(current) in containers:
            return True
        current = current.parent
    return False
