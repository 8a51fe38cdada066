"""Reading buffer files back into entries, for tests: the package itself only ever reads
them in wire form (`telemetry.wire.format.parse_buffer_wire`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from telemetry.effects.records import RECORD_FIELDS, BufferEntry, CommitEntry, RunRecord
from telemetry.wire.format import WireFormatError, _commit_entry, _document_parts, _load_document


def record_from_wire(body: dict[str, Any]) -> RunRecord:
    """A record from a create body or a stored row; unknown keys are ignored."""
    try:
        return RunRecord(**{name: body[name] for name in RECORD_FIELDS if name in body})
    except (TypeError, ValueError) as error:
        raise WireFormatError(f"not a run record: {error}") from error


def parse_buffer_document(content: bytes) -> BufferEntry | CommitEntry:
    """The entry a buffer file holds; `WireFormatError` if it is not one."""
    document = _load_document(content)
    if document.get("operation") == "commit":
        return _commit_entry(document)
    operation, fields, record = _document_parts(document)
    return BufferEntry(operation, record_from_wire(record), tuple(fields))


def read_entry(path: Path | str) -> BufferEntry | CommitEntry:
    """The entry in `path`; `WireFormatError` if it is not a buffer file."""
    with open(path, "rb") as handle:
        return parse_buffer_document(handle.read())
