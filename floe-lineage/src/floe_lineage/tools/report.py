"""The HTML lineage report of one orchestrator run: a single self-contained page (inline CSS and
JavaScript, the data embedded as JSON, nothing fetched) with the graph of the dbt nodes' jobs
and the datasets they read and write, searchable, filterable by state and resource type (tests
hidden at first), zoomable, and a panel with each node's details: error or warning, inputs and
outputs, columns and column lineage. Below it a plain table of every job, readable without
JavaScript. States are ``outcomes.STATES``: WARN is a dbt test that completed with a failed
assertion. The header counts the dbt nodes by state, as the graph's state filter does, and
names the job that ran dbt.

The layout (columns and order, ``report_layout``) is computed here; the page only places the
visible nodes in their columns and draws them (``report_assets/report.js``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from html import escape
from importlib.resources import files
from typing import Any

from .outcomes import STATES, WARN, state_of, warnings_of
from .report_layout import layered_order
from .views import dbt_node_views, final_views

CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"
"""The page may run and style only what it holds, and fetch nothing."""
_HASH = re.compile(r"[0-9a-f]{10}")


def render_report(events: Sequence[Mapping[str, Any]], title: str) -> str:
    """The page for ``events`` (those of one run): the interactive graph of the dbt nodes and
    a table of all the run's jobs (the dbt nodes and the job that ran dbt)."""
    jobs = final_views(events)
    nodes = dbt_node_views(events)
    states = [state_of(view) for view in nodes.values()]
    counts = ", ".join(f"{states.count(s)} {s}" for s in _ordered(states))
    parents = [f"{name} ({view['eventType']})" for name, view in jobs.items() if name not in nodes]
    header = f"{len(nodes)} dbt nodes: {counts or 'none'}"
    header += f"; run by {', '.join(parents)}" if parents else ""
    ran_dbt = "the job" if len(parents) == 1 else f"the {len(parents)} jobs"
    contents = f"the {len(nodes)} dbt nodes" + (f" and {ran_dbt} that ran dbt" if parents else "")
    rows = "".join(
        f'<tr class="{escape(state_of(e).lower())}"><td>{escape(name)}</td>'
        f"<td>{escape(_job_type(e))}</td><td>{escape(state_of(e))}</td>"
        f"<td>{escape(_error(e) or '; '.join(warnings_of(e)))}</td></tr>"
        for name, e in jobs.items()
    )
    data = _embedded(graph_data(nodes))
    assets = files(__package__) / "report_assets"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{(assets / "report.css").read_text("utf-8")}</style></head>
<body>
<header>
<h1>{escape(title)}</h1>
<p id="summary">{escape(header)}</p>
<noscript><p>The interactive graph needs JavaScript: the jobs are listed in the table
below.</p></noscript>
</header>
<main id="app"></main>
<details id="jobs"><summary>All {len(jobs)} jobs: {contents} (name, type, state, error or
warning)</summary>
<table><tr><th>job</th><th>type</th><th>state</th><th>error or warning</th></tr>{rows}</table>
</details>
<script type="application/json" id="report-data">{data}</script>
<script>{(assets / "report.js").read_text("utf-8")}</script>
</body></html>
"""


def graph_data(jobs: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """What the page draws, for the final views of the dbt nodes' ``jobs``.

    ``nodes``: jobs and datasets, column by column and top to bottom within a column, each with
    ``kind`` (job or dataset), ``name``, ``short`` (the label), ``layer`` (its column) and for
    jobs ``type`` (the dbt resource type), ``state`` (``state_of``), ``error`` if any and
    ``warning`` (its failed assertions) if WARN; for datasets ``ns``
    (an index in ``namespaces``), ``columns`` ([name, type]), ``lineage`` (per column its
    sources) and ``rows`` (the INDIRECT sources of the whole dataset), a source being
    [namespace index, dataset name, column, transformations], and ``rowCount`` if known.
    ``edges``: [source, target] node indices, dataset to the job reading it, job to the dataset
    it writes. A dataset is known by its name (``dataset:<name>``), a job by ``job:<name>``.
    """
    datasets: dict[str, dict[str, Any]] = {}
    edges: list[tuple[str, str]] = []
    for name, view in jobs.items():
        for dataset in view.get("inputs", []):
            edges.append((f"dataset:{dataset['name']}", f"job:{name}"))
            _describe(datasets, dataset, written=False)
        for dataset in view.get("outputs", []):
            edges.append((f"job:{name}", f"dataset:{dataset['name']}"))
            _describe(datasets, dataset, written=True)
    namespaces: dict[str, int] = {}
    nodes: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    tests = [f"job:{n}" for n, view in jobs.items() if _job_type(view) == "TEST"]
    for layer, column in enumerate(layered_order([f"job:{n}" for n in jobs], edges, tests)):
        for key in column:
            kind, _, name = key.partition(":")
            index[key] = len(nodes)
            nodes.append(
                {"kind": kind, "name": name, "short": short_name(key), "layer": layer}
                | (
                    _job_node(jobs[name])
                    if kind == "job"
                    else _dataset_node(datasets[name], namespaces)
                )
            )
    return {
        "namespaces": list(namespaces),
        "nodes": nodes,
        "edges": sorted({(index[a], index[b]) for a, b in edges}),
    }


def short_name(key: str) -> str:
    """The label of a node: a dbt job's name without its resource type, package and test hash
    (``model.floe.orders`` -> ``orders``), a dataset's last part (``warehouse.main.orders`` ->
    ``orders``, ``s3://bucket/orders.csv`` -> ``orders.csv``)."""
    kind, _, name = key.partition(":")
    if "/" in name:
        return name.rstrip("/").rsplit("/", 1)[-1] or name
    parts = name.split(".")
    if kind == "job" and len(parts) >= 3:
        rest = parts[2:-1] if len(parts) > 3 and _HASH.fullmatch(parts[-1]) else parts[2:]
        return ".".join(rest)
    return parts[-1]


def _embedded(data: Any) -> str:
    """``data`` as JSON that cannot end its ``<script>`` element early: every ``<`` escaped."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


def _job_node(view: Mapping[str, Any]) -> dict[str, Any]:
    node = {"type": _job_type(view), "state": state_of(view)}
    if _error(view):
        node["error"] = _error(view)
    if node["state"] == WARN:
        node["warning"] = "; ".join(warnings_of(view))
    return node


def _ordered(states: Sequence[str]) -> list[str]:
    """The states present in ``states``: those of ``STATES`` in its order, then any other."""
    return [s for s in STATES if s in states] + sorted(set(states) - set(STATES))


def _describe(
    datasets: dict[str, dict[str, Any]], dataset: Mapping[str, Any], written: bool
) -> None:
    """Merge what ``dataset`` (an input or output of a job) says into ``datasets``: what the
    job writing it says wins over what readers say."""
    known = datasets.setdefault(dataset["name"], {"namespace": dataset.get("namespace", "")})
    facets = dataset.get("facets", {})
    known["facets"] = (
        {**known.get("facets", {}), **facets}
        if written
        else {
            **facets,
            **known.get("facets", {}),
        }
    )
    rows = dataset.get("outputFacets", {}).get("outputStatistics", {}).get("rowCount")
    if written and rows is not None:
        known["rowCount"] = rows


def _dataset_node(described: Mapping[str, Any], namespaces: dict[str, int]) -> dict[str, Any]:
    """``described`` (see ``_describe``) as the page's dataset node, its namespaces (those of
    the dataset and of its lineage's sources) as indexes in ``namespaces``, which it extends."""

    def source(field: Mapping[str, Any]) -> list[Any]:
        how = ", ".join(
            f"{t.get('type', '')} {t.get('subtype', '')}".strip()
            for t in field.get("transformations", [])
        )
        return [
            namespaces.setdefault(field.get("namespace", ""), len(namespaces)),
            field.get("name", ""),
            field.get("field", ""),
            how,
        ]

    facets = described.get("facets", {})
    lineage = facets.get("columnLineage", {})
    node: dict[str, Any] = {
        "ns": namespaces.setdefault(described["namespace"], len(namespaces)),
        "columns": [
            [f.get("name", ""), f.get("type", "")]
            for f in facets.get("schema", {}).get("fields", [])
        ],
        "lineage": {
            column: [source(f) for f in sources.get("inputFields", [])]
            for column, sources in lineage.get("fields", {}).items()
        },
        "rows": [source(f) for f in lineage.get("dataset") or []],
    }
    if "rowCount" in described:
        node["rowCount"] = described["rowCount"]
    return node


def _job_type(view: Mapping[str, Any]) -> str:
    return view.get("job", {}).get("facets", {}).get("jobType", {}).get("jobType", "JOB")


def _error(view: Mapping[str, Any]) -> str:
    return view.get("run", {}).get("facets", {}).get("errorMessage", {}).get("message", "")
