"""Lineage settings of the measured runs, as the project ``nox -s bench`` renders
(``project_name=bench``) configures them in ``defs/transform/defs.yaml``; the replay and the
micro-benchmarks use the same."""

NAMESPACE = "bench"
PRODUCER = "https://github.com/example/bench"
JOB = "__ASSET_JOB"
"""The job ``dg launch --assets`` runs."""
