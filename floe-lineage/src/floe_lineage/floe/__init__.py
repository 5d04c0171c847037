"""floe's own files, kept in step with the dbt project they describe."""

from .spec import FloeSpecError, in_step, render

__all__ = ["FloeSpecError", "in_step", "render"]
