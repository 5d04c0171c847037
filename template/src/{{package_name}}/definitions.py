from pathlib import Path

import dagster as dg


@dg.definitions
def defs() -> dg.Definitions:
    """Everything under defs/, run by the in-process executor: the dbt project is one step (one
    `dbt build`), and a step process of the multiprocess executor would import Dagster and load
    these definitions once more per run. Remove the executor to run several steps in parallel."""
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=dg.in_process_executor),
    )
