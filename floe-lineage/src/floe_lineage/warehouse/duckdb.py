"""DuckDB, read once dbt has released the database.

dbt-duckdb holds the database file's lock for the whole invocation, so ``inspect`` opens its one
read-only connection only after dbt has exited, and reads everything in one pass.

Naming, as dbt-ol names DuckDB: namespace ``duckdb://`` + the profile's ``path`` exactly as
written (after ``env_var`` rendering); the file is that path resolved against the dbt project
folder, where dbt runs.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..dbt.profile import ProfileTarget
from ..dbt.relation import Relation
from ..openlineage.observations import Columns, WarehouseFacts
from .base import VIEW_COUNT_TIMEOUT, Isolation, count_views

COUNT_BATCH = 200
DESCRIBE_BATCH = 50
READ_ONLY = {"access_mode": "READ_ONLY"}


class DuckDBWarehouse:
    adapter_type = "duckdb"
    dialect = "duckdb"
    supported = True
    reads_during_run = False  # dbt-duckdb locks the file until dbt exits

    def __init__(self, path: str, file: Path | None, project_dir: Path | None = None) -> None:
        self.path = path
        self.project_dir = project_dir
        """Where dbt runs: relative paths of sources read in place are resolved there."""
        """The ``path`` exactly as the profile states it."""
        self.file = file
        """The database file; None for in-memory and remote (``md:``) databases."""
        self.namespace = f"duckdb://{path}"

    @classmethod
    def from_target(cls, target: ProfileTarget) -> DuckDBWarehouse:
        path = str(target.value("path", ":memory:"))
        on_disk = path != ":memory:" and not path.startswith("md:") and "://" not in path
        file = (target.project_dir / Path(path).expanduser()).resolve() if on_disk else None
        return cls(path, file, target.project_dir)

    def prepare(self) -> None:
        """DuckDB creates the database file, not its folder."""
        if self.file is not None:
            self.file.parent.mkdir(parents=True, exist_ok=True)

    def inspect(
        self,
        describe: Iterable[Relation],
        count: Iterable[Relation],
        external: Mapping[Relation, str] | None = None,
        views: Iterable[Relation] = (),
        view_count_timeout: float = VIEW_COUNT_TIMEOUT,
    ) -> WarehouseFacts:
        """Columns of the ``describe`` relations and ``count(*)`` of the ``count`` relations that
        exist (``views`` bounded as ``read_facts`` says). Names are matched
        case-insensitively, as DuckDB resolves identifiers. The
        ``external`` sources (``read_csv_auto('data/x.csv')``) are described by DuckDB reading
        them as dbt does, relative paths from the dbt project folder; one that cannot be read
        has no columns."""
        if self.file is None or not self.file.is_file():
            return WarehouseFacts()
        import duckdb  # dbt-duckdb's dependency: only DuckDB projects need it

        # read-only as dagster-dbt opens it for `include_metadata` (access_mode READ_ONLY):
        # DuckDB refuses a second connection in the process under another configuration
        with duckdb.connect(str(self.file), config=READ_ONLY) as con:
            if self.project_dir is not None:
                folder = str(self.project_dir).replace("'", "''")
                con.execute(f"set file_search_path = '{folder}'")
            return read_facts(con, describe, count, external, views, view_count_timeout)

    def close(self) -> None:
        pass  # inspect closes its connection

    @contextmanager
    def isolated(self, folder: Path) -> Iterator[Isolation]:
        """A database file in ``folder`` with the same file name: DuckDB names the database
        after the file's stem, and dbt freezes that name into the manifest. An in-memory
        database is isolated already; a remote one cannot be."""
        if self.path == ":memory:":
            yield Isolation({})
            return
        if self.file is None:
            raise NotImplementedError(f"cannot give the remote DuckDB {self.path!r} a copy")
        yield Isolation({"path": str(folder / Path(self.path).name)})


def read_facts(
    con: Any,
    describe: Iterable[Relation],
    count: Iterable[Relation],
    external: Mapping[Relation, str] | None = None,
    views: Iterable[Relation] = (),
    view_count_timeout: float = VIEW_COUNT_TIMEOUT,
) -> WarehouseFacts:
    """What ``DuckDBWarehouse.inspect`` reads, through ``con``: a DuckDB connection or cursor
    (dbt-duckdb's own, inside the dbt process, where its file lock is no obstacle). Relative
    paths of ``external`` sources resolve as DuckDB's ``file_search_path`` says (dbt's working
    folder, the project's, by default). The ``views`` among ``count`` are counted within
    ``view_count_timeout`` seconds, interrupted (``interrupt()``, DuckDB's public call) when
    they take longer: the views and tables of one read are counted together first, in one
    query under that bound; if it runs out of time, each view is counted on its own, with the
    whole bound, and the tables without one. A view whose own count runs out of time has no
    count, and why is in ``not_counted``."""
    wanted = {_key(r): r for r in describe}
    facts = WarehouseFacts(columns=_columns(con, wanted))
    facts.columns.update(_external_columns(con, external or {}))
    present = {_key(r) for r in facts.columns}
    bounded = {_key(r) for r in views}
    to_count = [r for r in dict.fromkeys(count) if _key(r) in present]
    if len(to_count) > 1 and any(_key(r) in bounded for r in to_count):
        # together first: one query, one bound for all of them (a table's count costs little
        # beside a view's, which runs the view's query)
        together = _counts_within(con, to_count[:COUNT_BATCH], view_count_timeout)
        if together is not None:
            facts.row_counts.update(together)
            to_count = to_count[COUNT_BATCH:]
    count_views(
        facts,
        [r for r in to_count if _key(r) in bounded],
        lambda view, timeout: _count_within(con, view, timeout),
        view_count_timeout,
    )
    tables = [r for r in to_count if _key(r) not in bounded]
    for start in range(0, len(tables), COUNT_BATCH):
        facts.row_counts.update(_counts(con, tables[start : start + COUNT_BATCH]))
    return facts


def _counts(con: Any, relations: list[Relation]) -> dict[Relation, int]:
    """``count(*)`` of each of ``relations``, in one query."""
    query = " union all ".join(
        f"select {i}, count(*) from {_qualified(r)}" for i, r in enumerate(relations)
    )
    return {relations[i]: int(rows) for i, rows in _fetch(con, query)}


def _count_within(con: Any, relation: Relation, timeout: float) -> int | None:
    """``count(*)`` of ``relation``; None when it ran longer than ``timeout`` seconds and was
    interrupted. Any other error is raised."""
    counted = _counts_within(con, [relation], timeout)
    return None if counted is None else counted[relation]


def _counts_within(
    con: Any, relations: list[Relation], timeout: float
) -> dict[Relation, int] | None:
    """``_counts`` of ``relations``; None when it ran longer than ``timeout`` seconds and was
    interrupted. Any other error is raised."""
    deadline = _DEADLINES.arm(timeout, con.interrupt)
    try:
        counted = _counts(con, relations)
    except Exception:  # duckdb's InterruptException, or what a wrapping cursor made of it
        if _DEADLINES.disarm(deadline):
            return None
        raise
    _DEADLINES.disarm(deadline)
    return counted


class _Deadlines:
    """One daemon thread, started on first use, that calls the ``interrupt`` of each armed
    deadline that passes before it is disarmed (a thread per count would cost a thread start
    per view). ``disarm`` returns whether the interrupt was called; once it returned, the
    interrupt no longer is (it runs under the same lock)."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._armed: dict[int, tuple[float, Callable[[], Any]]] = {}
        self._fired: set[int] = set()
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float, interrupt: Callable[[], Any]) -> int:
        with self._lock:
            token = next(self._tokens)
            self._armed[token] = (time.monotonic() + seconds, interrupt)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="floe-lineage-deadlines", daemon=True
                )
                self._thread.start()
            self._lock.notify()
        return token

    def disarm(self, token: int) -> bool:
        with self._lock:
            self._armed.pop(token, None)
            if token in self._fired:
                self._fired.discard(token)
                return True
            return False

    def _watch(self) -> None:
        with self._lock:
            while True:
                now = time.monotonic()
                for token, (deadline, interrupt) in list(self._armed.items()):
                    if deadline <= now:
                        del self._armed[token]
                        self._fired.add(token)
                        with contextlib.suppress(Exception):
                            interrupt()
                due = min((deadline for deadline, _ in self._armed.values()), default=None)
                self._lock.wait(None if due is None else max(due - now, 0.0))


_DEADLINES = _Deadlines()


def _fetch(con: Any, sql: str) -> list[Any]:
    """The rows of ``sql`` on a DuckDB connection or (dbt-duckdb's wrapped) cursor."""
    result = con.execute(sql)
    return (result if result is not None else con).fetchall()


def _columns(con: Any, wanted: dict[tuple[str, str, str], Relation]) -> dict[Relation, Columns]:
    """Each wanted relation's columns and types, in table order, from ``pragma_table_info``:
    one lookup per relation, where ``information_schema.columns`` scans every column of the
    database (7 ms a query in a 2,000-table database, read once per dbt node: 14 s a run).
    Relations are looked up ``DESCRIBE_BATCH`` at a time in one query; a batch naming one that
    does not exist is looked up one by one, the missing ones left out."""
    relations = list(dict.fromkeys(wanted.values()))
    found: dict[Relation, Columns] = {}
    for start in range(0, len(relations), DESCRIBE_BATCH):
        batch = relations[start : start + DESCRIBE_BATCH]
        try:
            rows = _fetch(con, _table_info(batch))
        except Exception:  # a missing relation (duckdb's CatalogException, or dbt's wrapping)
            rows = []
            for i, relation in enumerate(batch):
                try:
                    rows += [(i, *row[1:]) for row in _fetch(con, _table_info([relation]))]
                except Exception:
                    continue  # gone: no columns, as for any relation that does not exist
        for i, _, column, data_type in rows:
            found.setdefault(batch[i], []).append((column, data_type))
    return found


def _table_info(relations: list[Relation]) -> str:
    """``(index in relations, column position, column, type)`` rows, in that order."""
    return (
        " union all ".join(
            f"select {i} as i, cid, name, type"
            f" from pragma_table_info({_literal(_qualified(relation))})"
            for i, relation in enumerate(relations)
        )
        + " order by i, cid"
    )


def _external_columns(con: Any, external: Mapping[Relation, str]) -> dict[Relation, Columns]:
    if not external:
        return {}
    found: dict[Relation, Columns] = {}
    for relation, expression in external.items():
        try:
            rows = _fetch(con, f"describe select * from {expression}")
        except Exception:  # duckdb.Error; through dbt-duckdb's cursor, dbt's DbtRuntimeError
            continue  # gone, or not readable from here: no columns, as for a missing table
        found[relation] = [(row[0], row[1]) for row in rows]
    return found


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _key(relation: Relation) -> tuple[str, str, str]:
    return (
        (relation.database or "").lower(),
        (relation.schema or "main").lower(),
        relation.identifier.lower(),
    )


def _qualified(relation: Relation) -> str:
    parts = [p for p in (relation.database, relation.schema, relation.identifier) if p]
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)
