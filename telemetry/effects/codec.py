"""JSON codec for effects and the records they carry, so an effect log can be written,
read back, replayed against a service or simulated in tests.

Every attrs object becomes an object tagged with `"type": ClassName`; tuples become
lists; datetimes become `{"type": "datetime", "iso": ...}`. Fields that hold the user's
own JSON (`payload`, `metrics_json`, `context_json`) are copied as they are and never
decoded, so a user dict that happens to contain a `"type"` key stays a dict."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

import attrs

from telemetry.effects.records import BufferEntry, CommitDetails, CommitEntry, RunEvent, RunRecord
from telemetry.effects.vocabulary import EFFECT_TYPES, Effect

_USER_JSON_FIELDS = frozenset({"payload", "metrics_json", "context_json"})
_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (*EFFECT_TYPES, RunRecord, RunEvent, CommitDetails, BufferEntry, CommitEntry)
}


_PLAIN = frozenset({str, int, float, bool, type(None)})
# Field names by attrs class, read once per class.
_CLASS_FIELDS: dict[type, tuple[str, ...]] = {}


class CodecError(ValueError):
    """The JSON does not describe an effect this codec knows."""


def to_jsonable(value: Any) -> Any:
    """Turn an effect, record or any value inside them into plain JSON types."""
    kind = type(value)
    if kind in _PLAIN:  # most fields: returned before any other check (effect logs encode many)
        return value
    if kind in _CLASS_FIELDS or attrs.has(kind):
        names = _CLASS_FIELDS.get(kind) or _CLASS_FIELDS.setdefault(kind, tuple(f.name for f in attrs.fields(kind)))
        encoded: dict[str, Any] = {"type": kind.__name__}
        for name in names:
            item = getattr(value, name)
            encoded[name] = item if name in _USER_JSON_FIELDS else to_jsonable(item)
        return encoded
    if isinstance(value, tuple):
        return [to_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return {"type": "datetime", "iso": value.isoformat()}
    return value


def from_jsonable(value: Any) -> Any:
    """Inverse of `to_jsonable`."""
    if isinstance(value, list):
        return tuple(from_jsonable(item) for item in value)
    if not isinstance(value, dict) or "type" not in value:
        return value
    tag = value["type"]
    if tag == "datetime":
        return datetime.fromisoformat(value["iso"])
    cls = _CLASSES.get(tag)
    if cls is None:
        raise CodecError(f"unknown type tag {tag!r}")
    kwargs = {
        name: item if name in _USER_JSON_FIELDS else from_jsonable(item)
        for name, item in value.items()
        if name != "type"
    }
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as error:
        raise CodecError(f"cannot build {tag}: {error}") from error


def encode_effect(effect: Effect) -> str:
    """One effect as one line of JSON."""
    return json.dumps(to_jsonable(effect), separators=(",", ":"), sort_keys=True)


def decode_effect(line: str) -> Effect:
    """Read back a line written by `encode_effect`."""
    decoded = from_jsonable(json.loads(line))
    if not isinstance(decoded, EFFECT_TYPES):
        raise CodecError(f"not an effect: {line[:80]!r}")
    return cast(Effect, decoded)
