"""Where the dbt project's code lives in git, for ``sourceCodeLocation`` facets.

Remote URLs lose their userinfo and query string (``https://gitlab-ci-token:<token>@host/...``
becomes ``https://host/...``, ``git@host:org/repo`` becomes ``host:org/repo``) before anything
sees them: credentials never reach an event."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


@dataclass(frozen=True)
class GitCheckout:
    url: str
    """The repository as a URI: the ``origin`` remote, else the local ``file://`` path."""
    remote: str | None
    """The ``origin`` remote as configured, without userinfo (may be scp-like
    ``host:org/repo.git``)."""
    commit: str
    branch: str | None
    project_path: str
    """The dbt project folder relative to the repository root ('' at the root)."""


def git_checkout(folder: Path) -> GitCheckout | None:
    """The git checkout ``folder`` is in, or None outside git (or without git installed)."""
    try:
        top, commit, branch = _git(
            folder, "rev-parse", "--show-toplevel", "HEAD", "--abbrev-ref", "HEAD"
        )
    except (OSError, subprocess.CalledProcessError, ValueError):
        return None
    try:
        (configured,) = _git(folder, "config", "--get", "remote.origin.url")
        remote: str | None = without_userinfo(configured)
    except (subprocess.CalledProcessError, ValueError):
        remote = None
    root = Path(top)
    relative = folder.resolve().relative_to(root.resolve()).as_posix()
    return GitCheckout(
        url=_as_uri(remote) if remote else root.as_uri(),
        remote=remote,
        commit=commit,
        branch=None if branch == "HEAD" else branch,
        project_path="" if relative == "." else relative,
    )


def _git(folder: Path, *args: str) -> list[str]:
    done = subprocess.run(
        ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True, timeout=10
    )
    return done.stdout.split()


def without_userinfo(remote: str) -> str:
    """A git remote without the user, password or token before its host (nor a query string,
    where a token could hide)."""
    if "://" in remote:
        parts = urlsplit(remote)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=host, query="", fragment=""))
    return re.sub(r"^[^@/:]+@(?=[^:/]+:)", "", remote)  # scp-like user@host:path


def _as_uri(remote: str) -> str:
    """``host:org/repo.git`` -> ``ssh://host/org/repo.git``; URIs stay as they are."""
    scp_like = re.fullmatch(r"(?P<host>[^:/@]+):(?P<path>[^/].*)", remote)
    if "://" not in remote and scp_like:
        return f"ssh://{scp_like['host']}/{scp_like['path']}"
    return remote
