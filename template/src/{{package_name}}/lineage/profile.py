"""Where the dbt profile puts the warehouse: read from ``profiles.yml`` as dbt renders it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml


class ProfileError(ValueError):
    """The dbt profile cannot be read or does not name a usable target."""


@dataclass(frozen=True)
class WarehouseTarget:
    adapter_type: str
    path: str | None
    """DuckDB: the ``path`` exactly as the profile states it (after ``env_var`` rendering)."""
    file: Path | None
    """DuckDB: the database file on disk (``path`` resolved against the dbt project folder);
    None for in-memory and remote (``md:``) databases."""


def read_target(
    project_dir: Path,
    profiles_dir: Path | None = None,
    profile: str | None = None,
    target: str | None = None,
) -> WarehouseTarget:
    """The active target of the project's dbt profile.

    As dbt does: ``profiles.yml`` from ``profiles_dir``, ``$DBT_PROFILES_DIR``, the project folder,
    then ``~/.dbt``; the profile is ``profile``, ``$DBT_PROFILE``, then ``dbt_project.yml``'s; the
    target is ``target``, ``$DBT_TARGET``, then the profile's default.
    """
    project = _load_yaml(project_dir / "dbt_project.yml")
    profile_name = profile or os.environ.get("DBT_PROFILE") or _render(project.get("profile"))
    profiles_file = _profiles_file(project_dir, profiles_dir)
    profiles = _load_yaml(profiles_file)
    if profile_name not in profiles:
        raise ProfileError(f"{profiles_file}: no profile named {profile_name!r}")
    chosen = profiles[profile_name]
    target_name = target or os.environ.get("DBT_TARGET") or _render(chosen.get("target", "default"))
    outputs = chosen.get("outputs", {})
    if target_name not in outputs:
        raise ProfileError(
            f"{profiles_file}: profile {profile_name!r} has no target {target_name!r}"
        )
    output = outputs[target_name]
    adapter_type = _render(output.get("type", "unknown"))
    if adapter_type != "duckdb":
        return WarehouseTarget(adapter_type=adapter_type, path=None, file=None)
    path = str(_render(output.get("path", ":memory:")))
    on_disk = path != ":memory:" and not path.startswith("md:") and "://" not in path
    return WarehouseTarget(
        adapter_type=adapter_type,
        path=path,
        file=(project_dir / Path(path).expanduser()).resolve() if on_disk else None,
    )


def _profiles_file(project_dir: Path, profiles_dir: Path | None) -> Path:
    candidates = [
        profiles_dir,
        Path(os.environ["DBT_PROFILES_DIR"]) if os.environ.get("DBT_PROFILES_DIR") else None,
        project_dir,
        Path.home() / ".dbt",
    ]
    for folder in filter(None, candidates):
        if (folder / "profiles.yml").is_file():
            return folder / "profiles.yml"
    raise ProfileError(f"no profiles.yml found for the dbt project in {project_dir}")


def _load_yaml(path: Path) -> dict[str, Any]:
    """Load YAML first and render values afterwards, in dbt's order."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise ProfileError(f"{path}: expected a mapping at the top level")
    return loaded


def _render(value: Any) -> Any:
    """Render a profile value that uses dbt's ``env_var`` Jinja function."""
    if not isinstance(value, str) or "{" not in value:
        return value
    try:
        return _JINJA.from_string(value).render()
    except jinja2.TemplateError as exc:
        raise ProfileError(f"cannot render {value!r}: {exc}") from exc


def _env_var(name: str, default: str | None = None) -> str:
    if name in os.environ:
        return os.environ[name]
    if default is None:
        raise ProfileError(f"env_var({name!r}) is not set and has no default")
    return default


_JINJA = jinja2.Environment()
_JINJA.globals["env_var"] = _env_var
_JINJA.filters.update({name: str for name in ("as_bool", "as_number", "as_text", "as_native")})
