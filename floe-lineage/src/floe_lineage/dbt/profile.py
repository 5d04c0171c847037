"""The dbt profile target a project runs against, read from ``profiles.yml`` as dbt reads it.

Values stay as written until asked for: ``ProfileTarget.value`` renders one (dbt's
``env_var``), so a password is rendered only by the code that needs it, and a copy of a target
(``write_profiles``) keeps its ``env_var`` references instead of the secrets.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml


class ProfileError(ValueError):
    """The dbt profile cannot be read or does not name a usable target."""


@dataclass(frozen=True)
class ProfileTarget:
    """The active output of a dbt profile."""

    profiles_file: Path
    profile_name: str
    target_name: str
    output: Mapping[str, Any]
    """The output mapping exactly as ``profiles.yml`` has it (values not rendered)."""
    project_dir: Path
    """The dbt project folder: dbt runs there, so relative paths are relative to it."""

    @property
    def adapter_type(self) -> str:
        return str(self.value("type", "unknown"))

    def value(self, key: str, default: Any = None) -> Any:
        """One value of the output, rendered as dbt renders it (``env_var``)."""
        return _render(self.output.get(key, default))


def read_target(
    project_dir: Path,
    profiles_dir: Path | None = None,
    profile: str | None = None,
    target: str | None = None,
) -> ProfileTarget:
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
    if not isinstance(chosen, dict):
        raise ProfileError(f"{profiles_file}: profile {profile_name!r} is not a mapping")
    target_name = target or os.environ.get("DBT_TARGET") or _render(chosen.get("target", "default"))
    outputs = chosen.get("outputs") or {}
    if not isinstance(outputs.get(target_name), dict):
        raise ProfileError(
            f"{profiles_file}: profile {profile_name!r} has no target {target_name!r}"
        )
    return ProfileTarget(
        profiles_file=profiles_file,
        profile_name=str(profile_name),
        target_name=str(target_name),
        output=outputs[target_name],
        project_dir=project_dir,
    )


def write_profiles(
    folder: Path, targets: Iterable[tuple[ProfileTarget, Mapping[str, Any]]]
) -> Path:
    """A ``profiles.yml`` in ``folder`` holding only the given targets, each as its profile's
    default target, with the values of its mapping replaced (the others as written, ``env_var``
    references included, so no secret is written out). Returns the file."""
    profiles: dict[str, Any] = {}
    for target, replace in targets:
        if target.profile_name in profiles:
            raise ProfileError(f"profile {target.profile_name!r} given twice")
        profiles[target.profile_name] = {
            "target": target.target_name,
            "outputs": {target.target_name: {**target.output, **replace}},
        }
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "profiles.yml"
    path.write_text(yaml.safe_dump(profiles, sort_keys=False), encoding="utf-8")
    return path


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
