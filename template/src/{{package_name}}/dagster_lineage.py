"""The thin bridge between Dagster and the lineage core: one Dagster resource, and the loop
that streams a dbt invocation into both Dagster events and OpenLineage events."""

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource

from .lineage.config import DEFAULT_DELIVERY_TIMEOUT
from .lineage.dbt_run import DbtRunLineage
from .lineage.emitter import LineageEmitter
from .lineage.events import EmissionContext, JobRun
from .lineage.naming import duckdb_namespace, stable_run_id
from .lineage.profile import WarehouseTarget, read_target
from .lineage.source_code import git_checkout
from .project import PROJECT_ROOT
from .settings import LINEAGE_NAMESPACE, LINEAGE_PRODUCER

INTERRUPTIONS = (GeneratorExit, KeyboardInterrupt, dg.DagsterExecutionInterruptedError)


class OpenLineageResource(dg.ConfigurableResource):
    """Where and how dbt lineage is emitted."""

    config_path: str | None = None
    """An ``openlineage.yml`` to use; by default ``$OPENLINEAGE_CONFIG``, ``./openlineage.yml``,
    the project's ``openlineage.yml``, then ``~/.openlineage/openlineage.yml``."""
    strict: bool = False
    """Raise on lineage errors instead of warning (for tests); a run never fails otherwise."""
    count_view_rows: bool = False
    """Also count the rows of views for ``outputStatistics`` (counting runs the view's query)."""
    delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT
    """Seconds an HTTP delivery may take before the backend counts as down and events are
    spooled (``timeout`` in ``openlineage.yml`` overrides it)."""

    def emitter(self, log: Any) -> LineageEmitter:
        return LineageEmitter.configure(
            PROJECT_ROOT,
            config_path=Path(self.config_path) if self.config_path else None,
            strict=self.strict,
            log=log,
            delivery_timeout=self.delivery_timeout,
        )


def dbt_build_with_lineage(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    lineage: OpenLineageResource,
    args: Sequence[str] = ("build",),
) -> Iterator[Any]:
    """Run ``dbt <args>`` for the selected assets, yielding Dagster events and emitting one
    OpenLineage START and terminal event per dbt node, under a parent run for this step."""
    emitter = lineage.emitter(context.log)
    target = None
    with emitter.guard("reading the dbt profile"):
        target = read_target(
            Path(dbt.project_dir),
            Path(dbt.profiles_dir) if dbt.profiles_dir else None,
            dbt.profile,
            dbt.target,
        )
    if target is not None and target.file is not None:
        target.file.parent.mkdir(parents=True, exist_ok=True)  # DuckDB makes the file only
    tracker = _tracker(context, dbt, lineage, emitter, target)
    tracker.start()
    failure, aborted = None, False
    try:
        invocation = dbt.cli(list(args), context=context)
        tracker.attach(invocation.target_path, invocation.manifest)
        for event in invocation.stream_raw_events():
            tracker.observe(event.raw_event)
            yield from event.to_default_asset_events(
                manifest=invocation.manifest,
                dagster_dbt_translator=invocation.dagster_dbt_translator,
                context=context,
                target_path=invocation.target_path,
            )
    except INTERRUPTIONS:
        aborted = True
        raise
    except Exception as exc:
        failure = str(exc)
        raise
    finally:
        tracker.finish(failure=failure, aborted=aborted)


def _tracker(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    lineage: OpenLineageResource,
    emitter: LineageEmitter,
    target: WarehouseTarget | None,
) -> DbtRunLineage:
    job_namespace = os.environ.get("OPENLINEAGE_NAMESPACE") or LINEAGE_NAMESPACE
    run = context.run
    step_key = context.get_step_execution_context().step.key
    dataset_namespace, database_file = "duckdb://unknown", None
    with emitter.guard("naming datasets"):
        if target is None or target.path is None:
            kind = target.adapter_type if target else "unreadable"
            raise ValueError(f"only DuckDB profiles are supported, not {kind!r}")
        dataset_namespace, database_file = duckdb_namespace(target.path), target.file
    emission = EmissionContext(
        producer=LINEAGE_PRODUCER,
        job_namespace=job_namespace,
        dataset_namespace=dataset_namespace,
        step=JobRun(
            job_namespace, f"{run.job_name}.{step_key}", stable_run_id(run.run_id, step_key)
        ),
        root=JobRun(job_namespace, run.job_name, run.run_id),
        source_code=git_checkout(Path(dbt.project_dir)),
    )
    return DbtRunLineage(emitter, emission, database_file, count_view_rows=lineage.count_view_rows)
