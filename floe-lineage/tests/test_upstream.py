"""Every private Dagster and dagster-dbt name floe-lineage uses (``dagster/upstream.py``) still
exists and means what floe-lineage relies on. These fail, loudly, on the upgrade that changes
one: the code using it degrades quietly at run time, so this is where it must be noticed."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from dagster._core.execution.context.system import StepExecutionContext
from dagster_dbt import DbtCliResource, DbtProject

from floe_lineage.dagster import upstream
from floe_lineage.dbt.manifest import run_manifest

SOURCE = Path(upstream.__file__).parents[1]


def test_no_private_dagster_name_is_used_outside_the_adapter_module():
    pattern = re.compile(r"^\s*(from|import) (dagster\._|dagster_dbt\.(?!components))", re.M)
    users = [
        str(path.relative_to(SOURCE))
        for path in SOURCE.rglob("*.py")
        if path.name != "upstream.py" and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert users == []


def test_the_load_context_tells_a_first_load(monkeypatch):
    assert upstream.DefinitionsLoadType.INITIALIZATION.name == "INITIALIZATION"
    assert callable(upstream.DefinitionsLoadContext.get)
    assert upstream.first_load() in (True, False)


def test_dagster_dev_is_told_by_its_environment_variable(monkeypatch):
    monkeypatch.delenv("DAGSTER_IS_DEV_CLI", raising=False)
    assert upstream.in_dagster_dev() is False
    monkeypatch.setenv("DAGSTER_IS_DEV_CLI", "1")
    assert upstream.in_dagster_dev() is True


def test_the_event_iterator_has_the_include_metadata_steps():
    for step in ("fetch_row_counts", "fetch_column_metadata", "with_insights"):
        assert callable(getattr(upstream.DbtEventIterator, step)), step


def test_a_local_dbt_project_has_one_of_the_local_managers(tmp_path: Path):
    from dagster_dbt import DbtProjectComponent

    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    component = DbtProjectComponent(project=DbtProject(project_dir=tmp_path))
    assert isinstance(component._project_manager, upstream.LOCAL_PROJECT_MANAGERS)


def test_the_resource_caches_the_dbt_version_and_builds_its_adapter_by_these_names(
    tmp_path: Path,
):
    (tmp_path / "dbt_project.yml").write_text("name: p\nprofile: p\n")
    cached = inspect.getattr_static(DbtCliResource, upstream.CLI_VERSION)
    assert hasattr(cached, "__get__") and not hasattr(cached, "__set__")  # a cached property
    assert callable(getattr(DbtCliResource, upstream.ADAPTER_FACTORY))
    source = inspect.getsource(DbtCliResource.cli)
    assert f"self.{upstream.ADAPTER_FACTORY}(" in source
    assert f"self.{upstream.CLI_VERSION}" in source


def test_the_step_context_answers_its_output_asset_keys_by_this_method():
    method = getattr(StepExecutionContext, upstream.OUTPUT_ASSET_KEYS)
    assert list(inspect.signature(method).parameters) == ["self"]
    checked = inspect.getsource(
        __import__(
            "dagster._core.execution.plan.execute_step", fromlist=["x"]
        )._step_output_error_checked_user_event_sequence
    )
    assert f".{upstream.OUTPUT_ASSET_KEYS}()" in checked


def test_run_target_folders_are_named_as_run_manifest_finds_them(tmp_path: Path):
    source = inspect.getsource(DbtCliResource._get_unique_target_path)
    assert "{context.op_execution_context.op.name}-{context.run.run_id[:7]}-{unique_id}" in source
    run_id = "0123456789abcdef"
    folder = upstream.RUN_TARGET_FOLDER.format(op="floe", run_id_7=run_id[:7], unique="abc1234")
    manifest = tmp_path / "target" / folder / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    assert run_manifest(tmp_path, run_id) == manifest


def test_the_manifest_metadata_key_is_dagster_dbts():
    assert upstream.DAGSTER_DBT_MANIFEST_METADATA_KEY == "dagster_dbt/manifest"


def test_dagster_postgres_keeps_each_storages_engine_where_the_pooled_storage_replaces_it():
    from dagster_postgres.event_log import PostgresEventLogStorage
    from dagster_postgres.run_storage import PostgresRunStorage
    from dagster_postgres.schedule_storage import PostgresScheduleStorage

    for storage in (PostgresRunStorage, PostgresEventLogStorage, PostgresScheduleStorage):
        source = inspect.getsource(storage.__init__)
        assert f"self.{upstream.STORAGE_ENGINE} = create_pg_engine(" in source, storage


def test_the_postgres_settings_schema_has_the_fields_the_pooled_storage_extends():
    schema = upstream.pg_config()
    assert {"postgres_db", "postgres_url", "should_autocreate_tables"} <= set(schema)
    assert {"hostname", "username", "password", "db_name", "port"} <= set(
        schema["postgres_db"].config_type.fields
    )
