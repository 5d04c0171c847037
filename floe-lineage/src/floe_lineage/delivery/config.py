"""Finding and reading ``openlineage.yml``, with errors that name the file and the problem.

Lookup order, as the OpenLineage client documents it: ``$OPENLINEAGE_CONFIG``,
``./openlineage.yml``, then (floe-lineage's addition) the ``openlineage.yml`` of the project
being run, then ``~/.openlineage/openlineage.yml``. Values may reference environment variables as
``${NAME}`` or ``${NAME:-default}`` (the default also when ``NAME`` is empty, as in a shell);
secrets such as API keys belong there, never in the file.
A relative file-transport path is resolved against the folder of the config file.

A query string in an HTTP transport's ``url`` (``?api_key=...``) is moved onto its ``endpoint``,
so it is sent with every request (the client would drop it when joining the two); its values,
and a URL's password, count as secrets to redact.

Delivery defaults for HTTP transports (each can be set in the file): ``timeout`` (0.8 s) bounds
each request, in all, not only between bytes (``null`` cannot lift that bound), and
``retry.total`` is 0, because undelivered events are spooled and replayed instead of retried
while dbt waits. Values of the wrong type, unknown auth types and the like are refused with the
file and the key.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import yaml
from openlineage.client import OpenLineageClient
from openlineage.client.transport import Transport, get_default_factory

from .locking import PRIVATE, SHARED, make_folder

DEFAULT_DELIVERY_TIMEOUT = 0.8
DEFAULT_DELIVERY_BUDGET = 2.0
"""Seconds a run may wait, at its end, for a remote backend to take its queued events."""
AUTH_TYPES = ("api_key", "jwt", "oauth2")
DOTTED_PATH = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+")
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)
NOT_WHERE = frozenset(
    {"timeout", "retry", "auth", "compression", "custom_headers", "verify", "append", "adapter"}
)
"""Transport settings that say how events are sent, not where: left out of ``destination``."""


class LineageConfigError(ValueError):
    """``openlineage.yml`` cannot be used; the message names the file and the problem."""


@dataclass(frozen=True)
class LineageConfig:
    path: Path | None
    """The config file; None when the client configures itself from ``OPENLINEAGE_*``."""
    client_config: dict[str, Any]
    """The file's content, ready for ``OpenLineageClient(config=...)``."""
    secrets: tuple[str, ...]
    """Values of secret-looking environment variables the config uses (to redact)."""
    home: Path
    """The folder whose ``.lineage/`` holds the spool: the config file's, else the project's."""

    @property
    def spool_file(self) -> Path:
        """Where undelivered events wait for ``replay``."""
        return self.home / ".lineage" / "spool.jsonl"

    @property
    def open_runs_file(self) -> Path:
        """Where the runs this machine opened and has not closed yet are recorded."""
        return self.home / ".lineage" / "open-runs.jsonl"

    @property
    def destination(self) -> str:
        """A key of where events go (a digest of the transport settings that say where, or of
        the ``OPENLINEAGE_*`` variables that do when no file is used): the journal of open runs
        aborts a run only through a configuration of the same destination as its START."""
        if self.path is not None:
            where: Any = _where(self.client_config.get("transport", {}))
        else:
            where = sorted(
                (name, value)
                for name, value in os.environ.items()
                if (name in ("OPENLINEAGE_URL", "OPENLINEAGE_ENDPOINT")
                    or name.startswith("OPENLINEAGE__TRANSPORT"))
                and not SECRET_NAME.search(name)
                and not any(part in name for part in ("TIMEOUT", "RETRY", "COMPRESSION"))
            )  # fmt: skip
        encoded = json.dumps(where, sort_keys=True, default=str).encode()
        return hashlib.sha256(encoded).hexdigest()[:16]

    @property
    def delivery_deadline(self) -> float | None:
        """The longest ``timeout`` of the configured HTTP transports, if any sets one."""
        timeouts = [
            t["timeout"]
            for t in _transports(self.client_config.get("transport", {}))
            if t.get("type") == "http" and isinstance(t.get("timeout"), (int, float))
        ]
        return max(timeouts, default=None)

    @property
    def needs_client(self) -> bool:
        """Whether events must pass through ``OpenLineageClient.emit``: only for what it adds
        per event (``facets``, ``filters``, ``tags``, ``dataset`` settings in the file or
        ``OPENLINEAGE__*`` variables), which costs more than writing the event."""
        configured = set(self.client_config) - {"transport"}
        from_env = any(
            name.startswith("OPENLINEAGE__") and not name.startswith("OPENLINEAGE__TRANSPORT")
            for name in os.environ
        )
        return self.path is None or bool(configured) or from_env

    def transport(self) -> Transport:
        """The configured transport, made by openlineage-python's transport factory."""
        if self.path is None:
            return OpenLineageClient().transport
        spec = self.client_config["transport"]
        try:
            return get_default_factory().create(copy.deepcopy(spec))
        except Exception as exc:
            raise LineageConfigError(
                f"{self.path}: cannot create the {spec.get('type')!r} transport: {exc}"
            ) from exc


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


def resolve_config(
    project_root: Path | None,
    config_path: Path | None = None,
    delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT,
) -> LineageConfig:
    """The configuration to deliver with: ``config_path``, else the file ``find_config`` finds,
    else the OpenLineage client's own configuration from ``OPENLINEAGE_*`` variables."""
    path = config_path or find_config(project_root)
    if path is not None:
        return load_config(path, delivery_timeout)
    secrets = tuple(
        value
        for name, value in os.environ.items()
        if name.startswith("OPENLINEAGE") and SECRET_NAME.search(name) and value
    ) + tuple(url_secrets(os.environ.get("OPENLINEAGE_URL")))
    return LineageConfig(None, {}, secrets, project_root or Path.cwd())


def url_secrets(url: Any) -> list[str]:
    """The parts of ``url`` to redact: its password and its query string's values."""
    if not isinstance(url, str) or not url:
        return []
    parts = urlsplit(url if "://" in url else f"//{url}")
    found = [parts.password or "", parts.query]
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    return [secret for secret in found if len(secret) > 2]


def load_config(path: Path, delivery_timeout: float = DEFAULT_DELIVERY_TIMEOUT) -> LineageConfig:
    """The configuration in ``path``: env references expanded, delivery defaults applied,
    file transports' folders created and checked."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LineageConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise LineageConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("transport"), dict):
        raise LineageConfigError(f"{path}: expected a mapping with a 'transport' mapping")
    secrets: list[str] = []
    config = _expand(loaded, path, secrets)
    for where, transport in _located(config["transport"], "transport", path):
        secrets += url_secrets(transport.get("url"))
        _prepare(transport, f"{path}: {where}", path, delivery_timeout)
    return LineageConfig(path, config, tuple(s for s in secrets if s), path.parent)


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _expand(value: Any, path: Path, secrets: list[str]) -> Any:
    if isinstance(value, dict):
        return {key: _expand(item, path, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_expand(item, path, secrets) for item in value]
    if isinstance(value, str):
        return _ENV_REFERENCE.sub(lambda m: _env(m, path, secrets), value)
    return value


def _env(match: re.Match[str], path: Path, secrets: list[str]) -> str:
    name, default = match.group(1), match.group(2)
    if name not in os.environ and default is None:
        raise LineageConfigError(f"{path}: refers to ${{{name}}}, which is not set")
    value = os.environ.get(name, "") if default is None else os.environ.get(name) or default
    if SECRET_NAME.search(name):
        secrets.append(value)
    return value


def _where(value: Any) -> Any:
    """``value`` (a transport's settings) without the ``NOT_WHERE`` keys, at every depth."""
    if isinstance(value, dict):
        return {k: _where(v) for k, v in value.items() if k not in NOT_WHERE}
    if isinstance(value, list):
        return [_where(v) for v in value]
    if isinstance(value, str) and "://" in value:  # credentials may rotate, not the place
        parts = urlsplit(value)
        return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
    return value


def _transports(transport: dict[str, Any]) -> list[dict[str, Any]]:
    """The transport and, for a composite one, every transport inside it (as loaded)."""
    nested = transport.get("transports")
    children = list(nested.values()) if isinstance(nested, dict) else list(nested or [])
    found = [transport]
    for child in children:
        if isinstance(child, dict):
            found += _transports(child)
    return found


def _located(transport: Any, where: str, path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each transport with its key path (``transport.transports.local``), checking types."""
    if not isinstance(transport, dict):
        raise LineageConfigError(
            f"{path}: {where} must be a mapping, not {type(transport).__name__}"
        )
    yield where, transport
    if "transports" not in transport:
        return
    nested = transport["transports"]
    if isinstance(nested, dict):
        children = [(f"{where}.transports.{key}", child) for key, child in nested.items()]
    elif isinstance(nested, list):
        children = [(f"{where}.transports[{i}]", child) for i, child in enumerate(nested)]
    else:
        raise LineageConfigError(
            f"{path}: {where}.transports must be a list or a mapping of transports,"
            f" not {type(nested).__name__}"
        )
    for child_where, child in children:
        if child is not None:  # the client skips empty entries of a mapping
            yield from _located(child, child_where, path)


def _prepare(transport: dict[str, Any], at: str, path: Path, delivery_timeout: float) -> None:
    """Check and complete one transport; ``at`` names it in errors (file and key)."""
    kind = transport.get("type")
    if not kind:
        raise LineageConfigError(f"{at} has no 'type'")
    if not isinstance(kind, str):
        raise LineageConfigError(f"{at}.type must be a string, not {type(kind).__name__}")
    if kind == "http":
        _prepare_http(transport, at, delivery_timeout)
    if kind == "file":
        log_file_path = transport.get("log_file_path")
        if not log_file_path:
            raise LineageConfigError(f"{at}: the file transport needs 'log_file_path'")
        if not isinstance(log_file_path, str):
            raise LineageConfigError(
                f"{at}.log_file_path must be a path or URL, not {type(log_file_path).__name__}"
            )
        if "://" not in log_file_path:
            transport["log_file_path"] = str(_writable_file(transport, at, path))
    if "append" in transport and not isinstance(transport["append"], bool):
        raise LineageConfigError(f"{at}.append must be true or false")


def _prepare_http(transport: dict[str, Any], at: str, delivery_timeout: float) -> None:
    url = transport.get("url")
    if isinstance(url, str) and "?" in url:  # urljoin(url, endpoint) would drop the query
        url, _, query = url.partition("?")
        endpoint = str(transport.get("endpoint", "api/v1/lineage"))
        transport["url"] = url
        transport["endpoint"] = endpoint + ("&" if "?" in endpoint else "?") + query.split("#")[0]
    timeout = transport.setdefault("timeout", delivery_timeout)
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise LineageConfigError(f"{at}.timeout must be a number of seconds above 0")
    retry = transport.setdefault("retry", {"total": 0})
    if not isinstance(retry, dict):
        raise LineageConfigError(f"{at}.retry must be a mapping (e.g. total: 0)")
    if "auth" not in transport:
        return
    auth = transport["auth"]
    if not isinstance(auth, dict) or not isinstance(auth.get("type"), str):
        raise LineageConfigError(f"{at}.auth must be a mapping with a 'type'")
    if auth["type"] not in AUTH_TYPES and not DOTTED_PATH.fullmatch(auth["type"]):
        raise LineageConfigError(
            f"{at}.auth.type {auth['type']!r} is not one of {', '.join(AUTH_TYPES)}"
            " or the import path of a TokenProvider class"
        )
    if auth["type"] == "api_key" and not auth.get("apiKey"):
        del transport["auth"]  # ${OPENLINEAGE_API_KEY:-} left empty: no key, no auth header


def _writable_file(transport: dict[str, Any], at: str, path: Path) -> Path:
    log_file = Path(transport["log_file_path"]).expanduser()
    if not log_file.is_absolute():
        log_file = path.parent / log_file
    private = log_file.parent == path.parent / ".lineage"  # the spool's folder: 0o700
    try:
        make_folder(log_file.parent, PRIVATE if private else SHARED)
    except OSError as exc:
        raise LineageConfigError(
            f"{at}: cannot create the folder of log_file_path {log_file}: {exc.strerror or exc}"
        ) from exc
    target = log_file if log_file.exists() else log_file.parent
    if (transport.get("append") and log_file.is_dir()) or not os.access(target, os.W_OK):
        raise LineageConfigError(f"{at}: log_file_path {log_file} is not a writable file")
    return log_file
