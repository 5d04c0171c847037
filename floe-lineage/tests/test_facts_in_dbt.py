"""``floe-lineage-dbt``: dbt as the ``dbt`` command runs it, reporting each finished node's
facts, read through dbt's own connection, in a ``FloeLineageFacts`` line among dbt's JSON lines."""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

from conftest import copy_dbt_project
from google.protobuf.struct_pb2 import Struct

from floe_lineage.dbt.relation import Relation
from floe_lineage.in_dbt.facts_line import FactsRead, facts_line, read_facts_line
from floe_lineage.in_dbt.reader import FactsReader
from floe_lineage.openlineage.observations import WarehouseFacts

SCRIPTS = Path(sysconfig.get_path("scripts"))


def run(executable: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    return subprocess.run(
        [str(SCRIPTS / executable), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_it_answers_as_dbt_does():
    """Same exit codes and answers as ``dbt``: ``--version`` 0, a usage error 2."""
    ours, theirs = run("floe-lineage-dbt", "--version"), run("dbt", "--version")
    assert (ours.returncode, theirs.returncode) == (0, 0)
    assert ours.stdout.splitlines()[:2] == theirs.stdout.splitlines()[:2]
    assert run("floe-lineage-dbt", "no-such-command").returncode == 2
    assert run("dbt", "no-such-command").returncode == 2


def test_a_build_reports_every_written_nodes_facts_after_its_result(tmp_path: Path):
    """Every stdout line is whole JSON; each seed, model and snapshot dbt finished gets exactly
    one facts line, after its result line and before dbt's last line, with the real columns of
    its relation and, for tables, seeds and snapshots, its row count; exit code 0."""
    project = copy_dbt_project(tmp_path / "project")
    env_args = ("--log-format", "json", "--profiles-dir", str(project))
    os.environ["FLOE_DUCKDB_PATH"] = str(tmp_path / "warehouse.duckdb")
    try:
        done = run("floe-lineage-dbt", "build", *env_args, cwd=project)
    finally:
        del os.environ["FLOE_DUCKDB_PATH"]
    assert done.returncode == 0, done.stdout[-2000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    names = [line["info"]["name"] for line in lines]
    results = {
        line["data"]["node_info"]["unique_id"]: i
        for i, line in enumerate(lines)
        if line["info"]["name"] in ("LogSeedResult", "LogModelResult", "LogSnapshotResult")
    }
    facts = {}
    for i, line in enumerate(lines):
        read = read_facts_line(line)
        if read is not None:
            assert read.unique_id not in facts
            facts[read.unique_id] = (i, read)
    assert set(facts) == set(results) and len(results) == 9
    assert max(i for i, _ in facts.values()) < len(names) - 1
    for unique_id, (i, read) in facts.items():
        assert i > results[unique_id], unique_id
        assert read.error is None
        own = next(r for r in read.warehouse.columns if r.identifier == unique_id.split(".")[-1])
        assert all(data_type for _, data_type in read.warehouse.columns[own]), unique_id
        if not unique_id.startswith("model.floe.stg_"):  # views are not counted
            assert read.warehouse.row_counts[own] > 0, unique_id


def test_a_facts_line_reads_back_as_written():
    relation = Relation("warehouse", "main", "orders")
    written = FactsRead(
        "model.floe.orders",
        WarehouseFacts(columns={relation: [("id", "INTEGER")]}, row_counts={relation: 10}),
        rows_written=4,
        read_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
    )
    assert read_facts_line(json.loads(json.dumps(facts_line(written, "inv")))) == written
    assert read_facts_line({"info": {"name": "LogModelResult"}, "data": {}}) is None


def finished(unique_id: str, resource_type: str, status: str) -> SimpleNamespace:
    """A ``NodeFinished`` message as dbt hands it to callbacks (its adapter response a
    protobuf ``Struct``, as in dbt's own)."""
    response = Struct()
    response.update({"_message": "OK", "rows_affected": 5})
    return SimpleNamespace(
        info=SimpleNamespace(name="NodeFinished", invocation_id="inv-1"),
        data=SimpleNamespace(
            node_info=SimpleNamespace(
                unique_id=unique_id, resource_type=resource_type, node_status=status
            ),
            run_result=SimpleNamespace(adapter_response=response),
        ),
    )


def test_the_callback_only_records_what_finished_well_and_never_raises():
    """dbt's threads call ``record``: it queues a successful seed, model or snapshot, ignores
    tests, failures and other events, and swallows anything malformed (a raising callback
    would fail dbt's node)."""
    reader = FactsReader(lambda: None, lambda: None, lambda line: None)
    reader.record(finished("test.p.t", "test", "pass"))
    reader.record(finished("model.p.bad", "model", "error"))
    reader.record(SimpleNamespace(info=SimpleNamespace(name="LogStartLine")))
    reader.record(object())
    assert reader._queue.empty()
    reader.record(finished("model.p.a", "model", "success"))
    recorded = reader._queue.get_nowait()
    assert (recorded.unique_id, recorded.rows_affected, recorded.invocation_id) == (
        "model.p.a",
        5,
        "inv-1",
    )
    assert reader.drain(5)
