"""`TelemetryConfig`: where the client sends and writes, and its tuning knobs; read from the
environment (`TelemetryConfig.from_env()`) or built in code. `validate()` lists problems,
one check per field (`_CHECKS`); the client logs them as warnings and carries on with the
default of each field found bad (`with_defaults_for_problems()`), except a malformed
`api_url`, which means "no service": nothing is sent anywhere, every run goes to the
buffer (a typo must not send runs to whatever answers on the default port)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from threading import TIMEOUT_MAX
from typing import Any, Literal, TypeVar, get_args

import attrs

from telemetry.settings import (
    DB_FILE_NAME,
    DEFAULT_API_URL,
    DEFAULT_BASE_DIR,
    env_api_token,
    env_api_url,
    first_set,
    url_problem,
)
from telemetry.shell.buffer import FsyncPolicy
from telemetry.shell.edge import safe_repr, seconds

# The `api_url` of a client whose configured URL was malformed: no service at all.
NO_SERVICE = ""
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})
_T = TypeVar("_T")


DeliveryMode = Literal["background", "sync"]
_DELIVERY_MODES: tuple[str, ...] = get_args(DeliveryMode)
CourierPlace = Literal["process", "thread"]
_COURIER_PLACES: tuple[str, ...] = get_args(CourierPlace)


def _path(value: object) -> object:
    """A path given as text is an absolute `Path`, taken from the working directory of the
    moment: an agent that changes directory later keeps writing where it said (and its
    courier process, which runs elsewhere, finds the same place). Anything else is kept for
    `validate()` to report."""
    if not isinstance(value, (str, os.PathLike)):
        return value
    try:
        return Path(value).absolute()
    except (OSError, ValueError):  # no working directory any more (deleted), or NUL in it
        return Path(value)


def _under_base(name: str) -> Any:
    def default(self: TelemetryConfig) -> Path:
        base = self.base_dir if _is_path(self.base_dir) else DEFAULT_BASE_DIR
        return base / name

    return attrs.field(default=attrs.Factory(default, takes_self=True), converter=_path)


@attrs.frozen
class TelemetryConfig:
    """Everything the client needs to know; every field has a working default."""

    api_url: str = DEFAULT_API_URL
    api_token: str | None = None
    base_dir: Path = attrs.field(default=DEFAULT_BASE_DIR, converter=_path)
    ndjson_dir: Path = _under_base("ndjson")
    buffer_dir: Path = _under_base("buffer")
    db_path: Path = _under_base(DB_FILE_NAME)
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
    sync_interval_s: float = 30.0  # the background sync of the buffer; 0 turns it off
    exit_budget_s: float = 2.0
    recent_runs: int = 1024
    # Background delivery through the outbox (docs/delivery.md), or `sync` (the spec's).
    delivery: DeliveryMode = "background"
    # Where background delivery's courier runs: a process of its own, or a thread of the agent's.
    courier: CourierPlace = "process"
    outbox_fsync_interval_s: float = 1.0
    outbox_limit_bytes: int = 512 << 20
    outbox_segment_bytes: int = 16 << 20
    # The effect log (docs/client.md): off unless a path is given.
    effect_log: Path | None = attrs.field(default=None, converter=_path)
    effect_log_max_bytes: int = 16 << 20
    effect_log_backups: int = 5
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
        problems = list(self.env_problems) if _CHECKS["env_problems"][0](self.env_problems) else []
        for name, (usable, wanted) in _CHECKS.items():
            value = getattr(self, name)
            if not usable(value):
                shown = safe_repr(value)[:80]
                problems.append(f"{name} {wanted}, got {shown}; {_instead(name, self)}")
        return problems

    def with_defaults_for_problems(self) -> TelemetryConfig:
        """This configuration with every field `validate()` finds bad set to its default (a
        directory under `base_dir` follows the usable `base_dir`), and a bad `api_url` set
        to `NO_SERVICE`."""
        kept = {name: getattr(self, name) for name, (usable, _) in _CHECKS.items() if usable(getattr(self, name))}
        if len(kept) == len(_CHECKS):
            return self
        return TelemetryConfig(**{"api_url": NO_SERVICE, **kept})


def _instead(name: str, config: TelemetryConfig) -> str:
    """What the client does in place of a bad value of `name`."""
    if name == "api_url":
        return (
            f"NO SERVICE IS USED: nothing is sent anywhere and every run is kept in the buffer "
            f"({config.buffer_dir}) until `telemetry sync --api-url URL` delivers it"
        )
    default = attrs.fields_dict(TelemetryConfig)[name].default
    if isinstance(default, (int, float, str)) and not isinstance(default, bool):
        return f"the client uses its default ({default})"
    return "the client uses its default"


def _is_path(value: object) -> bool:
    """A `Path` the OS can be given (no NUL, encodable)."""
    if not isinstance(value, Path):
        return False
    try:
        return b"\0" not in os.fsencode(value)
    except (UnicodeError, TypeError):
        return False


def _is_text(value: object) -> bool:
    return value is None or isinstance(value, str)


def _is_http_url(value: object) -> bool:
    return url_problem(value) is None


def _seconds(value: object) -> float | None:
    """`value` if it is a number of seconds a wait can take (see `edge.seconds`, and within
    what a lock can wait), else None."""
    number = seconds(value)
    return number if number is not None and -TIMEOUT_MAX <= number <= TIMEOUT_MAX else None


def _at_least_zero(value: object) -> bool:
    seconds = _seconds(value)
    return seconds is not None and seconds >= 0


def _above_zero(value: object) -> bool:
    seconds = _seconds(value)
    return seconds is not None and seconds > 0


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_positive_count(value: object) -> bool:
    return _is_count(value) and value != 0


_FSYNC_POLICIES: tuple[str, ...] = get_args(FsyncPolicy)
# Field -> (is its value usable, what a usable value is). Every field has one.
_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "api_url": (_is_http_url, "is not an http(s) URL with a host"),
    "api_token": (_is_text, "is not text or None"),
    "base_dir": (_is_path, "is not a usable path"),
    "ndjson_dir": (_is_path, "is not a usable path"),
    "buffer_dir": (_is_path, "is not a usable path"),
    "db_path": (_is_path, "is not a usable path"),
    "export_url": (lambda value: value is None or _is_http_url(value), "is not an http(s) URL or None"),
    "export_enabled": (lambda value: isinstance(value, bool), "is not True or False"),
    "export_token": (_is_text, "is not text or None"),
    "agent_owner": (_is_text, "is not text or None"),
    "connect_timeout_s": (_above_zero, "must be > 0"),
    "read_timeout_s": (_above_zero, "must be > 0"),
    "breaker_cooldown_s": (_at_least_zero, "must be >= 0"),
    "buffer_fsync": (lambda value: isinstance(value, str) and value in _FSYNC_POLICIES, f"is not one of {_FSYNC_POLICIES}"),
    "ndjson_flush_interval_s": (_at_least_zero, "must be >= 0"),
    "ndjson_queue_lines": (_is_count, "must be an integer >= 0"),
    "export_queue_size": (_is_count, "must be an integer >= 0"),
    "export_max_attempts": (_is_count, "must be an integer >= 0"),
    "export_timeout_s": (_above_zero, "must be > 0"),
    "export_backoff_s": (_at_least_zero, "must be >= 0"),
    "heartbeat_interval_s": (_at_least_zero, "must be a number of seconds >= 0 (0 turns it off)"),
    "sync_interval_s": (_at_least_zero, "must be a number of seconds >= 0 (0 turns it off)"),
    "exit_budget_s": (_at_least_zero, "must be >= 0"),
    "recent_runs": (_is_count, "must be an integer >= 0"),
    "delivery": (lambda value: value in _DELIVERY_MODES, f"is not one of {_DELIVERY_MODES}"),
    "courier": (lambda value: value in _COURIER_PLACES, f"is not one of {_COURIER_PLACES}"),
    "outbox_fsync_interval_s": (_at_least_zero, "must be >= 0"),
    "outbox_limit_bytes": (_is_count, "must be an integer >= 0"),
    "outbox_segment_bytes": (_is_positive_count, "must be an integer > 0"),
    "effect_log": (lambda value: value is None or _is_path(value), "is not a usable path or None"),
    "effect_log_max_bytes": (_is_positive_count, "must be an integer > 0"),
    "effect_log_backups": (_is_positive_count, "must be an integer > 0"),
    "env_problems": (
        lambda value: isinstance(value, tuple) and all(isinstance(problem, str) for problem in value),
        "is not a tuple of text",
    ),
}


# Environment variable -> (field, parser). Parsers raise ValueError on unreadable text.
_ENV_KNOBS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "TELEMETRY_HTTP_CONNECT_TIMEOUT": ("connect_timeout_s", float),
    "TELEMETRY_HTTP_READ_TIMEOUT": ("read_timeout_s", float),
    "TELEMETRY_BREAKER_COOLDOWN": ("breaker_cooldown_s", float),
    "TELEMETRY_BUFFER_FSYNC": ("buffer_fsync", lambda text: _one_of(text, _FSYNC_POLICIES)),
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
    "TELEMETRY_DELIVERY": ("delivery", lambda text: _one_of(text.strip().lower(), _DELIVERY_MODES)),
    "TELEMETRY_COURIER": ("courier", lambda text: _one_of(text.strip().lower(), _COURIER_PLACES)),
    "TELEMETRY_OUTBOX_FSYNC_INTERVAL": ("outbox_fsync_interval_s", float),
    "TELEMETRY_OUTBOX_LIMIT_BYTES": ("outbox_limit_bytes", int),
    "TELEMETRY_OUTBOX_SEGMENT_BYTES": ("outbox_segment_bytes", int),
    "TELEMETRY_EFFECT_LOG_MAX_BYTES": ("effect_log_max_bytes", int),
    "TELEMETRY_EFFECT_LOG_BACKUPS": ("effect_log_backups", int),
}


def _flag(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ValueError(f"not a yes/no value: {text!r}")


class _NotAllowed(ValueError):
    """A value outside a setting's choices (the message names them)."""


def _one_of(text: str, allowed: tuple[str, ...]) -> str:
    if text not in allowed:
        raise _NotAllowed(" or ".join(allowed))
    return text


def _parsed(
    environ: Mapping[str, str], name: str, parse: Callable[[str], _T], problems: list[str]
) -> _T | None:
    text = environ.get(name)
    if text is None:
        return None
    try:
        return parse(text)
    except _NotAllowed as error:
        problems.append(f"{name}={text!r} is not {error}; default kept")
    except ValueError:
        problems.append(f"{name}={text!r} is not readable; default kept")
    return None


def _from_env(environ: Mapping[str, str]) -> TelemetryConfig:
    problems: list[str] = []
    values: dict[str, Any] = {
        "api_url": env_api_url(environ),
        "api_token": env_api_token(environ),
        "export_url": first_set(environ, "GOOGLE_SHEETS_API_URL", "METRICS_API_URL"),
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
        ("TELEMETRY_EFFECT_LOG", "effect_log"),
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
