"""Dagster's cost on its production storage: ``dg launch`` on a PostgreSQL instance vs SQLite,
each against plain ``dbt build`` of the same project, lineage off.

    python bench/storage_bench.py --project DST [--sizes 200,2000] [--rounds 200=3,2000=2]
                                  [--arms dbt,sqlite,postgres] [--profile ARM@N] [--out FILE]

``DST`` is a project rendered from this template whose dependencies (floe-lineage,
``dagster-dg-cli``) and ``dagster-postgres`` are installed in the running interpreter
(``nox -s bench`` and ``nox -s bench_storage`` do both). The bench starts its own PostgreSQL
server from the machine's server binaries (``floe-lineage/tests/postgres_server.py``: as root,
as the ``postgres`` user), generates the synthetic dbt projects (``make_dbt_project.py``) and
prepares each once (``dbt parse``), as ``run_bench.py`` does. Every measurement is a fresh
process timed from start to exit (wall clock; CPU seconds of it and its children), with
``OPENLINEAGE_DISABLED=true``:

- ``dbt``: plain ``dbt build`` in the dbt project;
- ``sqlite``: ``dg launch --assets '*'`` in ``DST`` with ``DAGSTER_HOME`` a new folder whose
  ``dagster.yaml`` keeps the default SQLite storage;
- ``postgres``: the same with ``storage: postgres:`` (dagster-postgres) on a new database;
- candidate arms (``ARMS``), each a PostgreSQL instance with one setting changed.

Every ``dg`` run gets a new ``DAGSTER_HOME`` (and database): the instance does not grow across
runs. The arms of a round alternate (the given order, then the reverse), the sizes take turns
round by round. After each ``dg`` run the events it stored are counted by type (outside the
timing). ``--profile ARM@N`` runs one more ``dg launch`` of that arm under cProfile and lists
where the ``dg`` process spent its time. Prints a table (medians, ratios to ``dbt``) and writes
``OUT`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
import textwrap
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "floe-lineage" / "tests"))

from run_bench import (  # noqa: E402
    BIN,
    Project,
    child_env,
    clean_run_files,
    compile_bytecode,
    dbt_build,
    load_average,
    log,
    new_outputs,
    prepare,
    remove,
    tail,
    timed_run,
    versions,
)

SQLITE = """\
telemetry:
  enabled: false
"""
# scheme: SQLAlchemy 2.1 reads postgresql:// as psycopg 3, which dagster-postgres does not
# depend on (it does on psycopg2-binary) and whose NOTIFY with a bound parameter fails
POSTGRES_DB = """\
postgres_db:
  hostname: {host}
  port: {port}
  username: {user}
  password: {password}
  db_name: {database}
  scheme: postgresql+psycopg2
"""
POSTGRES = SQLITE + "storage:\n  postgres:\n" + textwrap.indent(POSTGRES_DB, "    ")
POOLED = (
    SQLITE
    + "storage:\n  custom:\n    module: floe_lineage.dagster.postgres_storage\n"
    + "    class: PooledPostgresStorage\n    config:\n"
    + textwrap.indent(POSTGRES_DB, "      ")
)
ARMS: dict[str, dict[str, Any]] = {
    "dbt": {"label": "plain dbt build"},
    "sqlite": {"label": "dg launch, SQLite storage", "storage": "sqlite"},
    "postgres": {"label": "dg launch, PostgreSQL storage", "storage": "postgres"},
    # candidates, each PostgreSQL with one thing changed
    "postgres_pooled": {
        "label": "PostgreSQL, floe-lineage's PooledPostgresStorage",
        "storage": "postgres",
        "yaml": POOLED,
    },
    "postgres_batch": {
        "label": "PostgreSQL, DAGSTER_EVENT_BATCH_SIZE=1000",
        "storage": "postgres",
        "env": {"DAGSTER_EVENT_BATCH_SIZE": "1000"},
    },
}
DEFAULT_ARMS = ("dbt", "sqlite", "postgres")
PRESETS = {"full": ((200, 2000), {200: 3, 2000: 2}), "quick": ((100,), {100: 1})}


def instance_yaml(arm: dict[str, Any], server: Any, database: str) -> str:
    if arm["storage"] == "sqlite":
        return SQLITE
    return arm.get("yaml", POSTGRES).format(
        host=server.host,
        port=server.port,
        user=server.user,
        password=server.password,
        database=database,
    )


def stored_events(arm: dict[str, Any], home: Path, server: Any, database: str) -> dict[str, int]:
    """The events the run stored, by type, and on PostgreSQL the connections opened."""
    query = (
        "select coalesce(dagster_event_type, 'log message'), count(*) from event_logs group by 1"
    )
    counts: dict[str, int] = {}
    if arm["storage"] == "sqlite":
        # the event log of each run: a database per run (storage/ or history/runs/)
        for db in home.rglob("*.db"):
            if db.stem in ("index", "runs", "schedules"):
                continue
            with sqlite3.connect(db) as connection:
                for kind, n in connection.execute(query):
                    counts[kind] = counts.get(kind, 0) + n
    else:
        connection = server.connect(database)
        with connection.cursor() as cursor:
            cursor.execute(query)
            counts = dict(cursor.fetchall())
            # connections the run opened to its database (PostgreSQL 14+), this one included
            cursor.execute("select sessions from pg_stat_database where datname = %s", [database])
            counts["(connections opened)"] = cursor.fetchone()[0]
        connection.close()
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def server_cpu_seconds(port: int) -> float | None:
    """CPU seconds of the PostgreSQL server listening on ``port``: its postmaster's and those of
    the backends it has reaped (one per connection, so a connection's set-up counts), in
    ``/proc``; ``None`` where that cannot be read."""
    import os

    ticks = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = stat.read_bytes().split(b"\0")
            if not args[0].endswith(b"postgres") or str(port).encode() not in args:
                continue
            fields = (stat.parent / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime: fields 14-17 of proc(5), 12-15 after the name
        return sum(int(f) for f in fields[11:15]) / ticks
    return None


def dg_launch(
    name: str,
    project: Project,
    dst: Path,
    work: Path,
    server: Any,
    profile: Path | None = None,
) -> dict[str, Any]:
    """One ``dg launch --assets '*'`` of the project, lineage off, on a new instance."""
    arm = ARMS[name]
    home = work / "dagster-home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    database = f"dagster_{name}"
    if arm["storage"] == "postgres":
        server.create_database(database)
    (home / "dagster.yaml").write_text(instance_yaml(arm, server, database), encoding="utf-8")
    events_file = work / "events.jsonl"
    clean_run_files(project, events_file)
    env = child_env(project, dst, work / "openlineage.yml", lineage=False)
    env |= {"DAGSTER_HOME": str(home)} | arm.get("env", {})
    command = [str(BIN / "dg"), "launch", "--assets", "*"]
    if profile is not None:
        command = [sys.executable, "-m", "cProfile", "-o", str(profile), *command]
    log_file = work / f"launch-{name}.log"
    load = load_average()
    server_before = server_cpu_seconds(server.port)
    result = timed_run(command, env, dst, log_file)
    server_after = server_cpu_seconds(server.port)
    result |= {"arm": name, "load_average": load, "profiled": profile is not None}
    if arm["storage"] == "postgres" and server_before is not None and server_after is not None:
        # the backends of connections still open are not counted until they exit
        result["server_cpu_seconds"] = server_after - server_before
    if result["returncode"] != 0 or "RUN_SUCCESS" not in tail(log_file, 5):
        raise RuntimeError(f"{project.name}: dg launch ({name}) failed:\n{tail(log_file)}")
    result["stored_events"] = stored_events(arm, home, server, database)
    remove(new_outputs(project))
    clean_run_files(project, events_file)
    shutil.rmtree(home, ignore_errors=True)
    return result


def summarize(runs: list[dict[str, Any]], arms: list[str]) -> dict[str, Any]:
    by_arm = {a: [r for r in runs if r["arm"] == a and not r.get("profiled")] for a in arms}
    medians = {a: statistics.median(r["seconds"] for r in rs) for a, rs in by_arm.items() if rs}
    dbt = medians.get("dbt")
    summary: dict[str, Any] = {}
    for arm, found in by_arm.items():
        if not found:
            continue
        rounds = {r["round"]: r["seconds"] for r in found}
        dbt_rounds = {r["round"]: r["seconds"] for r in by_arm.get("dbt", [])}
        paired = [rounds[k] / dbt_rounds[k] for k in rounds if k in dbt_rounds]
        summary[arm] = {
            "seconds": [r["seconds"] for r in found],
            "cpu_seconds": [r["cpu_seconds"] for r in found],
            "load_average_1min": [
                r["load_average"][0] if r["load_average"] else None for r in found
            ],
            "median_s": medians[arm],
            "median_cpu_s": statistics.median(r["cpu_seconds"] for r in found),
            "median_server_cpu_s": statistics.median(
                [r["server_cpu_seconds"] for r in found if "server_cpu_seconds" in r] or [0.0]
            ),
            "vs_dbt": medians[arm] / dbt if dbt else None,
            "vs_dbt_paired": statistics.median(paired) if paired else None,
            "stored_events": found[-1].get("stored_events"),
        }
    return summary


def profile_lines(prof: Path, limit: int = 25) -> list[str]:
    """Where the profiled ``dg`` process spent its time: the storage and Dagster functions that
    matter here, by cumulative time."""
    import pstats

    stats = pstats.Stats(str(prof))
    entries = stats.stats  # type: ignore[attr-defined]
    watched = (
        "store_event",
        "store_event_batch",
        "_connect",
        "create_pg_connection",
        "connect",
        "get_asset_records",
        "_get_input_provenance_data",
        "_log_asset_planned_events",
        "_stream_stdout",
        "handle_new_event",
        "_store_asset_event",
        "execute",
        "close",
        "commit",
    )
    rows = []
    for (file, line, name), (_, calls, _tt, ct, _) in entries.items():
        if name in watched and ("dagster" in file or "sqlalchemy" in file or "psycopg" in file):
            short = file.split("site-packages/")[-1]
            rows.append((ct, calls, f"{short}:{line}({name})"))
    rows.sort(reverse=True)
    total = stats.total_tt  # type: ignore[attr-defined]
    lines = [f"profiled {total:.1f}s"]
    lines += [f"{ct:8.2f}s {calls:>8} calls  {label}" for ct, calls, label in rows[:limit]]
    return lines


def print_table(results: dict[str, Any]) -> None:
    print()
    print("Dagster's storage, lineage off: wall-clock seconds (median), ratio to plain dbt build")
    print("(CPU s: the measured process and its children; PG CPU: the PostgreSQL server's)")
    print(
        f"{'models':>7} {'arm':<44}{'runs':>5}{'median':>9}{'vs dbt':>8}{'paired':>8}"
        f"{'CPU s':>8}{'PG CPU':>8}  seconds@load (1 min) per run"
    )
    for size, summary in results["sizes"].items():
        for arm, s in summary.items():
            ratio = f"{s['vs_dbt']:.2f}x" if s["vs_dbt"] else "-"
            paired = f"{s['vs_dbt_paired']:.2f}x" if s["vs_dbt_paired"] else "-"
            runs = ", ".join(
                f"{sec:.1f}@{load:.1f}" if load is not None else f"{sec:.1f}"
                for sec, load in zip(s["seconds"], s["load_average_1min"], strict=True)
            )
            print(
                f"{size:>7} {ARMS[arm]['label']:<44}{len(s['seconds']):>5}{s['median_s']:>9.1f}"
                f"{ratio:>8}{paired:>8}{s['median_cpu_s']:>8.1f}"
                f"{s.get('median_server_cpu_s') or 0:>8.1f}  {runs}"
            )
    for size, summary in results["sizes"].items():
        for arm, s in summary.items():
            if s.get("stored_events"):
                total = sum(v for k, v in s["stored_events"].items() if not k.startswith("("))
                top = ", ".join(f"{k} {v}" for k, v in list(s["stored_events"].items())[:7])
                print(f"  {size} models, {arm}: {total} events stored ({top})")
    for name, lines in (results.get("profiles") or {}).items():
        print()
        print(f"cProfile of dg launch, {name}")
        for line in lines:
            print(f"  {line}")
    print()


def parse_rounds(text: str | None, defaults: dict[int, int]) -> dict[int, int]:
    rounds = dict(defaults)
    for item in (text or "").split(","):
        if item:
            key, value = item.split("=")
            rounds[int(key)] = int(value)
    return rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a rendered floe project")
    parser.add_argument("--out", type=Path, default=HERE.parent / ".bench" / "storage.json")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a new temp folder)")
    parser.add_argument("--quick", action="store_true", help="100 models, one round")
    parser.add_argument("--sizes", help="synthetic model counts, e.g. 200,2000")
    parser.add_argument("--rounds", help="rounds per size, e.g. 200=3,2000=2")
    parser.add_argument("--arms", default=",".join(DEFAULT_ARMS), help=f"some of {', '.join(ARMS)}")
    parser.add_argument(
        "--profile", action="append", default=[], help="ARM@N: one more run under cProfile"
    )
    args = parser.parse_args()

    sizes, rounds = PRESETS["quick" if args.quick else "full"]
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    rounds = parse_rounds(args.rounds, rounds)
    arms = args.arms.split(",")
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        parser.error(f"unknown arms {unknown}: choose from {', '.join(ARMS)}")
    work = (args.work or Path(tempfile.mkdtemp(prefix="floe-storage-bench-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    dst = args.project.resolve()
    (work / "openlineage.yml").write_text("transport:\n  type: console\n", encoding="utf-8")
    started_at = datetime.now(UTC)
    log(f"storage bench: work folder {work}, arms {arms}, rounds {rounds}")
    log(f"compiled the environment's bytecode in {compile_bytecode():.0f}s")

    from make_dbt_project import make_project
    from postgres_server import server_as_postgres_user

    projects: dict[int, Project] = {}
    for n in sizes:
        dbt_dir = work / f"synthetic-{n}"
        if not (dbt_dir / "dbt_project.yml").exists():
            make_project(n, dbt_dir)
        projects[n] = Project(
            f"synthetic-{n}", dbt_dir, "BENCH_DUCKDB_PATH", work / f"db-{n}" / "bench.duckdb", 0
        )
        projects[n].duckdb_file.parent.mkdir(parents=True, exist_ok=True)
        prepare(projects[n], dst, work / "openlineage.yml")

    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
    profiles: dict[str, list[str]] = {}
    with ExitStack() as stack:
        server = stack.enter_context(server_as_postgres_user())
        log(f"PostgreSQL server on {server.host}:{server.port}")
        for r in range(max(rounds.get(n, 0) for n in sizes)):
            for n in sizes:
                if r >= rounds.get(n, 0):
                    continue
                project = projects[n]
                for name in arms if r % 2 == 0 else list(reversed(arms)):
                    if name == "dbt":
                        load = load_average()
                        result = dbt_build(project, dst, work / "openlineage.yml", work)
                        result |= {"arm": "dbt", "load_average": load}
                    else:
                        result = dg_launch(name, project, dst, work, server)
                    result["round"] = r
                    runs[n].append(result)
                    write_results(args.out, started_at, arms, rounds, sizes, runs, profiles)
                    log(
                        f"{n} models, round {r + 1}/{rounds[n]}, {ARMS[name]['label']}:"
                        f" {result['seconds']:.1f}s ({result['cpu_seconds']:.1f} CPU s),"
                        f" load {result['load_average'][0]:.2f}"
                    )
        for item in args.profile:
            name, n = item.split("@")
            prof = args.out.with_name(f"storage-profile.{name}.{n}.prof")
            prof.parent.mkdir(parents=True, exist_ok=True)
            log(f"cProfile: {name} at {n} models")
            result = dg_launch(name, projects[int(n)], dst, work, server, profile=prof)
            profiles[f"{name} at {n} models ({result['seconds']:.1f}s)"] = profile_lines(prof)

    results = write_results(args.out, started_at, arms, rounds, sizes, runs, profiles)
    print_table(results)
    log(f"wrote {args.out}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def write_results(
    out: Path,
    started_at: datetime,
    arms: list[str],
    rounds: dict[int, int],
    sizes: tuple[int, ...],
    runs: dict[int, list[dict[str, Any]]],
    profiles: dict[str, list[str]],
) -> dict[str, Any]:
    """``out`` as it stands (written after every run: a long bench stopped early keeps its
    runs)."""
    results = {
        "started_at": started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "versions": versions() | {"dagster-postgres": _version("dagster-postgres")},
        "arms": {a: ARMS[a]["label"] for a in arms},
        "rounds": {str(n): rounds.get(n, 0) for n in sizes},
        "sizes": {str(n): summarize(runs[n], arms) for n in sizes if runs[n]},
        "runs": {str(n): runs[n] for n in sizes},
        "profiles": profiles,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "missing"


if __name__ == "__main__":
    sys.exit(main())
