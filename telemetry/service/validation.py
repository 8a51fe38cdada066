"""Every rule the service applies to what it is sent, in one place: the create, PATCH and
associate-commit bodies, timestamps, statuses, counts, commit fields and query filters.

- Field names come from `telemetry.effects.records` and `telemetry.core.fields`.
- Timestamps must be ISO 8601 with a zone; they are stored in UTC as
  `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (the client's own format), so text order is time order.
  A commit's timestamp is git's, not ours: checked the same way but kept as sent, as LT does.
- The bookkeeping fields of LT clients (`IGNORED_FIELDS`) are accepted and dropped.
- Statuses accept the aliases of `telemetry.core.status.stored_status`, in any case.
- Counts and `duration_ms` are integers from 0 to 2**63-1 (SQLite's INTEGER).
- An `event_id` holds no `/` and no control character and is not `.` or `..`: it is a path
  segment of /api/v1/runs/{event_id}, and a run stored under an id that no URL can name
  (clients remove dot segments) would be out of every route's reach."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, create_model

from telemetry.core.fields import COMMIT_FIELDS, END_FIELDS, JSON_FIELDS, SERVER_FIELDS, UPDATE_FIELDS
from telemetry.core.status import stored_status
from telemetry.effects.records import COMMIT_SOURCES, COUNT_FIELDS, RECORD_FIELDS, STORED_STATUSES
from telemetry.wire.format import now_timestamp

MAX_INTEGER = 2**63 - 1
# Accepted in create and PATCH bodies, never stored: the server's own timestamps, and what
# LT's client adds about its own delivery (docs/compat.md), so an LT client works unchanged.
LT_BOOKKEEPING_FIELDS = ("schema_version", "api_posted", "api_posted_at", "api_retry_count", "record_type")
IGNORED_FIELDS = frozenset((*SERVER_FIELDS, *LT_BOOKKEEPING_FIELDS))
CREATE_FIELDS = tuple(name for name in RECORD_FIELDS if name not in SERVER_FIELDS)
PATCH_FIELDS = (*END_FIELDS, *UPDATE_FIELDS, *COMMIT_FIELDS, "heartbeat_at")
# The hash rule of `telemetry.core.commits`, as a pattern the OpenAPI schema can carry.
COMMIT_HASH_PATTERN = r"^[0-9a-fA-F]{7,40}$"
_STATUS_INPUTS = (*STORED_STATUSES, "failed", "completed", "succeeded")
_STORED_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")
# What design.md §5 leaves open about event_id, decided here: nothing that breaks its URL.
_EVENT_ID_REFUSED = re.compile(r"[/\x00-\x1f\x7f-\x9f]")
_DOT_SEGMENTS = (".", "..")
EVENT_ID_PATTERN = r"^(?!\.\.?$)[^/\u0000-\u001f\u007f-\u009f]+$"


def utc_timestamp(value: str) -> str:
    """`value` (ISO 8601 with a zone) as the stored UTC text; ValueError otherwise."""
    try:
        parsed = datetime.fromisoformat(value)
        if _STORED_FORM.fullmatch(value):
            return value  # already stored form (what our client sends): the cheap path
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise ValueError("no zone")
        return now_timestamp(parsed)
    except (ValueError, OverflowError):
        raise ValueError("must be an ISO 8601 timestamp with a time zone, e.g. 2024-05-01T12:00:00+00:00") from None


def commit_timestamp(value: str) -> str:
    """`value`, as sent, if `utc_timestamp` accepts it: a commit's time is git's record, read
    back by LT clients as they wrote it, and no query orders by it."""
    utc_timestamp(value)
    return value


def event_id_text(value: str) -> str:
    """`value` if it can be a path segment of /api/v1/runs/{event_id}; ValueError otherwise."""
    if _EVENT_ID_REFUSED.search(value) is not None or value in _DOT_SEGMENTS:
        raise ValueError(
            "must not contain '/' or control characters, nor be '.' or '..' (it is a path segment of /api/v1/runs/{event_id})"
        )
    return value


def stored_status_of(value: str) -> str:
    status = stored_status(value)
    if status is None:
        raise ValueError(f"must be one of {', '.join(_STATUS_INPUTS)}")
    return status


_DATE_TIME = WithJsonSchema({"type": "string", "format": "date-time"})
Timestamp = Annotated[str, AfterValidator(utc_timestamp), _DATE_TIME]
CommitTimestamp = Annotated[str, AfterValidator(commit_timestamp), _DATE_TIME]
Status = Annotated[str, AfterValidator(stored_status_of), WithJsonSchema({"type": "string", "enum": list(_STATUS_INPUTS)})]
Count = Annotated[int, Field(ge=0, le=MAX_INTEGER, strict=True)]
RequiredText = Annotated[str, Field(min_length=1)]
EventId = Annotated[
    str,
    Field(min_length=1),
    AfterValidator(event_id_text),
    WithJsonSchema({"type": "string", "minLength": 1, "pattern": EVENT_ID_PATTERN}),
]


def commit_source(value: str) -> str:
    if value not in COMMIT_SOURCES:
        raise ValueError(f"must be one of {', '.join(COMMIT_SOURCES)}")
    return value


# Hashes are kept in lower case, as `telemetry.core.commits` keeps them.
CommitHash = Annotated[str, Field(pattern=COMMIT_HASH_PATTERN), AfterValidator(str.lower)]
CommitSource = Annotated[
    str, AfterValidator(commit_source), WithJsonSchema({"type": "string", "enum": list(COMMIT_SOURCES)})
]


def _field_type(name: str) -> Any:
    """The type of a field; None is allowed unless the field always has a value."""
    if name == "event_id":
        return EventId
    if name in ("run_id", "agent_name", "job_type"):
        return RequiredText
    if name == "start_time":
        return Timestamp
    if name == "status":
        return Status
    if name in COUNT_FIELDS:
        return Count
    if name in ("end_time", "heartbeat_at"):
        return Timestamp | None
    if name == "git_commit_timestamp":
        return CommitTimestamp | None
    if name == "duration_ms":
        return Count | None
    if name == "git_commit_hash":
        return CommitHash | None
    if name == "git_commit_source":
        return CommitSource | None
    if name in JSON_FIELDS:
        return Any
    return str | None


def create_default(name: str) -> Any:
    if name in ("event_id", "run_id", "agent_name", "job_type", "start_time"):
        return ...
    defaults: dict[str, Any] = {"status": "running", "trigger_type": "cli"}
    return 0 if name in COUNT_FIELDS else defaults.get(name)


_FORBID_EXTRA = ConfigDict(extra="forbid")
RunCreate: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "RunCreate",
    __config__=_FORBID_EXTRA,
    __doc__="A run to store; a repeated event_id never overwrites the stored row.",
    **{name: (_field_type(name), create_default(name)) for name in CREATE_FIELDS},
)
# PATCH fields default to None but are never validated as None unless given: which fields
# were sent is `model_fields_set`, and a null for a non-nullable field is refused.
RunPatch: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "RunPatch",
    __config__=_FORBID_EXTRA,
    __doc__="Fields of a run to change; `running` never replaces a terminal status.",
    **{name: (_field_type(name), None) for name in PATCH_FIELDS},
)


class CommitAssociation(BaseModel):
    """A git commit to record on a run."""

    model_config = _FORBID_EXTRA
    commit_hash: CommitHash
    commit_source: CommitSource
    commit_author: str | None = None
    commit_timestamp: CommitTimestamp | None = None


# The models are the reference; the quick checks of `telemetry.service.fast_validation`
# accept the common, valid bodies without them (pydantic is a quarter of the service's CPU
# per batched run: bench/README.md) and leave anything doubtful to these models.
# tests/service/test_validation_parity.py checks that both paths give the same result.
def model_create(body: Any) -> dict[str, Any]:
    """`validated_create` by the pydantic model alone (the reference of the quick checks)."""
    return dict(RunCreate.model_validate(_without_ignored(body)).__dict__)


def _without_ignored(body: Any) -> Any:
    if isinstance(body, dict) and not IGNORED_FIELDS.isdisjoint(body):
        return {name: value for name, value in body.items() if name not in IGNORED_FIELDS}
    return body


def model_patch(body: Any) -> dict[str, Any]:
    """`validated_patch` by the pydantic model alone (the reference of the quick checks)."""
    model = RunPatch.model_validate(_without_ignored(body))
    return {name: getattr(model, name) for name in PATCH_FIELDS if name in model.model_fields_set}


def validated_commit(body: Any) -> CommitAssociation:
    return CommitAssociation.model_validate(body)


def error_reason(error: ValidationError) -> str:
    """One line naming each refused field and why, for batch results."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}" for item in error.errors()
    )
