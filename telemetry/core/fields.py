"""Which record fields an agent may set, when, and with what values.

- `start_run` may set every descriptive field (`START_FIELDS`); `set_metrics` and
  `end_run` may set the fields an end may change (`UPDATE_FIELDS`). Commit fields change
  only through `associate_commit`, lifecycle fields only through the core itself.
- Counts are integers >= 0 (an integral float is taken as its integer; a bool is not a
  count). Text fields take strings, and numbers written as text. `metrics_json` and
  `context_json` take any JSON; a dict given where a dict is held is merged into it.
- A name that is not a record field is the agent's own metric: it is kept under that name
  in `metrics_json` (`context_json` at start), so nothing the agent says is dropped
  silently. A value of the wrong kind, or a field that cannot be set now, is refused with
  a warning and the rest still applies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from telemetry.effects.records import COUNT_FIELDS, RunRecord
from telemetry.effects.vocabulary import Log

JSON_FIELDS = ("metrics_json", "context_json")
# The server's own timestamps: stored by the service, never part of a create body.
SERVER_FIELDS = ("created_at", "updated_at")
# What `associate_commit` writes into a record.
COMMIT_FIELDS = ("git_commit_hash", "git_commit_source", "git_commit_author", "git_commit_timestamp")
_SUMMARY_FIELDS = ("input_summary", "output_summary", "error_summary", "error_details")
UPDATE_FIELDS: tuple[str, ...] = (
    *COUNT_FIELDS,
    *_SUMMARY_FIELDS,
    *JSON_FIELDS,
    "source_ref",
    "target_ref",
    "git_repo",
    "git_branch",
    "git_run_tag",
)
START_FIELDS: tuple[str, ...] = (
    *UPDATE_FIELDS,
    "product",
    "product_family",
    "platform",
    "subdomain",
    "website",
    "website_section",
    "item_name",
    "insight_id",
    "parent_run_id",
    "host",
    "environment",
    "agent_owner",
)
END_FIELDS = ("status", "end_time", "duration_ms")
_ALL_FIELDS = frozenset(a.name for a in attrs.fields(RunRecord))


def _as_count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _merged(held: Any, given: Any) -> Any:
    if isinstance(held, dict) and isinstance(given, dict):
        return {**held, **given}
    return given


def _held(record: RunRecord | None, name: str) -> Any:
    return None if record is None else getattr(record, name)


def _accepted_value(record: RunRecord | None, name: str, value: Any) -> tuple[bool, Any]:
    if name in COUNT_FIELDS:
        count = _as_count(value)
        return count is not None, count
    if name in JSON_FIELDS:
        return True, _merged(_held(record, name), value)
    if value is None:
        return True, None
    text = _as_text(value)
    return text is not None, text


def accepted_changes(
    record: RunRecord | None, given: Mapping[str, Any], allowed: tuple[str, ...], overflow: str
) -> tuple[dict[str, Any], tuple[Log, ...]]:
    """The acceptable `given` fields as changes to `record` (None: a run not yet built,
    holding nothing), and a warning per refusal.

    Names that are not record fields are collected into the JSON field `overflow`. The
    caller applies the changes together with its own in one `records.updated`, because
    rebuilding a 45-field record is the core's dominant cost."""
    changes: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    warnings: list[Log] = []
    for name, value in given.items():
        if name not in _ALL_FIELDS:
            extra[name] = value
        elif name not in allowed:
            warnings.append(Log("warning", f"field '{name}' cannot be set here; ignored"))
        else:
            ok, accepted = _accepted_value(record, name, value)
            if ok:
                changes[name] = accepted
            else:
                warnings.append(Log("warning", f"field '{name}' refused value {value!r}"))
    if extra:
        held = changes.get(overflow, _held(record, overflow))
        if held is not None and not isinstance(held, dict):
            warnings.append(Log("warning", f"{overflow} held {held!r}, not an object; replaced by {sorted(extra)}"))
        changes[overflow] = _merged(held, extra)
    return changes, tuple(warnings)
