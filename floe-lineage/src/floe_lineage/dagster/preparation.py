"""A local dbt project's ``manifest.json`` prepared again only when something it depends on
changed.

``dg launch`` and ``dg dev`` load the definitions as a dev CLI, and dagster-dbt then prepares
the project on every load (``dbt deps`` when declared, ``dbt parse``): 9 s of every launch of
the sample project on 2 cores, whether anything changed or not. Here the preparation is
skipped when a fingerprint of its inputs equals the one recorded beside the manifest after the
last preparation. The inputs: every file under the dbt project (names, sizes, modification
times; the target and log folders, hidden folders and database files excluded), the profiles
file, the profile and target chosen, the values of the ``DBT_*`` variables and of every
variable the project reads with ``env_var()``, dbt-core's version and the manifest itself (a
``dbt`` command run by hand rewrites it). Only a digest is recorded, never a value.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from dagster_dbt import DbtProject

from .dbt_resource import installed_dbt_version

FINGERPRINT_FILE = "floe-prepared.json"
"""Written beside ``manifest.json`` after a preparation."""
SKIPPED_FOLDERS = frozenset({"logs", "__pycache__", "node_modules"})
SKIPPED_SUFFIXES = (".duckdb", ".duckdb.wal", ".db", ".log", ".pyc")
READ_SUFFIXES = (".sql", ".yml", ".yaml", ".py", ".jinja", ".md")
"""Files searched for ``env_var()`` calls."""
ENV_VAR_CALL = re.compile(r"""env_var\(\s*['"]([^'"]+)['"]""")


def prepare_when_changed(project: DbtProject) -> bool:
    """Prepare ``project`` with its own preparer unless its manifest exists and was prepared
    from exactly the inputs it has now; record the fingerprint after preparing. Returns
    whether it prepared."""
    recorded = project.manifest_path.with_name(FINGERPRINT_FILE)
    if project.manifest_path.exists() and recorded.exists():
        try:
            if json.loads(recorded.read_text(encoding="utf-8")) == fingerprint(project):
                return False
        except (OSError, ValueError):
            pass  # unreadable: prepare again
    prepare(project)
    return True


def prepare(project: DbtProject) -> None:
    """Prepare ``project`` with its own preparer and record the fingerprint of its inputs."""
    project.preparer.prepare(project)
    recorded = project.manifest_path.with_name(FINGERPRINT_FILE)
    recorded.write_text(json.dumps(fingerprint(project)), encoding="utf-8")


def fingerprint(project: DbtProject) -> dict[str, str]:
    """What a preparation of ``project`` depends on, as digests."""
    project_dir = Path(project.project_dir)
    target = (project_dir / project.target_path).resolve()
    files, variables = hashlib.sha256(), set()
    for folder, subfolders, names in os.walk(project_dir):
        here = Path(folder)
        subfolders[:] = sorted(
            name
            for name in subfolders
            if not name.startswith(".")
            and name not in SKIPPED_FOLDERS
            and (here / name).resolve() != target
        )
        for name in sorted(names):
            if name.endswith(SKIPPED_SUFFIXES):
                continue
            path = here / name
            variables |= _env_vars_read(path)
            files.update(_stat_line(path, project_dir))
    profiles = _profiles_file(project)
    if profiles is not None:
        variables |= _env_vars_read(profiles)
    environment = hashlib.sha256()
    for name in sorted(variables | {n for n in os.environ if n.startswith("DBT_")}):
        environment.update(f"{name}\0{os.environ.get(name, '')}\0".encode())
    return {
        "files": files.hexdigest(),
        "profiles": _stat_line(profiles, None).decode() if profiles else "",
        "profile": project.profile or "",
        "target": project.target or "",
        "environment": environment.hexdigest(),
        "dbt": installed_dbt_version() or "",
        "manifest": _stat_line(project.manifest_path, None).decode(),
    }


def _profiles_file(project: DbtProject) -> Path | None:
    """The ``profiles.yml`` dbt reads for ``project``, as dbt looks it up."""
    folders = [project.profiles_dir] if project.profiles_dir else []
    if os.environ.get("DBT_PROFILES_DIR"):
        folders.append(Path(os.environ["DBT_PROFILES_DIR"]))
    folders += [Path(project.project_dir), Path.home() / ".dbt"]
    for folder in folders:
        if (Path(folder) / "profiles.yml").is_file():
            return Path(folder) / "profiles.yml"
    return None


def _stat_line(path: Path, relative_to: Path | None) -> bytes:
    try:
        stat = path.stat()
        state = f"{stat.st_size} {stat.st_mtime_ns}"
    except OSError:
        state = "missing"
    name = path.relative_to(relative_to) if relative_to else path
    return f"{name}\0{state}\n".encode()


def _env_vars_read(path: Path) -> set[str]:
    if not path.name.endswith(READ_SUFFIXES):
        return set()
    try:
        return set(ENV_VAR_CALL.findall(path.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return set()
