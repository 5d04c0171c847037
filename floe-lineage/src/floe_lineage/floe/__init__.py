"""floe's own files, kept in step with the dbt project they describe."""

from .schedule import Schedule, dbt_project_name, schedule_of
from .spec import FloeSpecError, in_step, render

__all__ = ["FloeSpecError", "Schedule", "dbt_project_name", "in_step", "render", "schedule_of"]
