"""floe-lineage: OpenLineage events for every dbt node, from dbt's own facts.

The layers, each importing only the ones above it:

- ``dbt``: facts dbt gives (structured log events, manifest, run results, profile, git)
- ``openlineage``: pure functions from those facts to OpenLineage facets and run events
- ``warehouse``: what is read from the database dbt wrote (one protocol, DuckDB implemented)
- ``delivery``: ``openlineage.yml``, the emitter, the spool, the appending file transport
- ``column_lineage_cache``: the column lineage traced on earlier runs, so unchanged models are
  not traced again
- ``producer``: the ``producer`` of the events when none is configured: floe-lineage's own code
  at the commit it was installed from
- ``invocation``: one dbt invocation, from its first START to its last terminal event
- ``tools``: the ``floe-lineage`` command (summary, check, report, replay) and validation
- ``dagster``: the Dagster integration, a ``DbtProjectComponent`` that emits lineage
- ``testing``: the pytest plugin (``lineage`` fixture, assertions, lineage snapshots)
"""

from importlib import metadata

__version__ = metadata.version("floe-lineage")
