"""A data product's ``schedule`` in ``floe.yaml``, and the names floe gives the product in dbt
and Dagster.

floe's ``FloeSpec`` may carry ``schedule: {cron, timezone, enabled}`` (``timezone`` defaults to
``UTC``, ``enabled`` to true, a schedule without ``cron`` schedules nothing). floe's own Dagster
runtime does not turn it into a schedule yet; ``floe_lineage.dagster.FloeSchedule`` does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .spec import FloeSpecError

CRON_FIELDS = 5
"""A floe cron expression has five fields (minute, hour, day of month, month, day of week)."""


def dbt_project_name(product_name: str) -> str:
    """The dbt project and profile name floe derives from a data product's name (floe.yaml's
    ``metadata.name``): every character other than an ASCII letter, digit or ``_`` becomes
    ``_``, leading and trailing ``_`` go, ``floe`` when nothing is left. floe's runtime names
    its dbt assets' job after it, and dbt's unique ids are ``model.<it>.<model>``."""
    return re.sub(r"[^A-Za-z0-9_]", "_", product_name).strip("_") or "floe"


@dataclass(frozen=True)
class Schedule:
    """``floe.yaml``'s ``schedule`` of the data product ``product``."""

    product: str
    cron: str
    timezone: str = "UTC"
    enabled: bool = True

    @property
    def job_name(self) -> str:
        """``<dbt project name>_job``: floe's runtime names its job of the product's dbt assets
        ``<dbt project name>``, a name dagster-dbt gives the op of the dbt project here."""
        return f"{dbt_project_name(self.product)}_job"

    @property
    def name(self) -> str:
        return f"{dbt_project_name(self.product)}_schedule"


def schedule_of(spec: Mapping[str, Any]) -> Schedule | None:
    """The schedule of a parsed ``floe.yaml``; None when it has no ``schedule`` or its
    ``cron`` is empty. Raises ``FloeSpecError`` naming the value floe would not accept: a
    ``cron`` without five fields, a ``timezone`` that is no IANA time zone, an ``enabled`` that
    is no boolean."""
    found = spec.get("schedule")
    if found is None:
        return None
    if not isinstance(found, Mapping):
        raise FloeSpecError(f"schedule must be a mapping (cron, timezone, enabled), not {found!r}")
    unknown = sorted(set(found) - {"cron", "timezone", "enabled"})
    if unknown:
        raise FloeSpecError(f"schedule has keys floe does not know: {', '.join(unknown)}")
    cron = found.get("cron")
    if cron is None or cron == "":
        return None
    if not isinstance(cron, str) or len(cron.split()) != CRON_FIELDS:
        raise FloeSpecError(
            f"schedule.cron must be a cron expression of {CRON_FIELDS} fields, not {cron!r}"
        )
    timezone = found.get("timezone", "UTC")
    try:
        ZoneInfo(str(timezone))
    except (ZoneInfoNotFoundError, ValueError):
        raise FloeSpecError(
            f"schedule.timezone must be an IANA time zone such as UTC or Europe/Amsterdam,"
            f" not {timezone!r}"
        ) from None
    enabled = found.get("enabled", True)
    if not isinstance(enabled, bool):
        raise FloeSpecError(f"schedule.enabled must be true or false, not {enabled!r}")
    metadata = spec.get("metadata")
    product = metadata.get("name") if isinstance(metadata, Mapping) else None
    if not isinstance(product, str) or not product:
        raise FloeSpecError("a floe.yaml with a schedule needs metadata.name (the product)")
    return Schedule(
        product=product, cron=" ".join(cron.split()), timezone=timezone, enabled=enabled
    )
