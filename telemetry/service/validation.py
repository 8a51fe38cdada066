"""Every rule the service applies to what it is sent, in one place: the create, PATCH and
associate-commit bodies, timestamps, statuses, counts, commit fields and query filters.

- Field names come from `telemetry.effects.records` and `telemetry.core.fields`.
- Timestamps must be ISO 8601 with a zone; they are stored in UTC as
  `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (the client's own format), so text order is time order.
- Statuses accept the aliases of `telemetry.core.status.stored_status`, in any case.
- Counts and `duration_ms` are integers from 0 to 2**63-1 (SQLite's INTEGER)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema, create_model

from telemetry.core.fields import END_FIELDS, UPDATE_FIELDS
from telemetry.core.status import stored_status
from telemetry.effects.records import COMMIT_SOURCES, COUNT_FIELDS, RECORD_FIELDS, STORED_STATUSES

MAX_INTEGER = 2**63 - 1
SERVER_FIELDS = ("created_at", "updated_at")
CREATE_FIELDS = tuple(name for name in RECORD_FIELDS if name not in SERVER_FIELDS)
COMMIT_FIELDS = ("git_commit_hash", "git_commit_source", "git_commit_author", "git_commit_timestamp")
PATCH_FIELDS = (*END_FIELDS, *UPDATE_FIELDS, *COMMIT_FIELDS, "heartbeat_at")
# Fields whose distinct values `GET /api/v1/metadata/{field}` lists: the categorical ones.
METADATA_FIELDS = (
    "agent_name", "job_type", "status", "trigger_type", "product", "product_family",
    "platform", "subdomain", "website", "website_section", "environment", "host",
    "agent_owner", "git_repo", "git_branch",
)  # fmt: skip
# The hash rule of `telemetry.core.commits`, as a pattern the OpenAPI schema can carry.
COMMIT_HASH_PATTERN = r"^[0-9a-fA-F]{7,40}$"
_STATUS_INPUTS = (*STORED_STATUSES, "failed", "completed", "succeeded")


def utc_timestamp(value: str) -> str:
    """`value` (ISO 8601 with a zone) as the stored UTC text; ValueError otherwise."""
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise ValueError("no zone")
        return parsed.astimezone(timezone.utc).isoformat(timespec="microseconds")
    except (ValueError, OverflowError):
        raise ValueError("must be an ISO 8601 timestamp with a time zone, e.g. 2024-05-01T12:00:00+00:00") from None


def now_timestamp(now: datetime) -> str:
    """The stored text of an aware `now`."""
    return now.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _status(value: str) -> str:
    status = stored_status(value)
    if status is None:
        raise ValueError(f"must be one of {', '.join(_STATUS_INPUTS)}")
    return status


Timestamp = Annotated[str, AfterValidator(utc_timestamp), WithJsonSchema({"type": "string", "format": "date-time"})]
Status = Annotated[str, AfterValidator(_status), WithJsonSchema({"type": "string", "enum": list(_STATUS_INPUTS)})]
Count = Annotated[int, Field(ge=0, le=MAX_INTEGER, strict=True)]
RequiredText = Annotated[str, Field(min_length=1)]


def _commit_source(value: str) -> str:
    if value not in COMMIT_SOURCES:
        raise ValueError(f"must be one of {', '.join(COMMIT_SOURCES)}")
    return value


# Hashes are kept in lower case, as `telemetry.core.commits` keeps them.
CommitHash = Annotated[str, Field(pattern=COMMIT_HASH_PATTERN), AfterValidator(str.lower)]
CommitSource = Annotated[
    str, AfterValidator(_commit_source), WithJsonSchema({"type": "string", "enum": list(COMMIT_SOURCES)})
]


def _field_type(name: str) -> Any:
    """The type of a field; None is allowed unless the field always has a value."""
    if name in ("event_id", "run_id", "agent_name", "job_type"):
        return RequiredText
    if name == "start_time":
        return Timestamp
    if name == "status":
        return Status
    if name in COUNT_FIELDS:
        return Count
    if name in ("end_time", "heartbeat_at", "git_commit_timestamp"):
        return Timestamp | None
    if name == "duration_ms":
        return Count | None
    if name == "git_commit_hash":
        return CommitHash | None
    if name == "git_commit_source":
        return CommitSource | None
    if name in ("metrics_json", "context_json"):
        return Any
    return str | None


def _create_default(name: str) -> Any:
    if name in ("event_id", "run_id", "agent_name", "job_type", "start_time"):
        return ...
    defaults: dict[str, Any] = {"status": "running", "trigger_type": "cli"}
    return 0 if name in COUNT_FIELDS else defaults.get(name)


_FORBID_EXTRA = ConfigDict(extra="forbid")
RunCreate: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "RunCreate",
    __config__=_FORBID_EXTRA,
    __doc__="A run to store; a repeated event_id never overwrites the stored row.",
    **{name: (_field_type(name), _create_default(name)) for name in CREATE_FIELDS},
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
    commit_timestamp: Timestamp | None = None


def validated_create(body: Any) -> dict[str, Any]:
    """The row values of a create body (server-owned timestamps ignored); ValidationError."""
    if isinstance(body, dict) and any(name in body for name in SERVER_FIELDS):
        body = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
    return dict(RunCreate.model_validate(body).__dict__)


def validated_patch(body: Any) -> dict[str, Any]:
    """The fields a PATCH body sets, by name; ValidationError."""
    model = RunPatch.model_validate(body)
    return {name: getattr(model, name) for name in PATCH_FIELDS if name in model.model_fields_set}


def validated_commit(body: Any) -> CommitAssociation:
    return CommitAssociation.model_validate(body)


def error_reason(error: ValidationError) -> str:
    """One line naming each refused field and why, for batch results."""
    return "; ".join(
        f"{'.'.join(str(part) for part in item['loc']) or 'body'}: {item['msg']}" for item in error.errors()
    )
