"""``FloeSchedule``: a floe data product's ``floe.yaml`` ``schedule`` as a Dagster schedule.

Configured in a project's ``defs.yaml``::

    type: floe_lineage.dagster.FloeSchedule
    attributes:
      spec: floe.yaml       # relative to the project root
      target: "kind:dbt"    # the assets it materializes (Dagster's asset selection syntax)

``floe.yaml`` is read whenever the definitions load, so the schedule is always the file's: its
``cron`` and ``timezone``; ``enabled: true`` makes it running by default (Dagster's daemon, e.g.
under ``dg dev``, then starts its runs), ``false`` stopped. Named after the dbt project name floe
derives from the product's name (``floe_lineage.floe.dbt_project_name``): the schedule
``<name>_schedule``, its job ``<name>_job``. A ``floe.yaml`` without ``schedule`` (or without its
``cron``) adds nothing.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from ..floe import FloeSpecError, schedule_of


class FloeSchedule(dg.Component, dg.Resolvable, dg.Model):
    """The ``schedule`` (``cron``, ``timezone``, ``enabled``) of a floe data product's
    ``floe.yaml`` as a Dagster schedule of the assets ``target`` selects (the dbt assets)."""

    spec: str = "floe.yaml"
    """The ``floe.yaml``: absolute, or relative to the project root."""
    target: str = "kind:dbt"
    """The assets the schedule materializes, in Dagster's asset selection syntax."""

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        path = Path(self.spec)
        if not path.is_absolute():
            path = Path(context.project_root) / path
        return floe_schedule_defs(path, self.target)


def floe_schedule_defs(path: Path, target: str = "kind:dbt") -> dg.Definitions:
    """The Dagster schedule and job of ``floe.yaml`` at ``path`` (none when it schedules
    nothing). Raises ``FloeSpecError`` naming the file when it cannot be read or its schedule
    is not one floe accepts."""
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(spec, dict):
            raise FloeSpecError("not a YAML mapping (a FloeSpec)")
        schedule = schedule_of(spec)
    except (OSError, yaml.YAMLError, FloeSpecError) as error:
        raise FloeSpecError(f"{path}: {error}") from None
    if schedule is None:
        return dg.Definitions()
    job = dg.define_asset_job(
        schedule.job_name,
        selection=dg.AssetSelection.from_string(target),
        description=f"The assets of the floe data product {schedule.product} ({target})",
    )
    try:
        definition = dg.ScheduleDefinition(
            name=schedule.name,
            cron_schedule=schedule.cron,
            execution_timezone=schedule.timezone,
            job=job,
            default_status=(
                dg.DefaultScheduleStatus.RUNNING
                if schedule.enabled
                else dg.DefaultScheduleStatus.STOPPED
            ),
            description=f"floe.yaml's schedule of {schedule.product}",
        )
    except dg.DagsterInvalidDefinitionError as error:
        raise FloeSpecError(f"{path}: schedule.cron {schedule.cron!r}: {error}") from None
    return dg.Definitions(jobs=[job], schedules=[definition])
