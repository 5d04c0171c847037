"""How fast ``floe-lineage report`` pages draw at 2,000 dbt nodes, in headless Chromium.

    python bench/report_render.py [--jobs 2000] [--runs 3] [--limit-ms 2000]
        [--screenshot docs/images/report-2000-nodes.png]
        [--detail-screenshot docs/images/report-2000-nodes-detail.png]

Builds the events of one synthetic run (``synthetic_events``: no dbt, no Dagster), writes the
report with ``floe-lineage report``, opens it ``--runs`` times in headless Chromium and reads the
time the page itself records when its graph is drawn and laid out (``data-first-render-ms`` on
``<body>``, milliseconds since navigation start, so HTML and JSON parsing included). Prints one
JSON document (the times, their median, the page size, the time ``floe-lineage report`` took)
and exits 1 when the median is over ``--limit-ms``. Saves two screenshots: the first view, and
the details panel of a model with column lineage (opened by the page's ``#node=`` deep link).

``synthetic_events`` is also what floe-lineage's own test of the report at 2,000 nodes renders.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "bench"
WAREHOUSE = "postgres://warehouse.example.com:5432"
PRODUCER = "https://github.com/floe-dev/floe-pipeline-template/tree/main/bench"
RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
DOMAINS = (
    "orders",
    "customers",
    "payments",
    "products",
    "inventory",
    "shipping",
    "marketing",
    "finance",
    "support",
    "web",
    "billing",
    "people",
)
TIERS = ("base", "int", "enriched", "agg", "rollup", "fct", "dim", "mart")
"""Model layers after staging: each model reads at least one model of the layer before."""
ERROR = 'Database Error in model {name} (models/{name}.sql)\n  column "{column}" does not exist'


def synthetic_events(jobs: int = 2000, seed: int = 13) -> list[dict[str, Any]]:
    """START and terminal events of one run of ``jobs`` dbt nodes, the final description of
    each node in its terminal event: about 2.5 % seeds and as many snapshots, 40 % tests, the
    rest models (staging models on seeds and source tables, then models in chains and fan-ins
    across ``DOMAINS`` and ``TIERS``). Every dataset a node writes has a schema and column
    lineage (DIRECT per column, INDIRECT for the rows). One model in 200 fails (its
    descendants ABORT), one in 500 never ends (START only), one test in 100 fails. The same
    arguments give the same events."""
    rng = random.Random(seed)
    run = _Run(rng)
    seeds = max(1, jobs // 40)
    snapshots = max(1, jobs // 40)
    tests = jobs * 2 // 5
    models = jobs - seeds - snapshots - tests
    sources = [run.source(f"raw_{DOMAINS[i % len(DOMAINS)]}_{i:03d}") for i in range(jobs // 20)]
    seeded = [
        run.node("seed", f"seed_{DOMAINS[i % len(DOMAINS)]}_{i:03d}", []) for i in range(seeds)
    ]
    staging = [
        run.node("model", f"stg_{table.split('.')[-1]}", [table])
        for table in (sources + seeded)[: models // 4]
    ]
    tier = [*staging]
    made = len(staging)
    for depth, prefix in enumerate(TIERS):
        size = (models - len(staging)) // len(TIERS)
        if depth == len(TIERS) - 1:
            size = models - made
        below, earlier, tier = tier, list(run.written), []
        for i in range(size):
            domain = DOMAINS[i % len(DOMAINS)]
            near = [t for t in below if f"_{domain}_" in t] or below
            inputs = {rng.choice(near)}
            for _ in range(rng.choice((0, 1, 1, 2))):
                inputs.add(rng.choice(near if rng.random() < 0.85 else earlier))
            tier.append(run.node("model", f"{prefix}_{domain}_{i:03d}", sorted(inputs)))
        made += size
    for i in range(snapshots):
        table = staging[i % len(staging)]
        run.node("snapshot", f"snap_{table.split('.')[-1].removeprefix('stg_')}", [table])
    tested = [t for t in run.written if not t.startswith("warehouse.snapshots")]
    for i in range(tests):
        table = rng.choice(tested)
        column = rng.choice(run.columns[table])
        kind = ("not_null", "unique", "accepted_values", "relationships")[i % 4]
        reads = [table] if kind != "relationships" else [table, rng.choice(tested)]
        name = f"{kind}_{table.split('.')[-1]}_{column}"
        run.node("test", f"{name}.{rng.getrandbits(40):010x}", reads)
    return run.events()


class _Run:
    """The nodes of one synthetic run, in the order dbt would run them."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.root, self.step = self._uuid(), self._uuid()
        self.columns: dict[str, list[str]] = {}
        self.written: list[str] = []
        self.nodes: list[dict[str, Any]] = []
        self.broken: set[str] = set()
        """Datasets not written (their job failed or never ended, or an ancestor did)."""

    def source(self, name: str) -> str:
        """A source table (a dataset no node writes) and its columns."""
        table = f"warehouse.raw.{name}"
        self.columns[table] = ["id", *self.rng.sample(_COLUMNS, self.rng.randint(3, 7))]
        return table

    def node(self, kind: str, name: str, reads: list[str]) -> str:
        """A node reading ``reads``; returns the dataset it writes (tests write none)."""
        schema = {"seed": "raw", "snapshot": "snapshots"}.get(kind, "analytics")
        table = f"warehouse.{schema}.{name}"
        state = "COMPLETE"
        if any(r in self.broken for r in reads):
            state = "ABORT"
        elif kind == "model" and self.rng.random() < 0.005:
            state = "FAIL"
        elif kind == "model" and self.rng.random() < 0.002:
            state = "START"
        elif kind == "test" and self.rng.random() < 0.01:
            state = "FAIL"
        node = {"kind": kind, "name": f"{kind}.{NAMESPACE}.{name}", "reads": reads, "state": state}
        self.nodes.append(node)
        if kind == "test":
            return ""
        if state != "COMPLETE":
            self.broken.add(table)
        pool = [c for r in reads for c in self.columns[r]]
        own = ["id", *self.rng.sample(_COLUMNS, self.rng.randint(3, 7))]
        self.columns[table] = own if kind == "seed" else list(dict.fromkeys(["id", *pool]))[:8]
        node["writes"] = table
        self.written.append(table)
        return table

    def events(self) -> list[dict[str, Any]]:
        now = datetime(2026, 1, 5, 6, 0)  # UTC
        events = []
        for i, node in enumerate(self.nodes):
            run_id = self._uuid()
            started = now + timedelta(seconds=i)
            events.append(self._event(node, "START", run_id, started))
            if node["state"] != "START":
                ended = started + timedelta(milliseconds=self.rng.randint(50, 900))
                events.append(self._event(node, node["state"], run_id, ended))
        return events

    def _event(self, node: dict[str, Any], state: str, run_id: str, at: datetime) -> dict[str, Any]:
        run_facets: dict[str, Any] = {
            "parent": {
                **self._facet("ParentRunFacet", "1-1-0"),
                "run": {"runId": self.step},
                "job": {"namespace": NAMESPACE, "name": "bench_job.dbt"},
                "root": {
                    "run": {"runId": self.root},
                    "job": {"namespace": NAMESPACE, "name": "bench_job"},
                },
            }
        }
        if state == "FAIL":
            message = "Got 3 results, configured to fail if != 0"
            if node["kind"] != "test":
                column = self.rng.choice(self.columns[node["writes"]])
                message = ERROR.format(name=node["name"].split(".")[-1], column=column)
            run_facets["errorMessage"] = {
                **self._facet("ErrorMessageRunFacet", "1-0-1"),
                "message": message,
                "programmingLanguage": "SQL",
            }
        job_type = {
            "processingType": "BATCH",
            "integration": "DBT",
            "jobType": node["kind"].upper(),
        }
        event = {
            "eventTime": at.isoformat() + "+00:00",
            "producer": PRODUCER,
            "schemaURL": RUN_EVENT,
            "eventType": state,
            "run": {"runId": run_id, "facets": run_facets},
            "job": {
                "namespace": NAMESPACE,
                "name": node["name"],
                "facets": {"jobType": {**self._facet("JobTypeJobFacet", "2-0-3"), **job_type}},
            },
            "inputs": [{"namespace": WAREHOUSE, "name": r, "facets": {}} for r in node["reads"]],
            "outputs": [],
        }
        if "writes" in node:
            done = state == "COMPLETE"
            event["outputs"] = [self._output(node, described=done)]
        return event

    def _output(self, node: dict[str, Any], described: bool) -> dict[str, Any]:
        table = node["writes"]
        output: dict[str, Any] = {"namespace": WAREHOUSE, "name": table, "facets": {}}
        if not described:
            return output
        columns = self.columns[table]
        output["facets"]["schema"] = {
            **self._facet("SchemaDatasetFacet", "1-2-0"),
            "fields": [{"name": c, "type": _TYPES.get(c, "VARCHAR")} for c in columns],
        }
        output["outputFacets"] = {
            "outputStatistics": {
                **self._facet("OutputStatisticsOutputDatasetFacet", "1-0-2"),
                "rowCount": self.rng.randint(0, 5_000_000),
            }
        }
        if node["reads"]:
            output["facets"]["columnLineage"] = {
                **self._facet("ColumnLineageDatasetFacet", "1-2-0"),
                "fields": {c: {"inputFields": self._sources(node["reads"], c)} for c in columns},
                "dataset": [
                    self._field(node["reads"][0], "id", "INDIRECT", self.rng.choice(_INDIRECT))
                ],
            }
        return output

    def _sources(self, reads: list[str], column: str) -> list[dict[str, Any]]:
        having = [r for r in reads if column in self.columns[r]] or reads[:1]
        subtype = "IDENTITY" if len(having) == 1 else "AGGREGATION"
        return [self._field(r, column, "DIRECT", subtype) for r in having]

    @staticmethod
    def _field(table: str, column: str, kind: str, subtype: str) -> dict[str, Any]:
        return {
            "namespace": WAREHOUSE,
            "name": table,
            "field": column,
            "transformations": [{"type": kind, "subtype": subtype, "masking": False}],
        }

    @staticmethod
    def _facet(name: str, version: str) -> dict[str, str]:
        return {
            "_producer": PRODUCER,
            "_schemaURL": f"https://openlineage.io/spec/facets/{version}/{name}.json#/$defs/{name}",
        }

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


_COLUMNS = (
    "customer_id",
    "order_id",
    "product_id",
    "amount",
    "currency",
    "status",
    "created_at",
    "updated_at",
    "country",
    "channel",
    "quantity",
    "price",
    "discount",
    "email",
    "region",
    "segment",
    "score",
)
_TYPES = {
    "id": "BIGINT",
    "amount": "NUMERIC(18,2)",
    "price": "NUMERIC(18,2)",
    "quantity": "INTEGER",
}
_TYPES |= {c: "BIGINT" for c in _COLUMNS if c.endswith("_id")}
_TYPES |= {"created_at": "TIMESTAMP", "updated_at": "TIMESTAMP", "score": "DOUBLE"}
_INDIRECT = ("JOIN", "FILTER", "GROUP_BY")


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    found = found or shutil.which("google-chrome")
    if found is None:
        sys.exit("no Chromium found (apt-get install chromium)")
    return found


def headless(browser: str, *args: str) -> str:
    """Chromium's standard output for ``args``, in a fresh profile, nothing fetched."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    return done.stdout


def first_render_ms(dom: str) -> int:
    found = re.search(r'data-first-render-ms="(\d+)"', dom)
    if found is None:
        raise RuntimeError("the page recorded no first render (did its script fail?)")
    return int(found.group(1))


def detail_node(events: list[dict[str, Any]]) -> str:
    """A completed model reading several datasets, for the details screenshot."""
    return next(
        e["job"]["name"]
        for e in events
        if e["eventType"] == "COMPLETE"
        and e["job"]["name"].startswith("model.")
        and ".fct_" in e["job"]["name"]
        and len(e["inputs"]) >= 2
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--limit-ms", type=int, default=2000)
    parser.add_argument("--window", default="1600,1000", help="browser window WIDTH,HEIGHT")
    parser.add_argument(
        "--screenshot", type=Path, default=ROOT / "docs" / "images" / "report-2000-nodes.png"
    )
    parser.add_argument(
        "--detail-screenshot",
        type=Path,
        default=ROOT / "docs" / "images" / "report-2000-nodes-detail.png",
    )
    args = parser.parse_args()
    browser = chromium()
    lineage = Path(sys.executable).parent / "floe-lineage"
    events = synthetic_events(args.jobs)
    with tempfile.TemporaryDirectory(prefix="floe-report-bench-") as scratch:
        events_file, page = Path(scratch) / "events.jsonl", Path(scratch) / "report.html"
        events_file.write_text("".join(json.dumps(e) + "\n" for e in events))
        started = time.perf_counter()
        subprocess.run(
            [str(lineage), "report", str(events_file), "--out", str(page)],
            check=True,
            capture_output=True,
        )
        report_seconds = time.perf_counter() - started
        window = f"--window-size={args.window}"
        times = [
            first_render_ms(headless(browser, window, "--dump-dom", page.as_uri()))
            for _ in range(args.runs)
        ]
        for shot, url in (
            (args.screenshot, page.as_uri()),
            (args.detail_screenshot, f"{page.as_uri()}#node={detail_node(events)}"),
        ):
            shot.parent.mkdir(parents=True, exist_ok=True)
            headless(browser, window, "--hide-scrollbars", f"--screenshot={shot}", url)
        median = statistics.median(times)
        print(
            json.dumps(
                {
                    "jobs": args.jobs,
                    "events": len(events),
                    "page_kb": round(page.stat().st_size / 1024),
                    "floe_lineage_report_s": round(report_seconds, 2),
                    "first_render_ms": times,
                    "median_first_render_ms": median,
                    "limit_ms": args.limit_ms,
                    "screenshots": [str(args.screenshot), str(args.detail_screenshot)],
                },
                indent=2,
            )
        )
    return 0 if median <= args.limit_ms else 1


if __name__ == "__main__":
    sys.exit(main())
