"""Web URLs of a run's repository and commit, derived from its git remote: HTTPS
(`https://host/owner/repo(.git)`), `ssh://git@host[:port]/owner/repo` and scp-like
`git@host:owner/repo.git`. GitLab commits live at `/-/commit/<sha>`, Bitbucket at
`/commits/<sha>`, everything else (GitHub, Gitea, ...) at `/commit/<sha>`."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/\s][^\s]*)$")
_WEB_SCHEMES = frozenset({"http", "https"})
_SSH_SCHEMES = frozenset({"ssh", "git", "git+ssh", "ssh+git"})


def _host_and_path(remote: str) -> tuple[str, str, str] | None:
    """(scheme, host[:port], path) of a remote; ssh remotes map to https without the port."""
    if "://" in remote:
        parts = urlsplit(remote)
        scheme = parts.scheme.lower()
        if not parts.hostname or scheme not in _WEB_SCHEMES | _SSH_SCHEMES:
            return None
        if scheme in _WEB_SCHEMES:
            # Never echo credentials embedded in the remote (https://user:token@host/...).
            host = parts.hostname + (f":{parts.port}" if parts.port else "")
            return scheme, host, parts.path
        return "https", parts.hostname, parts.path
    match = _SCP_LIKE.match(remote)
    if match is None:
        return None
    return "https", match["host"], match["path"]


def repo_url(remote: str | None) -> str | None:
    """The repository's web page, or None if `remote` is not a recognisable remote."""
    if not remote:
        return None
    try:
        parsed = _host_and_path(remote.strip())
    except ValueError:
        return None  # e.g. a port that is not a number
    if parsed is None:
        return None
    scheme, host, path = parsed
    path = path.strip("/")
    path = path.removesuffix(".git").rstrip("/")
    if path.count("/") < 1 or any(not segment for segment in path.split("/")):
        return None
    return f"{scheme}://{host.lower()}/{path}"


def commit_url(remote: str | None, commit_hash: str | None) -> str | None:
    """The commit's web page on the repository's host, or None."""
    base = repo_url(remote)
    if base is None or not commit_hash:
        return None
    host = urlsplit(base).hostname or ""
    if "gitlab" in host:
        return f"{base}/-/commit/{commit_hash}"
    if "bitbucket" in host:
        return f"{base}/commits/{commit_hash}"
    return f"{base}/commit/{commit_hash}"
