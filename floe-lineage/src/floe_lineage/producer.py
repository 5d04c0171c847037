"""The ``producer`` floe-lineage writes into every event and facet when none is configured.

Contract: ``default_producer()`` names the floe-lineage code that builds the events, at the
commit it was installed from, read once per process from the distribution's PEP 610
``direct_url.json``:

- installed from a git repository over http(s) at a commit, as a generated project's
  ``floe-lineage @ git+https://<host>/<repo>.git@<commit>#subdirectory=floe-lineage`` installs
  it: ``https://<host>/<repo>/tree/<commit>/<subdirectory>``, the ``subdirectory`` as
  ``direct_url.json`` records it (none: the repository's root), the URL without its ``git+``
  prefix, credentials, trailing ``/`` or ``.git``. ``/tree/<commit>/<path>`` is GitHub's way
  of showing a folder at a commit;
- installed any other way (an editable or local checkout, a wheel or sdist from an index, a git
  URL over ssh or ``file:``, another VCS, no ``direct_url.json``): the repository floe-lineage's
  metadata names (``Project-URL: Repository``) on ``main``:
  ``<repository>/tree/main/floe-lineage``.

It is always an absolute URI as RFC 3986 defines it (rfc3986-validator's ``URI`` rule, the one
the OpenLineage schemas' ``format: uri`` applies); a URL built from ``direct_url.json`` that is
not falls back to the repository on ``main``.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from typing import Any
from urllib.parse import quote, urlsplit

from rfc3986_validator import validate_rfc3986

from .schemas import repository_url

DISTRIBUTION = "floe-lineage"
FOLDER = "floe-lineage"
"""floe-lineage's folder in its repository (the fallback's path)."""


@cache
def default_producer() -> str:
    """floe-lineage's own code at the commit it was installed from (see the module)."""
    return producer_for(installed_from(), repository_url())


def installed_from() -> dict[str, Any] | None:
    """The installed distribution's PEP 610 ``direct_url.json``, if it has a readable one."""
    try:
        text = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
        found = json.loads(text) if text else None
    except (metadata.PackageNotFoundError, OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def producer_for(direct_url: Mapping[str, Any] | None, repository: str) -> str:
    """The producer for a distribution installed as ``direct_url`` says (``None``: no
    ``direct_url.json``), ``repository`` the one its metadata names."""
    fallback = f"{repository.rstrip('/')}/tree/main/{FOLDER}"
    at_commit = _at_commit(direct_url) if direct_url else None
    if at_commit and validate_rfc3986(at_commit, rule="URI"):
        return at_commit
    return fallback


def _at_commit(direct_url: Mapping[str, Any]) -> str | None:
    """``<repository>/tree/<commit>[/<subdirectory>]`` for a git install over http(s)."""
    vcs = direct_url.get("vcs_info")
    url = direct_url.get("url")
    if not isinstance(vcs, Mapping) or vcs.get("vcs") != "git" or not isinstance(url, str):
        return None
    commit = vcs.get("commit_id")
    if not isinstance(commit, str) or not commit:
        return None
    try:
        parts = urlsplit(url.removeprefix("git+"))
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.netloc.rpartition("@")[2]  # without credentials (PEP 610 allows ${VAR} ones)
    path = parts.path.rstrip("/").removesuffix(".git").rstrip("/")
    found = f"{parts.scheme.lower()}://{host}{path}/tree/{quote(commit, safe='')}"
    subdirectory = direct_url.get("subdirectory")
    if isinstance(subdirectory, str) and subdirectory.strip("/"):
        folder = posixpath.normpath(subdirectory.strip("/"))
        if folder.startswith(".."):
            return None
        if folder != ".":
            found += "/" + quote(folder, safe="/")
    return found
