"""The step's output asset keys answered once (step_outputs.py), with Dagster's ordering check
still in force."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.execution.context.system import StepExecutionContext

from floe_lineage.dagster.step_outputs import answer_output_asset_keys_once

SPECS = [dg.AssetSpec("a"), dg.AssetSpec("b", deps=["a"]), dg.AssetSpec("c", deps=["b"])]


@pytest.fixture
def dagster_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How often Dagster's own ``get_output_asset_keys`` ran."""
    calls: list[int] = []
    original = StepExecutionContext.get_output_asset_keys

    def counted(self):
        calls.append(1)
        return original(self)

    monkeypatch.setattr(StepExecutionContext, "get_output_asset_keys", counted)
    return calls


def multi_asset(
    order: list[str], answered: dict[str, object], calls: list[int] | None = None
) -> dg.AssetsDefinition:
    @dg.multi_asset(specs=SPECS)
    def three(context):
        step = context.get_step_execution_context()
        answered["applied"] = answer_output_asset_keys_once(step)
        answered["calls before the outputs"] = len(calls or [])
        for key in order:
            yield dg.MaterializeResult(asset_key=key)
        answered["keys"] = step.get_output_asset_keys()

    return three


def test_dagster_computes_the_keys_once_per_step(dagster_calls: list[int]):
    answered: dict[str, object] = {}
    result = dg.materialize([multi_asset(["a", "b", "c"], answered, dagster_calls)])
    assert result.success
    assert answered["applied"] is True
    assert answered["keys"] == {dg.AssetKey("a"), dg.AssetKey("b"), dg.AssetKey("c")}
    # three outputs checked by Dagster, and its own method not called again
    assert len(dagster_calls) == answered["calls before the outputs"]
    assert {m.asset_key for m in result.get_asset_materialization_events()} == {
        dg.AssetKey(k) for k in "abc"
    }


def test_outputs_out_of_order_are_still_refused():
    refused = '"c" was yielded before its dependency "b"'
    with pytest.raises(dg.DagsterInvariantViolationError, match=refused):
        dg.materialize([multi_asset(["a", "c", "b"], {})])


def test_without_the_method_nothing_changes():
    class Other:
        pass

    other = Other()
    assert answer_output_asset_keys_once(other) is False
    assert vars(other) == {}
