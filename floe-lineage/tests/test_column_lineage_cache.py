"""The column lineage kept across runs: answered from the file only for exactly the same task
and tracing code, traced again otherwise, never an error for a bad file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from floe_lineage.column_lineage_cache import ColumnLineageCache, task_digest
from floe_lineage.dbt.relation import Relation
from floe_lineage.openlineage.column_lineage import PARALLEL_FROM, ColumnSource, trace_models

ORDERS = Relation("warehouse", "main", "orders")
COLUMNS = [("id", "INTEGER"), ("amount", "DOUBLE"), ("status", "VARCHAR")]


def task(uid: str, sql: str, columns=COLUMNS, output=()):
    return (uid, sql, "duckdb", {ORDERS: list(columns)}, list(output))


TASKS = [
    task(
        "model.p.totals",
        "select status, sum(amount) as total from warehouse.main.orders group by 1",
    ),
    task("model.p.ids", "select id as order_id from warehouse.main.orders where status = 'paid'"),
    task("model.p.every", "select * from warehouse.main.orders"),
    task("model.p.broken", "select from where"),
]
NODES = {t[0] for t in TASKS}


def traced_and_saved(path: Path, tasks=TASKS) -> tuple[ColumnLineageCache, dict]:
    cache = ColumnLineageCache(path)
    found = dict(cache.trace(tasks))
    cache.save(lambda: NODES)
    return cache, found


def test_an_unchanged_task_is_answered_from_the_file_as_traced(tmp_path: Path):
    path = tmp_path / "target" / "floe-column-lineage.json"
    first, traced = traced_and_saved(path)
    assert first.hits == 0 and path.is_file()
    readable = tmp_path / "as any file"
    readable.touch()
    assert path.stat().st_mode & 0o777 == readable.stat().st_mode & 0o777  # the umask's
    assert traced == dict(trace_models(TASKS))
    written = path.stat().st_mtime_ns

    again = ColumnLineageCache(path)
    assert dict(again.trace(TASKS)) == traced
    assert again.hits == len(TASKS)  # the untraceable SQL too: its reason is kept
    assert isinstance(traced["model.p.broken"], str)
    again.save(lambda: NODES)
    assert path.stat().st_mtime_ns == written  # nothing new: not rewritten


def test_the_file_is_trusted_for_the_same_task(tmp_path: Path):
    """An entry is used as stored when the task's digest matches: the file is the answer, not
    a hint (so a matching entry must only ever come from tracing that very task)."""
    path = tmp_path / "cache.json"
    traced_and_saved(path)
    content = json.loads(path.read_text())
    content["models"]["model.p.ids"]["traced"]["fields"] = {
        "order_id": [["w", "s", "t", "c", "IDENTITY", "DIRECT"]]
    }
    path.write_text(json.dumps(content))
    found = dict(ColumnLineageCache(path).trace(TASKS))
    assert found["model.p.ids"].fields == {
        "order_id": [ColumnSource(Relation("w", "s", "t"), "c", "IDENTITY")]
    }


@pytest.mark.parametrize(
    "changed",
    [
        task("model.p.ids", "select id as order_id from warehouse.main.orders"),  # the SQL
        task(
            "model.p.ids",
            "select id as order_id from warehouse.main.orders where status = 'paid'",
            columns=[("id", "BIGINT"), ("amount", "DOUBLE"), ("status", "VARCHAR")],
        ),  # a type
        task(
            "model.p.ids",
            "select id as order_id from warehouse.main.orders where status = 'paid'",
            output=[("ORDER_ID", "INTEGER")],
        ),  # the output's spelling
    ],
    ids=["sql", "input type", "output columns"],
)
def test_a_changed_task_is_traced_again_and_remembered(tmp_path: Path, changed):
    path = tmp_path / "cache.json"
    traced_and_saved(path)
    tasks = [changed if t[0] == changed[0] else t for t in TASKS]
    cache = ColumnLineageCache(path)
    found = dict(cache.trace(tasks))
    assert cache.hits == len(TASKS) - 1
    assert found == dict(trace_models(tasks))
    cache.save(lambda: NODES)
    stored = json.loads(path.read_text())["models"]["model.p.ids"]
    assert stored["digest"] == task_digest(changed)


def test_a_removed_node_leaves_the_file(tmp_path: Path):
    path = tmp_path / "cache.json"
    traced_and_saved(path)
    cache = ColumnLineageCache(path)
    list(cache.trace(TASKS[:1]))
    cache.save(lambda: NODES - {"model.p.every"})
    assert set(json.loads(path.read_text())["models"]) == NODES - {"model.p.every"}


@pytest.mark.parametrize(
    "content",
    [
        b"\x00not json",
        b'{"format": 1, "tracer": "x"',
        b"[]",
        b'{"format": 99, "tracer": null, "models": {}}',
        b'{"format": 1, "tracer": "sqlglot 0.0.1, 0000", "models": {}}',
    ],
    ids=["binary", "truncated", "not an object", "other format", "other tracer"],
)
def test_a_bad_or_foreign_file_is_traced_again_and_replaced(tmp_path: Path, content: bytes):
    path = tmp_path / "cache.json"
    path.write_bytes(content)
    cache, found = traced_and_saved(path)
    assert cache.hits == 0
    assert found == dict(trace_models(TASKS))
    again = ColumnLineageCache(path)
    assert dict(again.trace(TASKS)) == found
    assert again.hits == len(TASKS)


@pytest.mark.parametrize(
    "entry",
    [
        None,
        "text",
        {"digest": "0"},
        {"traced": {"fields": {"a": "not a list"}, "dataset": []}},
        {"traced": {"fields": {"a": [["too", "short"]]}, "dataset": []}},
        {"traced": {"fields": {"a": [[None, None, 7, "c", "IDENTITY", "DIRECT"]]}, "dataset": []}},
        {"traced": 12},
    ],
)
def test_a_bad_entry_is_traced_again(tmp_path: Path, entry):
    path = tmp_path / "cache.json"
    traced_and_saved(path)
    content = json.loads(path.read_text())
    if isinstance(entry, dict) and "digest" not in entry:
        entry = {"digest": task_digest(TASKS[1]), **entry}
    content["models"]["model.p.ids"] = entry
    path.write_text(json.dumps(content))
    cache = ColumnLineageCache(path)
    found = dict(cache.trace(TASKS))
    assert cache.hits == len(TASKS) - 1
    assert found["model.p.ids"] == dict(trace_models(TASKS))["model.p.ids"]


def test_many_changed_tasks_are_traced_in_worker_processes_and_kept_in_order(tmp_path: Path):
    many = [
        task(f"model.p.m{i}", f"select id as id_{i}, amount from warehouse.main.orders")
        for i in range(PARALLEL_FROM + 3)
    ]
    path = tmp_path / "cache.json"
    cache = ColumnLineageCache(path)
    assert dict(cache.trace(many)) == dict(trace_models(many))
    cache.save(lambda: {t[0] for t in many})
    again = ColumnLineageCache(path)
    assert [uid for uid, _ in again.trace(many)] == [t[0] for t in many]
    assert again.hits == len(many)


def test_without_a_file_every_task_is_traced(tmp_path: Path):
    cache = ColumnLineageCache(None)
    assert dict(cache.trace(TASKS)) == dict(trace_models(TASKS))
    cache.save(lambda: NODES)
    assert cache.hits == 0 and not list(tmp_path.iterdir())


def test_a_failed_write_raises_and_leaves_no_partial_file(tmp_path: Path):
    path = tmp_path / "cache.json"
    path.mkdir()  # cannot be replaced by a file, whoever runs the test
    cache = ColumnLineageCache(path)
    list(cache.trace(TASKS))
    with pytest.raises(OSError):
        cache.save(lambda: NODES)
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]
