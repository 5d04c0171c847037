"""floe-lineage's pytest plugin: the ``lineage``, ``lineage_snapshot`` and ``floe_spec``
fixtures and the ``dbt_project`` marker (see ``floe_lineage.testing``).

Loaded by pytest wherever floe-lineage is installed; it imports Dagster and syrupy only when a
test asks for one of its fixtures.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .floe_spec_file import FloeSpecFile
    from .lineage import Lineage

PROJECT_INI = "floe_lineage_project"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        PROJECT_INI,
        "folder of the Dagster project the `lineage` fixture runs (default: pytest's rootdir)",
        default="",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dbt_project(name): the test is written for the dbt project `name` (dbt_project.yml's"
        " name); it is skipped when the lineage under test is of another dbt project",
    )


@pytest.fixture(scope="session")
def lineage(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Lineage:
    """The lineage of one run of the project's dbt assets through Dagster, in isolation (a
    database and an events file of its own); fails with dbt's errors if a node failed."""
    from .capture import CaptureError, capture_lineage

    try:
        return capture_lineage(_project_root(request), tmp_path_factory.mktemp("floe-lineage"))
    except CaptureError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def lineage_snapshot(snapshot: Any) -> Any:
    """syrupy's ``snapshot``, keeping lineage snapshots as text files:
    ``assert lineage.snapshot() == lineage_snapshot``."""
    from .syrupy_extension import LineageSnapshotExtension

    return snapshot.use_extension(LineageSnapshotExtension)


@pytest.fixture
def floe_spec(request: pytest.FixtureRequest, lineage: Lineage) -> FloeSpecFile:
    """The project's ``floe.yaml`` and the dbt models of the run under test:
    ``floe_spec.assert_in_step()``; ``pytest --snapshot-update`` rewrites its transforms."""
    from .floe_spec_file import FLOE_SPEC, FloeSpecFile

    update = bool(getattr(request.config.option, "update_snapshots", False))
    return FloeSpecFile(_project_root(request) / FLOE_SPEC, lineage.graph, update=update)


def _project_root(request: pytest.FixtureRequest) -> Path:
    configured = request.config.getini(PROJECT_INI)
    root = (request.config.rootpath / configured) if configured else request.config.rootpath
    return Path(root).resolve()


@pytest.fixture(autouse=True)
def _skip_tests_of_another_dbt_project(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("dbt_project")
    if marker is None:
        return
    wanted = marker.args[0] if marker.args else marker.kwargs.get("name")
    under_test = request.getfixturevalue("lineage").dbt_projects
    if wanted not in under_test:
        pytest.skip(f"written for dbt project {wanted!r}; the lineage is of {sorted(under_test)}")
