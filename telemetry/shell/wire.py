"""How records look on the wire and on disk: the JSON body of a create, the body of a
PATCH, NDJSON backup lines and buffer files, and the way back from JSON to records."""

from __future__ import annotations

from typing import Any

import attrs
import orjson

from telemetry.effects.records import RECORD_FIELDS, BufferEntry, RunEvent, RunRecord
from telemetry.effects.vocabulary import NdjsonKind

BUFFER_FORMAT = "telemetry-buffer/1"
_SERVER_FIELDS = ("created_at", "updated_at")


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


def parse_buffer_document(content: bytes) -> BufferEntry:
    """The entry a buffer file holds; `WireFormatError` if it is not one."""
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
    if not all(isinstance(name, str) and name in RECORD_FIELDS for name in fields):
        raise WireFormatError("buffer file names unknown fields")
    return BufferEntry(operation, record_from_wire(record), tuple(fields))
