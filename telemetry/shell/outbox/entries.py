"""What an outbox frame holds. A segment's first frame is its header, `{"format":
"telemetry-outbox/1", "columns": [...]}`: the record fields, in the order every entry of
the segment lists their values. Each later frame is one entry, the JSON array
`[operation, fields, values]`: a run's `create` (no fields) or `update` (the fields it
sets), and the full record as values in column order, as a buffer file carries it. Values
without their names make the caller's encoding one `orjson.dumps` of a tuple, and the
courier sends the frames as they are: the batch endpoint takes `columns` once and the
items as arrays (`POST /api/v1/runs/batch-update`)."""

from __future__ import annotations

import operator
from typing import Any

import orjson

from telemetry.effects.records import RECORD_FIELDS, BufferEntry
from telemetry.wire.format import BUFFER_FORMAT, dumps

OUTBOX_FORMAT = "telemetry-outbox/1"
COLUMNS = tuple(name for name in RECORD_FIELDS if name not in ("created_at", "updated_at"))
_values = operator.attrgetter(*COLUMNS)


class EntryFormatError(ValueError):
    """A frame that checks out but is not an entry or a header of this format."""


def encode_entry(entry: BufferEntry) -> bytes:
    """The frame payload of a run's create or update (the caller's hot path)."""
    return dumps((entry.operation, entry.fields, _values(entry.record)))


def header() -> bytes:
    """The payload of a segment's first frame."""
    return orjson.dumps({"format": OUTBOX_FORMAT, "columns": COLUMNS})


def parse_header(payload: bytes) -> tuple[str, ...]:
    """The columns a segment's header names; `EntryFormatError` if it is not a header."""
    try:
        document = orjson.loads(payload)
        columns = document["columns"]
        if document["format"] != OUTBOX_FORMAT or not all(isinstance(name, str) for name in columns):
            raise EntryFormatError("not an outbox segment header")
        return tuple(columns)
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise EntryFormatError(f"not an outbox segment header: {error}") from error


def _parts(payload: bytes) -> tuple[str, list[str], list[Any]]:
    try:
        operation, fields, values = orjson.loads(payload)
    except (orjson.JSONDecodeError, TypeError, ValueError) as error:
        raise EntryFormatError(f"not an outbox entry: {error}") from error
    return operation, fields, values


def as_create(payload: bytes) -> bytes:
    """The entry as the create of its full record (for an update of a run the service
    does not hold)."""
    _, _, values = _parts(payload)
    return dumps(("create", (), values))


def as_buffer_document(payload: bytes, columns: tuple[str, ...], buffered_at: str) -> bytes:
    """The entry as a buffer file holds it (for `rejected/`); an unreadable payload is
    kept as it is."""
    try:
        operation, fields, values = _parts(payload)
    except EntryFormatError:
        return payload
    record = dict(zip(columns, values))
    document = {"format": BUFFER_FORMAT, "operation": operation, "fields": fields, "record": record, "buffered_at": buffered_at}
    return dumps(document)
