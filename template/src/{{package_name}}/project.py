"""The dbt project Dagster runs: the bundled ``dbt/`` folder unless ``$DBT_PROJECT_DIR`` names
another dbt-duckdb project (and ``$DBT_PROFILES_DIR`` its profiles folder).

Kept in its own module because ``@dbt_assets`` reads ``manifest.json`` at import: the manifest
is prepared here (``dbt parse``) when it is missing, and on every load under ``dg dev``.
"""

import os
from pathlib import Path

from dagster_dbt import DbtProject

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = Path(os.environ.get("DBT_PROJECT_DIR") or PROJECT_ROOT / "dbt").resolve()
DBT_PROFILES_DIR = (
    Path(os.environ["DBT_PROFILES_DIR"]).resolve() if os.environ.get("DBT_PROFILES_DIR") else None
)

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROFILES_DIR)
if dbt_project.manifest_path.exists():
    dbt_project.prepare_if_dev()
else:
    dbt_project.preparer.prepare(dbt_project)
