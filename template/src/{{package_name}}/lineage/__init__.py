"""OpenLineage for dbt: plain functions and classes from dbt facts to OpenLineage events.

Nothing in this package imports Dagster; ``..dagster_lineage`` is the thin bridge.

- ``naming``: stable run ids, dataset namespace and names
- ``manifest``: the dbt DAG (inputs and outputs of every node)
- ``profile``: where the dbt profile puts the DuckDB database
- ``dbt_log``: node facts from dbt's structured log events
- ``warehouse``: real column types, read once dbt has released the database
- ``facets`` / ``events``: OpenLineage facets and run events
- ``config`` / ``emitter``: ``openlineage.yml`` and never-failing emission
- ``dbt_run``: one dbt invocation from first START to last terminal event
"""
