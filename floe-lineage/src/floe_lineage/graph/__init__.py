"""The lineage of a dbt project as a graph, and what changes between two of them: a pure core.

- ``model``: events (run events of a capture, or static JobEvents and DatasetEvents) -> a
  ``LineageGraph`` of jobs, datasets with typed and classified columns, and column lineage edges;
- ``diff``: two graphs -> a ``LineageDiff`` (what was added, removed, retyped, re-classified,
  and every column downstream of a changed edge);
- ``impact``: the columns downstream (or upstream) of one column, each with a path;
- ``static``: a graph's jobs and datasets as OpenLineage static lineage (JobEvent, DatasetEvent).

Nothing here reads files, prints or exits: ``floe_lineage.tools`` does that.
"""
