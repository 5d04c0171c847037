"""``copier update`` works on a generated project: the recorded answers are reused, template
changes arrive, the user's own changes stay.

Copier records the template commit in ``.copier-answers.yml``. Uncommitted template changes
are rendered from a throw-away commit that exists nowhere else, so this test first snapshots
the working tree (committed and uncommitted files alike) into a repository of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import copier
import pytest
from conftest import ANSWERS_FILE, ROOT, VARIANTS, answers, expected_answers, render

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "floe tests",
    "GIT_AUTHOR_EMAIL": "tests@floe.invalid",
    "GIT_COMMITTER_NAME": "floe tests",
    "GIT_COMMITTER_EMAIL": "tests@floe.invalid",
}


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_IDENTITY},
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--no-verify", "-m", message)


def snapshot_template(target: Path) -> Path:
    """This repository's working tree as one commit of a new repository."""
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    for relative in filter(None, listed.split("\0")):
        source = ROOT / relative
        if source.is_file():
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / relative)
    git(target, "init", "-q")
    commit_all(target, "template snapshot")
    return target


@pytest.mark.parametrize("name", ["defaults", "http"])
def test_update_keeps_answers_and_user_changes_and_brings_template_changes(
    name: str, tmp_path: Path
) -> None:
    template = snapshot_template(tmp_path / "template-repo")
    project = render(tmp_path / "project", VARIANTS[name], src=template)
    first = answers(project)
    assert first["_commit"] == git(template, "describe", "--tags", "--always").strip()

    # The user's project lives in git (copier update requires a clean repository) ...
    git(project, "init", "-q")
    commit_all(project, "generated")
    own_model = project / "dbt" / "models" / "marts" / "my_model.sql"
    own_model.write_text("select 1 as id\n")
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nOur own notes.\n")
    commit_all(project, "own changes")

    # ... and the template moves on.
    (template / "template" / "CHANGELOG.md.jinja").write_text("# {{ project_name }} changes\n")
    commit_all(template, "template change")

    copier.run_update(project, defaults=True, overwrite=True, unsafe=False, quiet=True)

    updated = answers(project)
    assert {k: v for k, v in updated.items() if not k.startswith("_")} == expected_answers(name)
    assert updated["_commit"] == git(template, "describe", "--tags", "--always").strip()
    assert updated["_commit"] != first["_commit"]
    assert (project / "CHANGELOG.md").read_text() == (
        f"# {VARIANTS[name]['project_name']} changes\n"
    )
    assert own_model.read_text() == "select 1 as id\n"
    assert readme.read_text().endswith("\nOur own notes.\n")
    assert (project / ANSWERS_FILE).read_text().startswith("# Changes here will be overwritten")


def test_update_follows_the_template_where_the_user_did_not_edit_and_reports_conflicts(
    tmp_path: Path,
) -> None:
    template = snapshot_template(tmp_path / "template-repo")
    project = render(tmp_path / "project", VARIANTS["defaults"], src=template)
    git(project, "init", "-q")
    commit_all(project, "generated")

    # The user and the template change the same line of one model; the template also
    # changes another model the user never touched.
    contested = project / "dbt" / "models" / "staging" / "stg_orders.sql"
    contested.write_text(
        contested.read_text().replace("        status\n", "        status as state\n")
    )
    commit_all(project, "own change")
    head = git(project, "rev-parse", "HEAD")
    source = template / "template" / "dbt" / "models"
    staging = source / "staging" / "stg_orders.sql"
    staging.write_text(
        staging.read_text().replace("        status\n", "        lower(status) as status\n")
    )
    marts = source / "marts" / "orders.sql"
    marts.write_text("-- One row per order.\n" + marts.read_text())
    commit_all(template, "template changes")

    copier.run_update(
        project,
        defaults=True,
        overwrite=True,
        unsafe=False,
        quiet=True,
        conflict="inline",
    )

    # untouched files follow the template
    assert (project / "dbt" / "models" / "marts" / "orders.sql").read_text() == marts.read_text()
    # the conflict is in the working tree, marked, and nothing was committed
    text = contested.read_text()
    assert "<<<<<<<" in text and ">>>>>>>" in text
    assert "status as state" in text and "lower(status) as status" in text
    assert git(project, "rev-parse", "HEAD") == head
    assert "dbt/models/staging/stg_orders.sql" in git(project, "status", "--porcelain")
    # and git refuses it as a commit-ready change: a non-zero exit a user or CI can check
    check = subprocess.run(["git", "diff", "--check"], cwd=project, capture_output=True, text=True)
    assert check.returncode != 0 and "conflict marker" in check.stdout


def test_update_across_a_floe_lineage_change_moves_only_the_pin(tmp_path: Path) -> None:
    """A new floe release changes the library, not the project: ``copier update`` changes the
    floe-lineage requirement's commit (and the recorded answers), nothing the user wrote."""
    template = snapshot_template(tmp_path / "template-repo")
    project = render(tmp_path / "project", VARIANTS["defaults"], src=template)
    git(project, "init", "-q")
    commit_all(project, "generated")
    own_model = project / "dbt" / "models" / "marts" / "my_model.sql"
    own_model.write_text("select 1 as id\n")
    own_test = project / "tests" / "test_my_lineage.py"
    own_test.write_text("def test_mine(lineage):\n    lineage.assert_complete()\n")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.mypy]\nstrict = true\n")
    commit_all(project, "own changes")
    before = git(template, "rev-parse", "HEAD").strip()

    module = template / "floe-lineage" / "src" / "floe_lineage" / "tools" / "summary.py"
    module.write_text(module.read_text() + "\n# a library change\n")
    commit_all(template, "floe-lineage change")
    after = git(template, "rev-parse", "HEAD").strip()

    copier.run_update(project, defaults=True, overwrite=True, unsafe=False, quiet=True)

    changed = git(project, "diff", "--name-only", "HEAD").split()
    assert sorted(changed) == [ANSWERS_FILE, "pyproject.toml"]
    diff = git(project, "diff", "-U0", "HEAD", "--", "pyproject.toml").splitlines()
    removed = [line for line in diff if line.startswith("-") and not line.startswith("---")]
    added = [line for line in diff if line.startswith("+") and not line.startswith("+++")]
    assert len(removed) == len(added) == 1
    assert f"@{before}#subdirectory=floe-lineage" in removed[0]
    assert f"@{after}#subdirectory=floe-lineage" in added[0]
    assert removed[0].replace(before, after)[1:] == added[0][1:]
    assert pyproject.read_text().endswith("\n[tool.mypy]\nstrict = true\n")
    assert own_model.read_text() == "select 1 as id\n"
    assert own_test.is_file()
    assert "<<<<<<<" not in pyproject.read_text()
