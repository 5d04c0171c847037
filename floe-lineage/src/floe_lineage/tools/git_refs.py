"""The lineage of a dbt project as of a git ref, before any run: the ref checked out in a
temporary git worktree, ``dbt compile`` into a temporary target against a database of its own
(``Warehouse.isolated``: the project's own warehouse is not touched), and the compiled manifest
read as ``graph.project`` reads it.

Contract of ``graph_at(ref, project_dir, scratch)``: ``project_dir`` is the dbt project folder in
the current checkout; the same relative folder is compiled at ``ref`` (None: the working tree as
it is). The profile is the one dbt would use for ``project_dir`` (``$DBT_PROFILES_DIR``, else a
``profiles.yml`` in the project, else ``~/.dbt``), copied with only its database replaced. A ref
git does not know, a project missing at that ref, or a failed compile raises ``ValueError``
with git's or dbt's last line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from ..dbt.profile import read_target, write_profiles
from ..graph.model import LineageGraph
from ..warehouse import warehouse_for
from .lineage_input import read_graph


def default_project_dir(cwd: Path) -> Path:
    """``$DBT_PROJECT_DIR``, else ``./dbt`` when it holds a dbt project, else ``.``."""
    if os.environ.get("DBT_PROJECT_DIR"):
        return Path(os.environ["DBT_PROJECT_DIR"])
    return cwd / "dbt" if (cwd / "dbt" / "dbt_project.yml").is_file() else cwd


def graph_at(ref: str | None, project_dir: Path, scratch: Path) -> LineageGraph:
    """The compiled lineage of ``project_dir`` at ``ref`` (see the module's contract)."""
    project_dir = project_dir.resolve()
    if ref is None:
        return _compiled(project_dir, project_dir, scratch)
    root = Path(_run(["git", "-C", str(project_dir), "rev-parse", "--show-toplevel"]).strip())
    tree = scratch / "tree"
    _run(["git", "-C", str(root), "worktree", "add", "--detach", "--quiet", str(tree), ref])
    try:
        checked_out = tree / project_dir.relative_to(root)
        if not (checked_out / "dbt_project.yml").is_file():
            raise ValueError(f"{ref}: no dbt project at {project_dir.relative_to(root)}")
        return _compiled(checked_out, project_dir, scratch)
    finally:
        _run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)])


def _compiled(project: Path, configured: Path, scratch: Path) -> LineageGraph:
    profiles = Path(os.environ.get("DBT_PROFILES_DIR") or "")
    if not os.environ.get("DBT_PROFILES_DIR"):
        profiles = configured if (configured / "profiles.yml").is_file() else Path.home() / ".dbt"
    target = read_target(project, profiles)
    (scratch / "db").mkdir(parents=True, exist_ok=True)
    with warehouse_for(target).isolated(scratch / "db") as isolation:
        write_profiles(scratch / "profiles", [(target, dict(isolation.output))])
        target_path = scratch / "target"
        dbt = Path(sys.executable).parent / "dbt"
        _run(
            [
                str(dbt if dbt.is_file() else "dbt"),
                "compile",
                "--quiet",
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(scratch / "profiles"),
                "--target-path",
                str(target_path),
            ],
            cwd=project,
        )
        return read_graph(target_path / "manifest.json")


def _run(command: list[str], cwd: Path | None = None) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip() or "failed").splitlines()[-1]
        words = [Path(command[0]).name, *(w for w in command[1:4] if not w.startswith(("-", "/")))]
        raise ValueError(f"{' '.join(words)}: {said}")
    return done.stdout
