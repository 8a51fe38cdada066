"""The installed distribution: its name, its version, the optional extras and the one line
that says which extra to install when a command needs one that is missing.

Standard library only: it runs before anything optional is imported."""

from __future__ import annotations

import importlib.util
import json
import sys
from importlib import metadata
from urllib.parse import unquote, urlsplit

# The import name and the command are `telemetry`; the name `telemetry` on PyPI belongs to
# an unrelated project.
DISTRIBUTION = "agent-run-telemetry"

# What each extra of pyproject.toml brings, by a module it installs that the code imports.
EXTRA_MODULES = {
    "cli": ("click", "rich"),
    "service": ("click", "rich", "fastapi", "fastapi_offline", "uvicorn", "pydantic"),
    "postgres": ("psycopg", "psycopg_pool"),
}


def version() -> str:
    """The installed version, or `unknown` when the distribution is not installed (a source
    tree put on sys.path by hand)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"


def pip_source(origin: object) -> str | None:
    """What pip takes to reinstall from where a copy came, given its PEP 610 record
    (direct_url.json): a local directory's path, or `git+URL`; None for anything else."""
    if not isinstance(origin, dict) or not isinstance(origin.get("url"), str):
        return None
    url = urlsplit(origin["url"])
    if url.scheme == "file" and "dir_info" in origin:
        return unquote(url.path)
    vcs = origin.get("vcs_info")
    return f"{vcs['vcs']}+{origin['url']}" if isinstance(vcs, dict) and "vcs" in vcs else None


def install_hint(extra: str, origin: object) -> str:
    """The pip command that adds `extra` to a copy installed from `origin` (PEP 610)."""
    source = pip_source(origin)
    if source is None:
        return f"pip install '{DISTRIBUTION}[{extra}]'"
    if source.startswith("/"):
        return f"pip install '{source}[{extra}]'"
    return f"pip install '{DISTRIBUTION}[{extra}] @ {source}'"


def _installed_origin() -> object:
    """The PEP 610 record of the installed copy (a source tree's own egg-info, found first
    when the tree is the working directory, has none)."""
    for copy in metadata.distributions(name=DISTRIBUTION):
        record = copy.read_text("direct_url.json")
        if record:
            try:
                return json.loads(record)
            except ValueError:
                return None
    return None


def missing_module(extra: str) -> str | None:
    """The first module of `extra` that is not installed, or None when all are (found, not
    imported: the check costs the command nothing)."""
    for module in EXTRA_MODULES[extra]:
        if importlib.util.find_spec(module) is None:
            return module
    return None


def require_extra(extra: str, command: str) -> None:
    """Exit with status 2 and one line naming the extra to install when `command` (as the
    user typed it, `telemetry serve`) needs `extra` and one of its modules is missing."""
    module = missing_module(extra)
    if module is not None:
        print(f"{command}: needs the '{extra}' extra ({module} is not installed): {install_hint(extra, _installed_origin())}", file=sys.stderr)
        sys.exit(2)
