"""``DbtProjectWithLineage``: dagster-dbt's ``DbtProjectComponent`` whose dbt runs emit an
OpenLineage START and one COMPLETE, FAIL or ABORT per dbt node, under a parent run for the
Dagster step and the Dagster run as root.

Configured in a project's ``defs.yaml``::

    type: floe_lineage.dagster.DbtProjectWithLineage
    attributes:
      project: "{{ context.project_root }}/dbt"
      lineage:
        namespace: my-namespace
        producer: https://github.com/acme/my-project  # optional

Everything else is ``DbtProjectComponent``'s (``cli_args``, ``select``, ``translation`` ...).
"""

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import dagster as dg
from dagster.components.resolved.model import Resolver
from dagster_dbt import DbtCliInvocation, DbtCliResource, DbtProjectComponent
from rfc3986_validator import validate_rfc3986

from ..column_lineage_cache import FILE_NAME as COLUMN_LINEAGE_CACHE_FILE
from ..dbt.environment import environment
from ..dbt.log_file import JSON_FILE_LOG
from ..delivery.config import DEFAULT_DELIVERY_BUDGET, DEFAULT_DELIVERY_TIMEOUT
from ..delivery.emitter import LineageEmitter
from ..in_dbt.reader import COUNT_VIEW_ROWS, VIEW_COUNT_TIMEOUT_ENV
from ..invocation import InvocationLineage, lineage_of_dbt_project
from ..openlineage.naming import stable_run_id
from ..openlineage.run_events import ExtraFacets, JobRun
from ..producer import default_producer
from ..warehouse.base import VIEW_COUNT_TIMEOUT
from .dbt_resource import build_adapter_only_if_used, know_dbt_version, with_facts_reader
from .definitions_cache import built_once
from .metadata import STREAM_TICK, dataset_asset_keys, on_materialization, with_lineage_metadata
from .preparation import prepare, prepare_when_changed
from .step_outputs import answer_output_asset_keys_once
from .upstream import LOCAL_PROJECT_MANAGERS, DbtEventIterator, first_load, in_dagster_dev

INTERRUPTIONS = (GeneratorExit, KeyboardInterrupt, dg.DagsterExecutionInterruptedError)


@dataclass
class LineageSettings(dg.Resolvable):
    """Where and how the dbt nodes' lineage goes."""

    namespace: Annotated[
        str, Resolver.default(description="OpenLineage namespace of the jobs (dbt nodes, step).")
    ] = "default"
    producer: Annotated[
        str | None,
        Resolver.default(
            description="Absolute URI written as `producer` into every event and facet; by"
            " default floe-lineage's own code at the commit it was installed from"
            " (floe_lineage.producer)."
        ),
    ] = None
    config_path: Annotated[
        str | None,
        Resolver.default(
            description="An openlineage.yml to use; by default $OPENLINEAGE_CONFIG,"
            " ./openlineage.yml, the project's openlineage.yml, ~/.openlineage/openlineage.yml."
        ),
    ] = None
    strict: Annotated[
        bool,
        Resolver.default(description="Raise lineage errors instead of warning (for tests)."),
    ] = False
    count_view_rows: Annotated[
        bool,
        Resolver.default(
            description="Count the rows of views too (dagster/row_count, outputStatistics):"
            " counting runs the view's query, bounded by view_count_timeout."
        ),
    ] = True
    view_count_timeout: Annotated[
        float,
        Resolver.default(
            description="Seconds counting one view's rows may take before it is given up (the"
            " view then has no row count, and a warning says why)."
        ),
    ] = VIEW_COUNT_TIMEOUT
    delivery_timeout: Annotated[
        float,
        Resolver.default(
            description="Seconds one HTTP request may take, in all, before the backend counts as"
            " down and events are spooled (`timeout` in openlineage.yml overrides it)."
        ),
    ] = DEFAULT_DELIVERY_TIMEOUT
    delivery_budget: Annotated[
        float,
        Resolver.default(
            description="Seconds a run may wait at its end for a remote backend to take its"
            " events; what is left is spooled."
        ),
    ] = DEFAULT_DELIVERY_BUDGET
    asset_metadata: Annotated[
        bool | Literal["auto"],
        Resolver.default(
            description="Lineage's facts on each materialization (column schema with warehouse"
            " types, row count, column lineage, OpenLineage run id). auto: every fact, each"
            " materialization recorded as soon as its own node's facts are known while dbt runs"
            " (PostgreSQL: read as nodes finish; DuckDB: read inside the dbt process, which runs"
            " as floe-lineage-dbt); where they come only once dbt exits (a custom dbt_executable"
            " on DuckDB), the run id. true: as auto, but those wait for dbt to exit. false:"
            " none. The OpenLineage events keep every fact either way."
        ),
    ] = "auto"
    extra_facets: Annotated[
        str | None,
        Resolver.default(
            description="`module:function` returning facets of your own for a dbt node's event,"
            " called with the node (floe_lineage.dbt.manifest.DbtNode) and the event type."
        ),
    ] = None

    def __post_init__(self) -> None:
        if self.producer is None:
            self.producer = default_producer()
        elif not validate_rfc3986(self.producer, rule="URI"):
            raise ValueError(
                f"lineage.producer must be an absolute URI, such as"
                f" https://github.com/acme/my-project (got {self.producer!r})"
            )
        if not self.view_count_timeout > 0:
            raise ValueError(
                f"lineage.view_count_timeout must be a number of seconds above 0"
                f" (got {self.view_count_timeout!r})"
            )
        if not (isinstance(self.asset_metadata, bool) or self.asset_metadata == "auto"):
            raise ValueError(
                f"lineage.asset_metadata must be auto, true or false (got {self.asset_metadata!r})"
            )
        self.facet_function()  # an unimportable path fails when the definitions load

    def facet_function(self) -> ExtraFacets | None:
        if self.extra_facets is None:
            return None
        module, _, name = self.extra_facets.partition(":")
        try:
            found = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise ValueError(
                f"lineage.extra_facets {self.extra_facets!r} names no importable callable"
                f" (`module:function`): {exc}"
            ) from exc
        if not callable(found):
            raise ValueError(f"lineage.extra_facets {self.extra_facets!r} is not callable")
        return found


@dataclass
class DbtProjectWithLineage(DbtProjectComponent):
    """dagster-dbt's DbtProjectComponent whose dbt runs emit OpenLineage events for every dbt
    node (seeds, models, snapshots, tests), with column lineage, typed schemas and tests as
    data-quality assertions. See https://github.com/floe-dev/floe-pipeline-template."""

    lineage: Annotated[
        LineageSettings,
        Resolver.default(description="Where and how lineage is emitted (floe-lineage)."),
    ] = field(default_factory=LineageSettings)

    _project_root = None  # the Dagster project's folder, set when the definitions load

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        """A local dbt project is used where it is: its ``manifest.json`` is prepared (``dbt
        parse``) there when missing, and when ``dg``/``dagster dev`` first loads the definitions
        (not when a run's process reconstructs them), as ``DbtProjectComponent`` refreshes state,
        but only when the project changed since its last preparation (``preparation.py``).

        ``DbtProjectComponent`` would run dbt in a copy of the project made under the defs
        folder's ``.local_defs_state`` whenever ``dg`` refreshes state, so relative paths in
        ``profiles.yml`` (a DuckDB file) point into that copy, and the copy takes ``target/``
        and any ``.venv`` along (dagster-io/dagster#33808). A remote (git) project keeps
        dagster-dbt's behaviour.

        The definitions are built once per process for the same configuration and manifest
        (``definitions_cache``): ``dg launch`` loads them seven times."""
        self._project_root = Path(context.project_root)
        if not self._local_project:
            return super().build_defs(context)
        project = self.dbt_project
        if not project.manifest_path.exists():
            prepare(project)
        elif self.prepare_if_dev and in_dagster_dev() and first_load():
            prepare_when_changed(project)
        return built_once(
            self,
            context,
            project.manifest_path,
            lambda: self.build_defs_from_state(context, state_path=None),
        )

    def write_state_to_path(self, state_path: Path) -> None:
        """``dg utils refresh-defs-state``: prepare a local project in place (no copy)."""
        if not self._local_project:
            return super().write_state_to_path(state_path)
        prepare(self.dbt_project)
        state_path.parent.mkdir(parents=True, exist_ok=True)
        state_path.touch()
        return None

    def execute(self, context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
        """dagster-dbt's execution (``cli_args``, ``include_metadata``), with every dbt log
        event also fed to the lineage of this step, and each materialization completed with
        lineage's facts as ``lineage.asset_metadata`` says (``metadata``)."""
        answer_output_asset_keys_once(context.get_step_execution_context())
        with self._step_lineage(context, dbt) as lineage:
            lineage.use_worker()  # observe() only records: nothing waits on dbt's stdout
            reporting = with_facts_reader(dbt) if lineage.enabled else None
            if reporting is not None:
                dbt = reporting
                lineage.expect_facts_from_dbt()
            know_dbt_version(dbt)
            build_adapter_only_if_used(dbt, self.include_metadata)
            dbt_env = {**JSON_FILE_LOG}  # dbt.log as JSON: error text where dbt does not report it
            dbt_env[COUNT_VIEW_ROWS] = "1" if self.lineage.count_view_rows else "0"
            dbt_env[VIEW_COUNT_TIMEOUT_ENV] = repr(float(self.lineage.view_count_timeout))
            with environment(dbt_env):
                invocation = dbt.cli(self.get_cli_args(context), context=context)
            lineage.attach(invocation.target_path, invocation.manifest)
            observed = _observed(invocation, lineage, context, ticks=self.lineage.asset_metadata)
            if self.lineage.asset_metadata is not False:
                key_of = dataset_asset_keys(
                    lambda: lineage.graph,
                    lambda uid: self.get_asset_spec(invocation.manifest, uid, invocation.project),
                )
                observed = with_lineage_metadata(
                    observed,
                    lineage,
                    key_of,
                    wait_for_facts=self.lineage.asset_metadata is True,
                    attach=on_materialization(context),
                )
            events = DbtEventIterator(observed, invocation)
            if "column_metadata" in self.include_metadata:
                events = events.fetch_column_metadata()
            if "row_count" in self.include_metadata:
                events = events.fetch_row_counts()
            if "insights" in self.include_metadata:
                events = events.with_insights()
            yield from events

    @property
    def _local_project(self) -> bool:
        """Whether the dbt project is used where it is (not a git project dagster-dbt copies)."""
        return isinstance(self._project_manager, LOCAL_PROJECT_MANAGERS)

    def _column_lineage_cache(self) -> Path | None:
        """Where a local project keeps the column lineage traced on earlier runs: beside its
        prepared ``manifest.json``. A remote (git) project, copied afresh, keeps none."""
        if not self._local_project:
            return None
        return self.dbt_project.manifest_path.with_name(COLUMN_LINEAGE_CACHE_FILE)

    @contextmanager
    def _step_lineage(
        self, context: dg.AssetExecutionContext, dbt: DbtCliResource
    ) -> Iterator[InvocationLineage]:
        """The lineage of this step's dbt invocation: a parent run for the step (START now,
        then COMPLETE, FAIL with the error, or ABORT when interrupted), the emitter closed at
        the end."""
        settings = self.lineage
        run = context.run
        step_key = context.get_step_execution_context().step.key
        attempt = (f"attempt {context.retry_number}",) if context.retry_number else ()
        with LineageEmitter.configure(
            self._project_root,
            config_path=Path(settings.config_path) if settings.config_path else None,
            strict=settings.strict,
            log=context.log,
            delivery_timeout=settings.delivery_timeout,
            delivery_budget=settings.delivery_budget,
        ) as emitter:
            lineage = lineage_of_dbt_project(
                emitter,
                project_dir=Path(dbt.project_dir),
                profiles_dir=Path(dbt.profiles_dir) if dbt.profiles_dir else None,
                profile=dbt.profile,
                target=dbt.target,
                producer=settings.producer,
                job_namespace=settings.namespace,
                parent=JobRun(
                    settings.namespace,
                    f"{run.job_name}.{step_key}",
                    stable_run_id(run.run_id, step_key, *attempt),
                ),
                parent_type=("DAGSTER", "STEP"),
                root=JobRun(settings.namespace, run.job_name, run.run_id),
                attempt=context.retry_number,
                extra_facets=settings.facet_function(),
                count_view_rows=settings.count_view_rows,
                view_count_timeout=settings.view_count_timeout,
                column_lineage_cache=self._column_lineage_cache(),
            )
            lineage.start()
            failure, aborted = None, False
            try:
                yield lineage
            except INTERRUPTIONS:
                aborted = True
                raise
            except Exception as exc:
                failure = str(exc)
                raise
            finally:
                lineage.finish(failure=failure, aborted=aborted)


def _observed(
    invocation: DbtCliInvocation,
    lineage: InvocationLineage,
    context: dg.AssetExecutionContext,
    ticks: object,
) -> Iterator[Any]:
    """dbt's structured log events fed to ``lineage``, converted to Dagster events as
    ``DbtCliInvocation.stream`` converts them; with ``ticks``, ``STREAM_TICK`` after each
    (``with_lineage_metadata`` releases what waited for facts that line brought)."""
    for event in invocation.stream_raw_events():
        lineage.observe(event.raw_event)
        if ticks is not False:
            yield STREAM_TICK
        yield from event.to_default_asset_events(
            manifest=invocation.manifest,
            dagster_dbt_translator=invocation.dagster_dbt_translator,
            context=context,
            target_path=invocation.target_path,
            project=invocation.project,
        )
