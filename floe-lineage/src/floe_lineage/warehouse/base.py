"""The warehouse protocol, and what an adapter without an implementation gets."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..dbt.profile import ProfileTarget
from ..dbt.relation import Relation
from ..openlineage.observations import WarehouseFacts

VIEW_COUNT_TIMEOUT = 10.0
"""Seconds counting one view's rows may take (it runs the view's query) before it is given up:
the node then has no row count (``lineage.view_count_timeout``)."""


def gave_up(timeout: float) -> str:
    """Why a view has no row count, in ``WarehouseFacts.not_counted``."""
    return f"counting the view's rows took longer than {timeout:g} s (lineage.view_count_timeout)"


def count_views(
    facts: WarehouseFacts,
    views: Iterable[Relation],
    count_within: Callable[[Relation, float], int | None],
    timeout: float,
) -> None:
    """Each of ``views`` counted on its own by ``count_within`` (None: given up after
    ``timeout`` seconds) into ``facts.row_counts``, or into ``facts.not_counted`` with why."""
    for view in views:
        rows = count_within(view, timeout)
        if rows is None:
            facts.not_counted[view] = gave_up(timeout)
        else:
            facts.row_counts[view] = rows


def bounds_view_counts(warehouse: Any) -> bool:
    """Whether ``warehouse.inspect`` takes ``views`` and ``view_count_timeout`` (floe-lineage
    0.5.0 on); a warehouse of one's own written before gets its views in ``count`` alone."""
    try:
        parameters = inspect.signature(warehouse.inspect).parameters
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return True
    return {"views", "view_count_timeout"} <= set(parameters)


@dataclass(frozen=True)
class Isolation:
    """How a copy of a dbt target reaches a database of its own."""

    output: Mapping[str, Any]
    """Profile values to replace in the target (everything else stays as written)."""
    renamed: Mapping[str, str] = field(default_factory=dict)
    """Database names of the copy -> the configured names, to name datasets as configured."""


class Warehouse(Protocol):
    """The database of one dbt target, as lineage sees it."""

    adapter_type: str
    """dbt's adapter type (``duckdb``, ``postgres`` ...)."""
    dialect: str
    """The sqlglot dialect its SQL is parsed in for column lineage."""
    namespace: str
    """The OpenLineage dataset namespace of its tables (the naming spec's, as dbt-ol names it)."""
    supported: bool
    """False when floe-lineage has no implementation: datasets are named, nothing is read."""
    reads_during_run: bool
    """Whether it can be read while dbt runs (no file lock): then each node's facts are read
    when it finishes and go in its terminal event; else after dbt exits, in OTHER events."""

    def prepare(self) -> None:
        """Before dbt runs: whatever dbt needs to find in place (e.g. a database's folder)."""

    def inspect(
        self,
        describe: Iterable[Relation],
        count: Iterable[Relation],
        external: Mapping[Relation, str] | None = None,
        views: Iterable[Relation] = (),
        view_count_timeout: float = VIEW_COUNT_TIMEOUT,
    ) -> WarehouseFacts:
        """Once dbt has ended: the real columns of the ``describe`` relations and the row counts
        of the ``count`` relations, of those that exist; the columns of the ``external``
        sources too (read in place by the expression dbt renders for them), where it can.
        The ``views`` among ``count`` (whose count runs their query) are counted one at a time,
        each given up after ``view_count_timeout`` seconds (then in ``not_counted``, no count).
        Raises on a connection problem."""

    def close(self) -> None:
        """Release what ``inspect`` opened (a connection); it may be used again after."""

    def isolated(self, folder: Path) -> AbstractContextManager[Isolation]:
        """For the block: a database of its own for a copy of the target (what the pytest
        plugin runs dbt against), under ``folder`` or on the same server, and how to reach
        it. Raises ``NotImplementedError`` where none can be made."""


class UnsupportedWarehouse:
    """An adapter floe-lineage does not implement: namespace ``<type>://<host>[:<port>]``."""

    dialect: str
    supported = False
    reads_during_run = False

    def __init__(self, adapter_type: str, host: str | None, port: Any = None) -> None:
        self.adapter_type = adapter_type
        self.dialect = adapter_type
        address = f"{host}:{port}" if host and port else host or "unknown"
        self.namespace = f"{adapter_type}://{address}"

    @classmethod
    def from_target(cls, target: ProfileTarget) -> UnsupportedWarehouse:
        return cls(target.adapter_type, target.value("host"), target.value("port"))

    def prepare(self) -> None:
        pass

    def inspect(
        self,
        describe: Iterable[Relation],
        count: Iterable[Relation],
        external: Mapping[Relation, str] | None = None,
    ) -> WarehouseFacts:
        return WarehouseFacts()

    def close(self) -> None:
        pass

    @contextmanager
    def isolated(self, folder: Path) -> Iterator[Isolation]:
        raise NotImplementedError(
            f"floe-lineage cannot give a {self.adapter_type} target a database of its own;"
            " see floe_lineage.warehouse to add an implementation"
        )
        yield  # a generator, for contextmanager
