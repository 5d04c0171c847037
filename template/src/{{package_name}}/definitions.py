import os
from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """Everything under defs/, run by the executor FLOE_EXECUTOR names (README: Several steps,
    other executors)."""
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=executor(os.environ.get("FLOE_EXECUTOR") or "in_process")),
    )


def executor(name: str) -> dg.ExecutorDefinition:
    """in_process (default): every step in the run's own process, the dbt project being one step
    (one `dbt build`). multiprocess: each step in a process of its own, several at once.
    celery: each step in a Celery worker (the `celery` extra), as the run config's `execution`
    and the workers' `-y` file say."""
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "celery":
        try:
            from dagster_celery import celery_executor
        except ImportError as missing:
            raise ImportError('FLOE_EXECUTOR=celery needs pip install -e ".[celery]"') from missing
        return celery_executor
    raise ValueError(f"FLOE_EXECUTOR must be in_process, multiprocess or celery, not {name!r}")
