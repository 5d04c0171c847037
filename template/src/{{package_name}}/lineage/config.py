"""Finding and reading ``openlineage.yml``, with errors that name the file and the problem.

Lookup order, as the OpenLineage client documents it: ``$OPENLINEAGE_CONFIG``,
``./openlineage.yml``, then (this project's addition) the project's own ``openlineage.yml``, then
``~/.openlineage/openlineage.yml``. Values may reference environment variables as ``${NAME}``
(secrets such as API keys belong there, never in the file). A relative file-transport path is
resolved against the folder of the config file, whatever the working directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml


class LineageConfigError(ValueError):
    """``openlineage.yml`` cannot be used; the message names the file and the problem."""


def lineage_disabled() -> bool:
    """``OPENLINEAGE_DISABLED=true`` turns lineage off, as the OpenLineage client documents."""
    return os.environ.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true"


def find_config(project_root: Path | None) -> Path | None:
    """The config file to use, or None to let the client fall back to its env vars."""
    explicit = os.environ.get("OPENLINEAGE_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise LineageConfigError(f"OPENLINEAGE_CONFIG={explicit}: no such file")
        return path
    candidates = [Path.cwd() / "openlineage.yml"]
    if project_root is not None:
        candidates.append(project_root / "openlineage.yml")
    candidates.append(Path.home() / ".openlineage" / "openlineage.yml")
    return next((c for c in candidates if c.is_file()), None)


def load_config(path: Path) -> dict[str, Any]:
    """The client configuration in ``path``, environment references expanded and a file
    transport's folder created."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LineageConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise LineageConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("transport"), dict):
        raise LineageConfigError(f"{path}: expected a mapping with a 'transport' mapping")
    config = _expand(loaded, path)
    _prepare_file_transports(config["transport"], path)
    return config


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, path: Path) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item, path) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, path) for item in value]
    if isinstance(value, str):
        return _ENV_REFERENCE.sub(lambda m: _env(m.group(1), path), value)
    return value


def _env(name: str, path: Path) -> str:
    if name not in os.environ:
        raise LineageConfigError(f"{path}: refers to ${{{name}}}, which is not set")
    return os.environ[name]


def _prepare_file_transports(transport: dict[str, Any], path: Path) -> None:
    """Resolve and create the folder of every file transport (composite ones included)."""
    nested = transport.get("transports")
    if isinstance(nested, dict):
        nested = list(nested.values())
    for child in nested or []:
        if isinstance(child, dict):
            _prepare_file_transports(child, path)
    if transport.get("type") != "file" or "://" in str(transport.get("log_file_path", "")):
        return
    if not transport.get("log_file_path"):
        raise LineageConfigError(f"{path}: the file transport needs 'log_file_path'")
    log_file = Path(transport["log_file_path"]).expanduser()
    if not log_file.is_absolute():
        log_file = path.parent / log_file
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LineageConfigError(
            f"{path}: cannot create the folder of log_file_path {log_file}: {exc.strerror or exc}"
        ) from exc
    transport["log_file_path"] = str(log_file)
