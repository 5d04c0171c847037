"""Every private Dagster and dagster-dbt name floe-lineage uses, in one place.

Each is pinned by ``tests/test_upstream.py``, which fails (never skips) when a Dagster or
dagster-dbt upgrade renames, removes or reshapes it; the code using it then degrades as its
docstring says, so a run never breaks on it, but the test suite says so first.

- ``DefinitionsLoadContext`` / ``DefinitionsLoadType`` (``dagster._core``): whether the
  definitions load for the first time in this process (``dg dev``) or are reconstructed for a run;
  not public in Dagster 1.13.
- ``using_dagster_dev`` (``dagster._utils.env``): whether ``dagster dev``/``dg dev`` runs us.
- ``DbtEventIterator`` (``dagster_dbt.core.dbt_event_iterator``): the iterator whose
  ``fetch_row_counts``/``fetch_column_metadata``/``with_insights`` ``include_metadata`` asks for;
  not exported by ``dagster_dbt``.
- ``DbtProjectArgsManager``/``NoopDbtProjectManager`` (``dagster_dbt.dbt_project_manager``): a
  local dbt project, used where it is.
- ``CLI_VERSION`` and ``ADAPTER_FACTORY`` (``DbtCliResource`` attributes): the ``dbt --version``
  answer the resource caches, and the method building a dbt adapter in the Dagster process
  (``dbt_resource``).
- ``OUTPUT_ASSET_KEYS`` (``StepExecutionContext`` method): answered once per step
  (``step_outputs``).
- ``DAGSTER_DBT_MANIFEST_METADATA_KEY`` (``dagster_dbt.asset_utils``): the metadata key under
  which dagster-dbt keeps an asset's manifest (the pytest plugin's capture).
- ``pg_config`` (``dagster._core.storage.config``): dagster-postgres's ``postgres_db`` /
  ``postgres_url`` settings schema, which ``PooledPostgresStorage`` extends.
- ``STORAGE_ENGINE`` (``_engine`` of dagster-postgres's run, event log and schedule storages):
  the SQLAlchemy engine ``PooledPostgresStorage`` replaces with a pooled one.
- ``RUN_TARGET_FOLDER``: how dagster-dbt names a run's target folder
  (``DbtCliResource._get_unique_target_path``), which ``dbt.manifest.run_manifest`` globs.
"""

from __future__ import annotations

from dagster._core.definitions.definitions_load_context import (
    DefinitionsLoadContext,
    DefinitionsLoadType,
)
from dagster._core.storage.config import pg_config
from dagster._utils.env import using_dagster_dev
from dagster_dbt.asset_utils import DAGSTER_DBT_MANIFEST_METADATA_KEY
from dagster_dbt.core.dbt_event_iterator import DbtEventIterator
from dagster_dbt.dbt_project_manager import DbtProjectArgsManager, NoopDbtProjectManager

CLI_VERSION = "_cli_version"
ADAPTER_FACTORY = "_initialize_dbt_core_adapter"
OUTPUT_ASSET_KEYS = "get_output_asset_keys"
STORAGE_ENGINE = "_engine"
RUN_TARGET_FOLDER = "{op}-{run_id_7}-{unique}"
"""dagster-dbt's run target folder under ``target/``: op name, first 7 characters of the run
id, a random part."""
LOCAL_PROJECT_MANAGERS = (DbtProjectArgsManager, NoopDbtProjectManager)


def first_load() -> bool:
    """Whether the definitions load for the first time in this process (not a run's process
    reconstructing them)."""
    return DefinitionsLoadContext.get().load_type == DefinitionsLoadType.INITIALIZATION


def in_dagster_dev() -> bool:
    """Whether ``dagster dev``/``dg dev`` runs this process."""
    return using_dagster_dev()


__all__ = [
    "ADAPTER_FACTORY",
    "CLI_VERSION",
    "DAGSTER_DBT_MANIFEST_METADATA_KEY",
    "LOCAL_PROJECT_MANAGERS",
    "OUTPUT_ASSET_KEYS",
    "RUN_TARGET_FOLDER",
    "STORAGE_ENGINE",
    "DbtEventIterator",
    "first_load",
    "in_dagster_dev",
    "pg_config",
]
