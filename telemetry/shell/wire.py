"""How records look on the wire and on disk: the JSON body of a create, the body of a
PATCH, NDJSON backup lines and buffer files, and the way back from JSON to records."""

from __future__ import annotations

from typing import Any, Literal

import attrs
import orjson

from telemetry.effects.records import RECORD_FIELDS, STORED_STATUSES, BufferEntry, RunEvent, RunRecord
from telemetry.effects.vocabulary import NdjsonKind

BUFFER_FORMAT = "telemetry-buffer/1"
_SERVER_FIELDS = ("created_at", "updated_at")
_KNOWN_FIELDS = frozenset(RECORD_FIELDS)
_CLIENT_FIELDS = _KNOWN_FIELDS - set(_SERVER_FIELDS)
Operation = Literal["create", "update"]
_IDENTITY_FIELDS = ("event_id", "run_id", "agent_name", "job_type", "start_time")


class WireFormatError(ValueError):
    """A JSON document that is not what this format expects."""


def record_to_wire(record: RunRecord) -> dict[str, Any]:
    """The create body: every field the client knows, without the server's timestamps."""
    body = attrs.asdict(record, recurse=False)
    for name in _SERVER_FIELDS:
        del body[name]
    return body


def patch_body(record: RunRecord, fields: tuple[str, ...]) -> dict[str, Any]:
    """The PATCH body: the named fields, with their values in `record`."""
    return {name: getattr(record, name) for name in fields}


def record_from_wire(body: dict[str, Any]) -> RunRecord:
    """A record from a create body or a stored row; unknown keys are ignored."""
    try:
        return RunRecord(**{name: body[name] for name in RECORD_FIELDS if name in body})
    except (TypeError, ValueError) as error:
        raise WireFormatError(f"not a run record: {error}") from error


def _default(value: Any) -> Any:
    """Values orjson cannot write natively (sets, objects) become their text, so one odd
    payload value never costs the whole line."""
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


def dumps(value: Any) -> bytes:
    """Compact JSON bytes; non-string dict keys and unknown objects are written as text."""
    return orjson.dumps(value, default=_default, option=orjson.OPT_NON_STR_KEYS)


def ndjson_line(kind: NdjsonKind, body: RunRecord | RunEvent) -> bytes:
    """One backup line, newline included: `{"kind": ..., "record" | "event": {...}}`."""
    if isinstance(body, RunEvent):
        event = {
            "run_id": body.run_id,
            "event_type": body.event_type,
            "timestamp": body.timestamp.isoformat(),
            "payload": body.payload,
        }
        return dumps({"kind": kind, "event": event}) + b"\n"
    return dumps({"kind": kind, "record": record_to_wire(body)}) + b"\n"


def buffer_document(entry: BufferEntry, buffered_at: str) -> bytes:
    """The content of one buffer file."""
    return dumps(
        {
            "format": BUFFER_FORMAT,
            "operation": entry.operation,
            "fields": list(entry.fields),
            "record": record_to_wire(entry.record),
            "buffered_at": buffered_at,
        }
    )


def _document_parts(content: bytes) -> tuple[Operation, list[str], dict[str, Any]]:
    """(operation, fields, record body) of a buffer file; `WireFormatError` if it is not one."""
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError as error:
        raise WireFormatError(f"not JSON: {error}") from error
    if not isinstance(document, dict) or document.get("format") != BUFFER_FORMAT:
        raise WireFormatError("not a telemetry buffer file")
    operation = document.get("operation")
    fields = document.get("fields")
    record = document.get("record")
    if operation not in ("create", "update") or not isinstance(fields, list) or not isinstance(record, dict):
        raise WireFormatError("buffer file lacks operation, fields or record")
    if not all(isinstance(name, str) for name in fields) or not _KNOWN_FIELDS.issuperset(fields):
        raise WireFormatError("buffer file names unknown fields")
    return operation, fields, record


def parse_buffer_document(content: bytes) -> BufferEntry:
    """The entry a buffer file holds; `WireFormatError` if it is not one."""
    operation, fields, record = _document_parts(content)
    return BufferEntry(operation, record_from_wire(record), tuple(fields))


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


def parse_buffer_wire(content: bytes) -> WireEntry:
    """The entry a buffer file holds, without building a `RunRecord` (sync's hot path): only
    the shape sync itself relies on is checked - the identity fields are text, the status is
    a stored one (folding compares it), and an update's fields are in its record."""
    operation, fields, body = _document_parts(content)
    if not all(isinstance(body.get(name), str) for name in _IDENTITY_FIELDS):
        raise WireFormatError("buffer record lacks its identity fields")
    if body.get("status", "running") not in STORED_STATUSES or not body.keys() >= set(fields):
        raise WireFormatError("buffer record has no stored status or lacks a field its update names")
    if not _CLIENT_FIELDS.issuperset(body):  # e.g. server timestamps: never part of a create
        body = {name: value for name, value in body.items() if name in _CLIENT_FIELDS}
    return WireEntry(operation, tuple(fields), body)
