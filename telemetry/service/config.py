"""The service's configuration: where it listens and stores, who may call it, how large a
request may be and how hard each commit syncs. Flags win over the environment, which wins
over the defaults of the team contract."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import attrs

from telemetry.settings import env_db_path

Synchronous = Literal["FULL", "EXTRA", "NORMAL"]
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_BODY_BYTES = 1 << 20
# How long a write waits for another writer of the file (`telemetry sweep --db`, a user's
# sqlite3 session) before the request is answered 503.
DEFAULT_BUSY_TIMEOUT_MS = 10_000
# The service ends runs whose lease expired on its own: an hour without a heartbeat (the
# client renews every 60 s) is dead, not slow; 0 turns the automatic sweep off.
DEFAULT_SWEEP_LEASE_SECONDS = 3600
DEFAULT_SWEEP_INTERVAL_SECONDS = 60.0
# Connections of one replica to PostgreSQL (half write, half read); N replicas use N times
# this many of the server's max_connections.
DEFAULT_POOL_SIZE = 10
# The service's environment variables: a process that starts a service of its own (the
# demo, the tests) leaves them out of the child's environment and states what it needs,
# so a developer's shell settings (a token, another port or file) cannot leak in.
SERVICE_ENV = (
    "TELEMETRY_API_HOST",
    "TELEMETRY_API_PORT",
    "TELEMETRY_API_TOKEN",
    "TELEMETRY_API_AUTH_TOKEN",
    "TELEMETRY_DATABASE_URL",
    "TELEMETRY_DB_PATH",
    "TELEMETRY_PG_POOL_SIZE",
    "TELEMETRY_SWEEP_LEASE_SECONDS",
)


class ConfigError(ValueError):
    """A setting the service cannot run with."""


@attrs.frozen
class ServiceConfig:
    """Everything `telemetry serve` needs; `database_url` (postgresql://) overrides `db_path`."""

    db_path: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    database_url: str | None = None
    auth_token: str | None = attrs.field(default=None, repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    synchronous: Synchronous = "FULL"
    max_group_size: int = 512
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    sweep_lease_seconds: int = DEFAULT_SWEEP_LEASE_SECONDS
    sweep_interval_seconds: float = DEFAULT_SWEEP_INTERVAL_SECONDS
    pool_size: int = DEFAULT_POOL_SIZE

    @property
    def store_kind(self) -> Literal["sqlite", "postgresql"]:
        url = self.database_url or ""
        return "postgresql" if url.startswith(_STORE_URL_PREFIXES[1:]) else "sqlite"


def sqlite_path_of(database_url: str) -> Path:
    """The file of a `sqlite:///relative/path` or `sqlite:////absolute/path` URL (the
    SQLAlchemy convention)."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or len(database_url) == len(prefix):
        raise ConfigError("a SQLite database URL looks like sqlite:///path/to/file.sqlite")
    return Path(database_url[len(prefix) :])


_STORE_URL_PREFIXES = ("sqlite:", "postgresql://", "postgres://")


def _database_url(url: str) -> str:
    """`url` if it names a store this service has (sqlite or postgresql); anything else,
    a typo or another database, is refused rather than run on the default SQLite file."""
    if url.startswith(_STORE_URL_PREFIXES):
        return url
    shown = url if len(url) <= 60 else url[:60] + "…"
    raise ConfigError(
        f"database URL {shown!r} is not one this service can use: "
        "give sqlite:///path/to/file.sqlite or postgresql://user@host/database"
    )


def _env_token(env: Mapping[str, str]) -> str | None:
    """The bearer token the environment requires: TELEMETRY_API_TOKEN, the variable the
    client sends too, else its older alias TELEMETRY_API_AUTH_TOKEN; two different values
    are a mistake (which one was meant cannot be guessed)."""
    shared, alias = env.get("TELEMETRY_API_TOKEN") or None, env.get("TELEMETRY_API_AUTH_TOKEN") or None
    if shared and alias and shared != alias:
        raise ConfigError("TELEMETRY_API_TOKEN and TELEMETRY_API_AUTH_TOKEN are both set, to different tokens; keep one")
    return shared or alias


def _port(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"TELEMETRY_API_PORT is not a port number: {value!r}") from None


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    try:
        return max(0, int(text))
    except ValueError:
        raise ConfigError(f"{name} is not a whole number of seconds: {text!r}") from None


def _pool_size(env: Mapping[str, str]) -> int:
    text = env.get("TELEMETRY_PG_POOL_SIZE")
    if not text:
        return DEFAULT_POOL_SIZE
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise ConfigError(f"TELEMETRY_PG_POOL_SIZE is not a number of connections (1 or more): {text!r}")
    return size


def build_config(
    *,
    host: str | None = None,
    port: int | None = None,
    db_path: Path | None = None,
    database_url: str | None = None,
    auth_token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    synchronous: Synchronous = "FULL",
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    sweep_lease_seconds: int | None = None,
    sweep_interval_seconds: float = DEFAULT_SWEEP_INTERVAL_SECONDS,
    pool_size: int | None = None,
    env: Mapping[str, str] | None = None,
) -> ServiceConfig:
    """The configuration from explicit values, falling back to the environment."""
    env = os.environ if env is None else env
    url = database_url or env.get("TELEMETRY_DATABASE_URL") or None
    if url is not None:
        url = _database_url(url)
    path = db_path or env_db_path(env)
    if url and url.startswith("sqlite:"):
        path, url = sqlite_path_of(url), None
    if max_body_bytes < 1024:
        raise ConfigError("max body size must be at least 1024 bytes")
    return ServiceConfig(
        db_path=path,
        host=host or env.get("TELEMETRY_API_HOST") or DEFAULT_HOST,
        port=port if port is not None else _port(env.get("TELEMETRY_API_PORT") or str(DEFAULT_PORT)),
        database_url=url,
        auth_token=auth_token or _env_token(env),
        max_body_bytes=max_body_bytes,
        synchronous=synchronous,
        busy_timeout_ms=busy_timeout_ms,
        sweep_lease_seconds=(
            sweep_lease_seconds
            if sweep_lease_seconds is not None
            else _whole(env, "TELEMETRY_SWEEP_LEASE_SECONDS", DEFAULT_SWEEP_LEASE_SECONDS)
        ),
        sweep_interval_seconds=sweep_interval_seconds,
        pool_size=pool_size if pool_size is not None else _pool_size(env),
    )
