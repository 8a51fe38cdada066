"""What the client, the service and the commands read alike from the environment, below all
of them: the service's URL and token, where the SQLite file lives by default, and the check
of a service URL."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_API_URL = "http://localhost:8765"
DEFAULT_BASE_DIR = Path(".telemetry")
DB_FILE_NAME = "telemetry.sqlite"


def first_set(environ: Mapping[str, str], *names: str) -> str | None:
    """The value of the first of `names` set to something non-empty."""
    for name in names:
        if environ.get(name):
            return environ[name]
    return None


def env_api_url(environ: Mapping[str, str]) -> str:
    """TELEMETRY_API_URL, else the default service URL."""
    return environ.get("TELEMETRY_API_URL") or DEFAULT_API_URL


def env_api_token(environ: Mapping[str, str]) -> str | None:
    """The token the client sends: TELEMETRY_API_TOKEN, else METRICS_API_TOKEN."""
    return first_set(environ, "TELEMETRY_API_TOKEN", "METRICS_API_TOKEN")


def env_db_path(environ: Mapping[str, str]) -> Path:
    """TELEMETRY_DB_PATH, else `telemetry.sqlite` under TELEMETRY_BASE_DIR (or `.telemetry`)."""
    if environ.get("TELEMETRY_DB_PATH"):
        return Path(environ["TELEMETRY_DB_PATH"])
    return Path(environ.get("TELEMETRY_BASE_DIR") or DEFAULT_BASE_DIR) / DB_FILE_NAME


def url_problem(value: object) -> str | None:
    """Why `value` cannot be a service's URL (not text, blanks or control characters, no
    http/https scheme, no host, a port that is not a number in 1-65535), or None when it can."""
    if not isinstance(value, str):
        return "is not text"
    if any(character.isspace() or not character.isprintable() for character in value):
        return "contains blanks or control characters"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return "has a port that is not a number in 1-65535"
    if parts.scheme not in ("http", "https"):
        return "does not start with http:// or https://"
    if not parts.hostname:
        return "names no host"
    if port == 0:
        return "has port 0"
    return None
