"""floe.yaml's ``schedule`` as a Dagster schedule (``FloeSchedule``), and the names floe derives
from a data product's name. No dbt runs here."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml

from floe_lineage.dagster import FloeSchedule
from floe_lineage.floe import FloeSpecError, Schedule, dbt_project_name, schedule_of

METADATA = {"name": "sales-data", "version": "1.0.0"}


@pytest.mark.parametrize(
    ("product", "name"),
    [
        ("sales-data", "sales_data"),  # the product
        ("customer-360", "customer_360"),  # floe's demo: dbt_project.yml name customer_360
        ("floe-demo", "floe_demo"),
        ("a.b c", "a_b_c"),
        ("-edge-", "edge"),
        ("--", "floe"),
    ],
)
def test_the_dbt_project_name_is_floes(product: str, name: str):
    assert dbt_project_name(product) == name


def test_a_schedule_with_floes_defaults():
    spec = {"metadata": METADATA, "schedule": {"cron": "0  6 * * *"}}
    assert schedule_of(spec) == Schedule("sales-data", "0 6 * * *", "UTC", True)
    assert (schedule_of(spec).name, schedule_of(spec).job_name) == (
        "sales_data_schedule",
        "sales_data_job",
    )


@pytest.mark.parametrize("schedule", [None, {}, {"cron": None}, {"cron": ""}])
def test_no_schedule_or_no_cron_schedules_nothing(schedule):
    spec = {"metadata": METADATA, **({"schedule": schedule} if schedule is not None else {})}
    assert schedule_of(spec) is None


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"cron": "0 6 * *"}, "cron expression of 5 fields"),
        ({"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, "IANA time zone"),
        ({"cron": "0 6 * * *", "enabled": "yes"}, "true or false"),
        ({"cron": "0 6 * * *", "every": "day"}, "keys floe does not know: every"),
        ("daily", "must be a mapping"),
    ],
)
def test_a_schedule_floe_would_refuse_is_an_error(schedule, message: str):
    with pytest.raises(FloeSpecError, match=message):
        schedule_of({"metadata": METADATA, "schedule": schedule})


@dg.asset(kinds={"dbt", "duckdb"})
def orders() -> None: ...


@dg.asset
def report() -> None: ...


def defs_of(tmp_path: Path, schedule: dict, **attributes: str) -> dg.Definitions:
    spec = tmp_path / "floe.yaml"
    spec.write_text(yaml.safe_dump({"metadata": METADATA, "schedule": schedule}))
    component = FloeSchedule(spec=str(spec), **attributes)
    return dg.Definitions.merge(
        dg.component_defs(component=component), dg.Definitions(assets=[orders, report])
    )


@pytest.mark.parametrize(
    ("enabled", "status"),
    [(True, dg.DefaultScheduleStatus.RUNNING), (False, dg.DefaultScheduleStatus.STOPPED)],
)
def test_the_dagster_schedule_is_floe_yamls_and_runs_the_dbt_assets(
    tmp_path: Path, enabled: bool, status: dg.DefaultScheduleStatus
):
    schedule = {"cron": "30 5 * * 1-5", "timezone": "Europe/Amsterdam", "enabled": enabled}
    defs = defs_of(tmp_path, schedule)
    found = defs.resolve_schedule_def("sales_data_schedule")
    assert (found.cron_schedule, found.execution_timezone) == ("30 5 * * 1-5", "Europe/Amsterdam")
    assert found.default_status == status
    job = defs.resolve_job_def("sales_data_job")
    assert found.job_name == job.name
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("orders")}


def test_the_target_is_an_asset_selection(tmp_path: Path):
    defs = defs_of(tmp_path, {"cron": "0 6 * * *"}, target="*")
    job = defs.resolve_job_def("sales_data_job")
    assert job.asset_layer.executable_asset_keys == {dg.AssetKey("orders"), dg.AssetKey("report")}


def test_a_spec_without_a_schedule_adds_nothing(tmp_path: Path):
    defs = defs_of(tmp_path, {})
    assert list(defs.schedules or []) == [] and list(defs.jobs or []) == []


def test_errors_name_the_file(tmp_path: Path):
    with pytest.raises(FloeSpecError, match=r"floe\.yaml: schedule\.cron '61 6 \* \* \*'"):
        defs_of(tmp_path, {"cron": "61 6 * * *"})
    with pytest.raises(FloeSpecError, match=r"missing\.yaml"):
        dg.component_defs(component=FloeSchedule(spec=str(tmp_path / "missing.yaml")))
