"""Pure functions from dbt facts to OpenLineage facets and run events: no I/O, no orchestrator.

The caller says who runs dbt (the parent job, its type, the root run, the attempt); this layer
names runs and datasets and builds the events."""
