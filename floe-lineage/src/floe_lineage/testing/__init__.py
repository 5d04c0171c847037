"""Testing lineage with pytest (the ``pytest11`` plugin ``floe_lineage.testing.plugin``).

- ``lineage`` (session fixture): the project's dbt assets materialized once through Dagster into
  a database of their own, events captured by a file transport; a ``Lineage`` to ask about.
- ``Lineage.assert_valid()``, ``assert_complete()``, ``edge(a, b)``, ``column(c).derives_from(d)``,
  ``dataset(d).facet(k)``, ``job(j).facet(k)``; failures say what is there instead.
- ``lineage_snapshot``: syrupy's ``snapshot`` keeping ``Lineage.snapshot()`` as a text file.
- ``floe_spec``: the project's ``floe.yaml``; ``floe_spec.assert_in_step()`` fails when its
  transforms are not the dbt models (``pytest --snapshot-update`` rewrites them).
- ``@pytest.mark.dbt_project("name")``: a test written for one dbt project is skipped when the
  project under test is another one.
"""

from .lineage import ColumnView, DatasetView, JobView, Lineage

__all__ = ["ColumnView", "DatasetView", "JobView", "Lineage"]
