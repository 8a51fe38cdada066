"""`TelemetryConfig`: where the client sends and writes, and its tuning knobs; read from the
environment (`TelemetryConfig.from_env()`) or built in code. `validate()` lists problems;
the client logs them as warnings and carries on with what it has."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, get_args

import attrs

from telemetry.shell.buffer import FsyncPolicy

DEFAULT_API_URL = "http://localhost:8765"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_T = TypeVar("_T")


def _under_base(name: str) -> Any:
    return attrs.field(
        default=attrs.Factory(lambda self: self.base_dir / name, takes_self=True), converter=Path
    )


@attrs.frozen
class TelemetryConfig:
    """Everything the client needs to know; every field has a working default."""

    api_url: str = DEFAULT_API_URL
    api_token: str | None = None
    base_dir: Path = attrs.field(default=Path(".telemetry"), converter=Path)
    ndjson_dir: Path = _under_base("ndjson")
    buffer_dir: Path = _under_base("buffer")
    db_path: Path = _under_base("telemetry.sqlite")
    export_url: str | None = None
    export_enabled: bool = True
    export_token: str | None = None
    agent_owner: str | None = None
    connect_timeout_s: float = 0.5
    read_timeout_s: float = 1.0
    breaker_cooldown_s: float = 5.0
    buffer_fsync: FsyncPolicy = "always"
    ndjson_flush_interval_s: float = 0.05
    ndjson_queue_lines: int = 10_000
    export_queue_size: int = 1_000
    export_max_attempts: int = 5
    export_timeout_s: float = 5.0
    export_backoff_s: float = 0.5
    heartbeat_interval_s: float = 60.0
    sync_interval_s: float = 30.0  # the background sync of the buffer; <= 0 turns it off
    exit_budget_s: float = 2.0
    recent_runs: int = 1024
    env_problems: tuple[str, ...] = ()

    @property
    def export_active(self) -> bool:
        """The secondary export runs only when it is enabled and has somewhere to post."""
        return self.export_enabled and bool(self.export_url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TelemetryConfig:
        """The configuration the environment describes; an unreadable value keeps its
        default and is reported by `validate()`."""
        return _from_env(os.environ if environ is None else environ)

    def validate(self) -> list[str]:
        """Problems with this configuration, in words; empty when all is well."""
        problems = list(self.env_problems)
        for name, url in (("api_url", self.api_url), ("export_url", self.export_url)):
            if url is not None and not url.startswith(("http://", "https://")):
                problems.append(f"{name} {url!r} is not an http(s) URL")
        if self.buffer_fsync not in get_args(FsyncPolicy):
            problems.append(f"buffer_fsync {self.buffer_fsync!r} is not one of {get_args(FsyncPolicy)}")
        for field in attrs.fields(TelemetryConfig):
            value = getattr(self, field.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                problems.append(f"{field.name} must be >= 0, got {value}")
        for name in ("connect_timeout_s", "read_timeout_s", "export_timeout_s"):
            if getattr(self, name) == 0:
                problems.append(f"{name} must be > 0")
        return problems


# Environment variable -> (field, parser). Parsers raise ValueError on unreadable text.
_ENV_KNOBS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "TELEMETRY_HTTP_CONNECT_TIMEOUT": ("connect_timeout_s", float),
    "TELEMETRY_HTTP_READ_TIMEOUT": ("read_timeout_s", float),
    "TELEMETRY_BREAKER_COOLDOWN": ("breaker_cooldown_s", float),
    "TELEMETRY_BUFFER_FSYNC": ("buffer_fsync", lambda text: _one_of(text, get_args(FsyncPolicy))),
    "TELEMETRY_NDJSON_FLUSH_INTERVAL": ("ndjson_flush_interval_s", float),
    "TELEMETRY_NDJSON_QUEUE_LINES": ("ndjson_queue_lines", int),
    "TELEMETRY_EXPORT_QUEUE_SIZE": ("export_queue_size", int),
    "TELEMETRY_EXPORT_MAX_ATTEMPTS": ("export_max_attempts", int),
    "TELEMETRY_EXPORT_TIMEOUT": ("export_timeout_s", float),
    "TELEMETRY_EXPORT_BACKOFF": ("export_backoff_s", float),
    "TELEMETRY_HEARTBEAT_INTERVAL": ("heartbeat_interval_s", float),
    "TELEMETRY_SYNC_INTERVAL": ("sync_interval_s", float),
    "TELEMETRY_EXIT_BUDGET": ("exit_budget_s", float),
    "TELEMETRY_RECENT_RUNS": ("recent_runs", int),
}


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ValueError(f"not a yes/no value: {text!r}")


def _one_of(text: str, allowed: tuple[str, ...]) -> str:
    if text not in allowed:
        raise ValueError(f"not one of {allowed}: {text!r}")
    return text


def _first(environ: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        if environ.get(name):
            return environ[name]
    return None


def _parsed(
    environ: Mapping[str, str], name: str, parse: Callable[[str], _T], problems: list[str]
) -> _T | None:
    text = environ.get(name)
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError:
        problems.append(f"{name}={text!r} is not readable; default kept")
        return None


def _from_env(environ: Mapping[str, str]) -> TelemetryConfig:
    problems: list[str] = []
    values: dict[str, Any] = {
        "api_url": environ.get("TELEMETRY_API_URL") or DEFAULT_API_URL,
        "api_token": _first(environ, "TELEMETRY_API_TOKEN", "METRICS_API_TOKEN"),
        "export_url": _first(environ, "GOOGLE_SHEETS_API_URL", "METRICS_API_URL"),
        # The export's own token only: the service's token must never reach a third party.
        "export_token": environ.get("METRICS_API_TOKEN") or None,
        "agent_owner": environ.get("AGENT_OWNER") or None,
    }
    base = environ.get("TELEMETRY_BASE_DIR")
    if base:
        values["base_dir"] = Path(base)
    for name, field in (
        ("TELEMETRY_NDJSON_DIR", "ndjson_dir"),
        ("TELEMETRY_BUFFER_DIR", "buffer_dir"),
        ("TELEMETRY_DB_PATH", "db_path"),
    ):
        if environ.get(name):
            values[field] = Path(environ[name])
    flags = [_parsed(environ, n, _flag, problems) for n in ("GOOGLE_SHEETS_API_ENABLED", "METRICS_API_ENABLED")]
    if any(flag is not None for flag in flags):
        values["export_enabled"] = any(flag for flag in flags if flag is not None)
        if values["export_enabled"] and values["export_url"] is None:
            problems.append("secondary export enabled but GOOGLE_SHEETS_API_URL/METRICS_API_URL unset; export off")
    for name, (field, parse) in _ENV_KNOBS.items():
        value = _parsed(environ, name, parse, problems)
        if value is not None:
            values[field] = value
    return TelemetryConfig(**values, env_problems=tuple(problems))
