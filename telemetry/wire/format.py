"""How records look on the wire and on disk: the JSON body of a create, the body of a
PATCH, NDJSON backup lines and buffer files, and the way back from JSON to records.

A buffer file is a create or an update of a run record, or (`"operation": "commit"`) a
commit for a run the client did not hold, with its run id and no record."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

import attrs
import orjson

from telemetry.core.fields import SERVER_FIELDS
from telemetry.effects.records import (
    RECORD_FIELDS,
    STORED_STATUSES,
    BufferEntry,
    CommitDetails,
    CommitEntry,
    RunEvent,
    RunRecord,
)
from telemetry.effects.vocabulary import NdjsonKind

BUFFER_FORMAT = "telemetry-buffer/1"
_KNOWN_FIELDS = frozenset(RECORD_FIELDS)
_CLIENT_FIELDS = _KNOWN_FIELDS - set(SERVER_FIELDS)
Operation = Literal["create", "update"]
_IDENTITY_FIELDS = ("event_id", "run_id", "agent_name", "job_type", "start_time")
_COMMIT_KEYS = tuple(a.name for a in attrs.fields(CommitDetails))


def now_timestamp(moment: datetime) -> str:
    """The stored text of an aware moment (UTC, microseconds): how every timestamp is kept."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


class WireFormatError(ValueError):
    """A JSON document that is not what this format expects."""


def record_to_wire(record: RunRecord) -> dict[str, Any]:
    """The create body: every field the client knows, without the server's timestamps (a
    copy of the record's attribute dict: a fifth of the cost of `attrs.asdict`, on the
    NDJSON writer's path)."""
    body = dict(vars(record))
    for name in SERVER_FIELDS:
        del body[name]
    return body


def patch_body(record: RunRecord, fields: tuple[str, ...]) -> dict[str, Any]:
    """The PATCH body: the named fields, with their values in `record`."""
    return {name: getattr(record, name) for name in fields}


def _default(value: Any) -> Any:
    """Values orjson cannot write natively (sets, objects) become their text, so one odd
    payload value never costs the whole line."""
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def dumps(value: Any, option: int = 0) -> bytes:
    """Compact JSON bytes; non-string dict keys and unknown objects are written as text."""
    try:
        # Non-string keys are rare, and allowing them doubles orjson's cost: only on a retry.
        return orjson.dumps(value, default=_default, option=option)
    except orjson.JSONEncodeError:
        return orjson.dumps(value, default=_default, option=option | orjson.OPT_NON_STR_KEYS)


def ndjson_line(kind: NdjsonKind, body: RunRecord | RunEvent) -> bytes:
    """One backup line, newline included: the record's create body or the event's fields
    at the top level, with `kind` first (`jq 'select(.kind == "event") | .event_type'`)."""
    if isinstance(body, RunEvent):
        line = {
            "kind": kind,
            "run_id": body.run_id,
            "event_type": body.event_type,
            "timestamp": body.timestamp.isoformat(),
            "payload": body.payload,
        }
        return dumps(line, orjson.OPT_APPEND_NEWLINE)
    return dumps({"kind": kind, **record_to_wire(body)}, orjson.OPT_APPEND_NEWLINE)


def buffer_document(entry: BufferEntry | CommitEntry, buffered_at: str) -> bytes:
    """The content of one buffer file."""
    if isinstance(entry, CommitEntry):
        return dumps(
            {
                "format": BUFFER_FORMAT,
                "operation": "commit",
                "run_id": entry.run_id,
                "commit": attrs.asdict(entry.commit),
                "buffered_at": buffered_at,
            }
        )
    return dumps(
        {
            "format": BUFFER_FORMAT,
            "operation": entry.operation,
            "fields": list(entry.fields),
            "record": record_to_wire(entry.record),
            "buffered_at": buffered_at,
        }
    )


def _load_document(content: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError as error:
        raise WireFormatError(f"not JSON: {error}") from error
    if not isinstance(document, dict) or document.get("format") != BUFFER_FORMAT:
        raise WireFormatError("not a telemetry buffer file")
    return document


def _commit_entry(document: dict[str, Any]) -> CommitEntry:
    """The commit entry of a loaded buffer file; `WireFormatError` if it is not one."""
    run_id, commit = document.get("run_id"), document.get("commit")
    if not isinstance(run_id, str) or not isinstance(commit, dict) or commit.keys() != set(_COMMIT_KEYS):
        raise WireFormatError("commit buffer file lacks run_id or commit details")
    values = [commit[key] for key in _COMMIT_KEYS]
    if not all(isinstance(value, str) for value in values[:2]) or not all(
        value is None or isinstance(value, str) for value in values[2:]
    ):
        raise WireFormatError("commit details are not text")
    return CommitEntry(run_id, CommitDetails(*values))


def _document_parts(document: dict[str, Any]) -> tuple[Operation, list[str], dict[str, Any]]:
    """(operation, fields, record body) of a loaded create or update buffer file;
    `WireFormatError` if it is not one."""
    operation = document.get("operation")
    fields = document.get("fields")
    record = document.get("record")
    if operation not in ("create", "update") or not isinstance(fields, list) or not isinstance(record, dict):
        raise WireFormatError("buffer file lacks operation, fields or record")
    if not all(isinstance(name, str) for name in fields) or not _KNOWN_FIELDS.issuperset(fields):
        raise WireFormatError("buffer file names unknown fields")
    return operation, fields, record


@attrs.frozen
class WireEntry:
    """A buffer entry as sync forwards it: `body` is the create body the file holds, sent as
    is (the service validates it; what it refuses goes to `rejected/` with its reason)."""

    operation: Operation
    fields: tuple[str, ...]
    body: dict[str, Any]

    @property
    def event_id(self) -> str:
        return self.body["event_id"]  # type: ignore[no-any-return]


def parse_buffer_wire(content: bytes) -> WireEntry | CommitEntry:
    """The entry a buffer file holds, without building a `RunRecord` (sync's hot path): only
    the shape sync itself relies on is checked - the identity fields are text, the status is
    a stored one (folding compares it), and an update's fields are in its record."""
    document = _load_document(content)
    if document.get("operation") == "commit":
        return _commit_entry(document)
    operation, fields, body = _document_parts(document)
    if not all(isinstance(body.get(name), str) for name in _IDENTITY_FIELDS):
        raise WireFormatError("buffer record lacks its identity fields")
    if body.get("status", "running") not in STORED_STATUSES or not body.keys() >= set(fields):
        raise WireFormatError("buffer record has no stored status or lacks a field its update names")
    if not _CLIENT_FIELDS.issuperset(body):  # e.g. server timestamps: never part of a create
        body = {name: value for name, value in body.items() if name in _CLIENT_FIELDS}
    return WireEntry(operation, tuple(fields), body)
