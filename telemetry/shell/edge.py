"""Conversion of user input at the edge, once, before it reaches the core: anything given
for a name becomes clean text, anything given as a field value becomes a JSON-safe copy,
so nothing the agent passes (or mutates later) can break a delivery or a file write."""

from __future__ import annotations

import json
import math
import numbers
import random
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import orjson
import uuid_utils

from telemetry.wire.format import dumps

_INT64 = range(-(2**63), 2**63)


def now() -> datetime:
    return datetime.now(timezone.utc)


def fresh_event_id() -> str:
    """A time-ordered UUIDv7: new rows land at the end of the service's event_id index,
    and it costs a twentieth of `uuid.uuid4()`."""
    return str(uuid_utils.uuid7())


def fresh_nonce() -> str:
    """16 hex characters: two uuid8 parts for run ids. From the `random` module's generator
    (seeded from the OS, and again in a forked child): uniqueness is all a run id needs,
    and `os.urandom` is a system call, which lets the interpreter lock go to another
    thread in the middle of `start_run`."""
    return f"{random.getrandbits(64):016x}"


def clean_text(value: str) -> str:
    """`value` without lone surrogates (which no JSON encoder or UTF-8 file accepts)."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
        return str(value)
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def text(value: object) -> str:
    """What the agent gave as a name or id, as clean text (`str()` of a non-string)."""
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:
            value = f"<unprintable {type(value).__name__}>"
    return clean_text(str.__str__(value))


def optional_text(value: object) -> str | None:
    return None if value is None else text(value)


def seconds(value: object) -> float | None:
    """`value` as a number of seconds: a real number, not a bool, not NaN; else None."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError, TypeError):
        return None
    return None if math.isnan(number) else number


def json_safe(value: Any) -> Any:
    """A copy of `value` made of plain JSON types; what JSON cannot hold becomes text."""
    kind = type(value)
    if value is None or kind is bool:
        return value
    if kind is float:  # JSON has no inf or nan: null, as orjson writes them nested
        return value if math.isfinite(value) else None
    if kind is int:
        return value if value in _INT64 else str(value)
    if kind is str:
        return clean_text(value)
    try:
        return orjson.loads(dumps(value))
    except Exception:
        pass
    try:
        # The standard library copes with huge ints and some odd objects; what it gives
        # back must still be something orjson can write.
        copied = json.loads(json.dumps(value, default=repr), parse_int=_parse_int, parse_constant=_no_constant)
        dumps(copied)
        return copied
    except Exception:
        return safe_repr(value)


def _no_constant(name: str) -> None:
    """`Infinity`, `-Infinity`, `NaN` of the standard library's JSON: null, as orjson."""
    return None


def _parse_int(digits: str) -> int | str:
    number = int(digits)
    return number if number in _INT64 else digits


def safe_repr(value: object) -> str:
    """`repr(value)` as clean text, even when the object's `__repr__` raises."""
    try:
        return text(repr(value))
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def json_safe_fields(given: Mapping[Any, Any]) -> dict[str, Any]:
    """Field name -> value, every name text and every value a JSON-safe copy."""
    return {text(name): json_safe(value) for name, value in given.items()}
