"""The asset keys of a dbt step's outputs, computed once per step instead of once per output.

For every ``Output`` a step yields, Dagster checks that no asset downstream of it was yielded
before it (``_step_output_error_checked_user_event_sequence`` in
``dagster/_core/execution/plan/execute_step.py``), asking the step context for the asset keys of
all its outputs (``StepExecutionContext.get_output_asset_keys``). That method loops over every
step output and, for each, builds anew the set of every key of the assets definition
(``AssetsDefinition.asset_and_check_keys`` is a property): the work per output grows with the
square of the dbt project's size, the work per run with its cube. At 2,000 models that is about
0.2 s per model, most of a run's time (``bench/README.md``).

The answer cannot change while the step runs: the step's outputs and the selected keys are fixed
when the run's plan is made. So it is computed once, and the step context answers with it.
"""

from __future__ import annotations

from typing import Any

from .upstream import OUTPUT_ASSET_KEYS


def answer_output_asset_keys_once(step_context: Any) -> bool:
    """Make ``step_context.get_output_asset_keys()`` return the set it returns now, from now on,
    for this step context only (Dagster's method is left as it is for every other step).

    Returns False, changing nothing, when the context has no such method (a Dagster version that
    no longer has it)."""
    compute = getattr(step_context, OUTPUT_ASSET_KEYS, None)
    if not callable(compute):
        return False
    keys = frozenset(compute())
    setattr(step_context, OUTPUT_ASSET_KEYS, lambda: keys)
    return True
