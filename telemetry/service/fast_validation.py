"""The service's quick checks of create and PATCH bodies: the same rules as the pydantic
models of `telemetry.service.validation`, field by field without building a model; a
body they are unsure of goes to the model, which is the reference
(`tests/service/test_validation_parity.py`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from telemetry.core.fields import JSON_FIELDS
from telemetry.effects.records import COUNT_FIELDS
from telemetry.service.validation import (
    COMMIT_HASH_PATTERN,
    CREATE_FIELDS,
    IGNORED_FIELDS,
    MAX_INTEGER,
    PATCH_FIELDS,
    create_default,
    commit_source,
    commit_timestamp,
    event_id_text,
    model_create,
    model_patch,
    stored_status_of,
    utc_timestamp,
)

class _Unsure(Exception):
    """The quick checks leave this body to the pydantic model."""


def _text(value: Any) -> Any:
    if value is None or type(value) is str:
        return value
    raise _Unsure


def _required_text(value: Any) -> str:
    if type(value) is str and value:
        return value
    raise _Unsure


def _count(value: Any) -> int:
    if type(value) is int and 0 <= value <= MAX_INTEGER:
        return value
    raise _Unsure


def _event_id(value: Any) -> str:
    if type(value) is not str or not value:
        raise _Unsure
    try:
        return event_id_text(value)
    except ValueError:
        raise _Unsure from None


def _any(value: Any) -> Any:
    return value


def _checked(rule: Callable[[str], str]) -> Callable[[Any], str]:
    """A string rule of the models (ValueError = refused) as a quick check."""

    def check(value: Any) -> str:
        if type(value) is not str:
            raise _Unsure
        try:
            return rule(value)
        except ValueError:
            raise _Unsure from None

    return check


def _commit_hash(value: str) -> str:
    if _COMMIT_HASH.fullmatch(value) is None:
        raise ValueError("not a commit hash")
    return value.lower()


def _or_none(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else check(value)


def _quick_check(name: str) -> Callable[[Any], Any]:
    """The quick check of a field, mirroring `_field_type`."""
    if name == "event_id":
        return _event_id
    if name in ("run_id", "agent_name", "job_type"):
        return _required_text
    if name in ("start_time", "status"):
        return _checked(utc_timestamp if name == "start_time" else stored_status_of)
    if name in COUNT_FIELDS:
        return _count
    if name in ("end_time", "heartbeat_at", "git_commit_timestamp"):
        return _or_none(_checked(commit_timestamp if name == "git_commit_timestamp" else utc_timestamp))
    if name in ("duration_ms", "git_commit_hash", "git_commit_source"):
        rule = {"duration_ms": _count, "git_commit_hash": _checked(_commit_hash)}.get(name, _checked(commit_source))
        return _or_none(rule)
    return _any if name in JSON_FIELDS else _text


_COMMIT_HASH = re.compile(COMMIT_HASH_PATTERN.strip("^$"))
_CREATE_CHECKS = {name: _quick_check(name) for name in CREATE_FIELDS}
_PATCH_CHECKS = {name: _CREATE_CHECKS[name] for name in PATCH_FIELDS}
_PATCH_ACCEPTED = _PATCH_CHECKS.keys() | IGNORED_FIELDS
_CREATE_DEFAULTS = {name: create_default(name) for name in CREATE_FIELDS}
_REQUIRED = frozenset(name for name, default in _CREATE_DEFAULTS.items() if default is ...)


def _quick_create(body: Any) -> dict[str, Any]:
    if type(body) is not dict or not _REQUIRED <= body.keys():
        raise _Unsure
    row = dict(_CREATE_DEFAULTS)
    for name, value in body.items():
        check = _CREATE_CHECKS.get(name)
        if check is not None:
            row[name] = check(value)
        elif name not in IGNORED_FIELDS:
            raise _Unsure
    return row


def validated_create(body: Any) -> dict[str, Any]:
    """The row values of a create body (`IGNORED_FIELDS` dropped); ValidationError."""
    try:
        return _quick_create(body)
    except _Unsure:
        return model_create(body)


def validated_patch(body: Any) -> dict[str, Any]:
    """The fields a PATCH body sets, by name (`IGNORED_FIELDS` dropped); ValidationError."""
    if type(body) is dict and body.keys() <= _PATCH_ACCEPTED:
        try:
            # In PATCH_FIELDS order, as the model path gives them (`updated_fields` lists them).
            return {name: check(body[name]) for name, check in _PATCH_CHECKS.items() if name in body}
        except _Unsure:
            pass
    return model_patch(body)
