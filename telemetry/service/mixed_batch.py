"""`POST /api/v1/runs/batch-update`: a list of creates and updates, in order, each answered
on its own (like `/runs/batch`). An item is a buffer entry as the client keeps it:
`{"operation": "create" | "update", "record": {...}, "fields": [...]}` (other keys, such as
the buffer's `format` and `buffered_at`, are ignored); an update sets the named `fields`
to their values in `record`. The body is a JSON array of items, or, as the client's outbox
sends it, `{"columns": [names...], "items": [[operation, fields, [values...]], ...]}`: the
record's field names once, and each item's values in their order. Built on the Store's
own methods:

- The creates are inserted in one `insert`; the updates that follow a run's create in the
  same request are folded into its row first (one write instead of several), applying the
  convergence rule as a PATCH would: `running` never replaces a terminal status.
- A create answered `duplicate` leaves the row alone; the updates folded into it are then
  applied as updates. Updates of runs with no create in the request are applied with
  `update`, concurrently across runs (the SQLite writer commits them in one group), in
  order within a run. An update of an unknown run is answered `not_found`, so the client
  can send the create of its full record.

Item statuses: `created`, `duplicate`, `updated`, `not_found`, `error` (with the reason)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from telemetry.service.http import invalid, parse_json
from telemetry.service.store import Row, Store, converged_changes
from telemetry.service.fast_validation import validated_create, validated_patch
from telemetry.service.validation import error_reason

Result = dict[str, Any]


class _Run:
    """The items of one run in a request: its create (the first one), the updates before it,
    and the updates after it, folded into the create's row."""

    __slots__ = ("create", "row", "before", "after")

    def __init__(self) -> None:
        self.create: Result | None = None
        self.row: Row | None = None
        self.before: list[tuple[Result, dict[str, Any]]] = []
        self.after: list[tuple[Result, dict[str, Any]]] = []


def _checked(index: int, item: Any) -> tuple[Result, str, bool, dict[str, Any] | None]:
    """The item's result (status settled later), its event id, whether it is a create, and
    its row (create) or changes (update); None, with the result saying `error`, when the
    item is not acceptable."""
    record = item.get("record") if isinstance(item, dict) else None
    event_id = record.get("event_id") if isinstance(record, dict) else None
    result: Result = {"index": index, "event_id": event_id if isinstance(event_id, str) else None, "status": ""}
    operation = item.get("operation") if isinstance(item, dict) else None
    reason = "operation: create or update, with a record holding an event_id"
    try:
        if operation == "create":
            return result, str(event_id), True, validated_create(record)
        if operation == "update" and isinstance(record, dict) and isinstance(event_id, str):
            fields = item.get("fields")
            if isinstance(fields, list) and all(isinstance(name, str) and name in record for name in fields):
                return result, event_id, False, validated_patch({name: record[name] for name in fields})
            reason = "fields: a list of the names of fields in record"
    except ValidationError as error:
        reason = error_reason(error)
    result.update(status="error", reason=reason)
    return result, "", False, None


def _group(items: list[Any]) -> tuple[list[Result], dict[str, _Run]]:
    results: list[Result] = []
    runs: dict[str, _Run] = {}
    for index, item in enumerate(items):
        result, event_id, create, values = _checked(index, item)
        results.append(result)
        if values is None:
            continue
        run = runs.setdefault(event_id, _Run())
        if create and run.create is None:
            run.create, run.row = result, values
        elif create:  # a second create of the run: it is there already
            result["status"] = "duplicate"
        else:
            (run.after if run.create is not None else run.before).append((result, values))
    return results, runs


def _fold(row: Row, updates: list[tuple[Result, dict[str, Any]]]) -> Row:
    for _, changes in updates:
        row.update(converged_changes(row.get("status", "running"), changes))
    return row


async def _apply_updates(store: Store, event_id: str, updates: list[tuple[Result, dict[str, Any]]]) -> None:
    for result, changes in updates:
        applied = await store.update(event_id, changes, datetime.now(timezone.utc))
        result["status"] = "not_found" if applied is None else "updated"


def _items(body: Any) -> list[Any]:
    """The items of a body in either form (see the module); 422 if it is in neither."""
    if isinstance(body, list):
        return body
    columns = body.get("columns") if isinstance(body, dict) else None
    items = body.get("items") if isinstance(body, dict) else None
    if not isinstance(columns, list) or not isinstance(items, list) or not all(isinstance(c, str) for c in columns):
        raise invalid(("body",), "body must be a JSON array of entries, or an object with columns and items", "list_type")
    return [_item(columns, item) for item in items]


def _item(columns: list[str], item: Any) -> Any:
    """An `[operation, fields, values]` item as a buffer entry (None when it is not one:
    answered `error`)."""
    if not isinstance(item, list) or len(item) != 3 or not isinstance(item[2], list) or len(item[2]) != len(columns):
        return None
    return {"operation": item[0], "fields": item[1], "record": dict(zip(columns, item[2]))}


async def apply_mixed(store: Store, body: bytes) -> tuple[int, Any]:
    """Apply a mixed batch: 200 with one result per item, in order; RequestValidationError
    (422) if the body is neither form."""
    results, runs = _group(_items(parse_json(body)))
    # Updates before a run's create in the request come first, as they were sent.
    await asyncio.gather(*(_apply_updates(store, event_id, run.before) for event_id, run in runs.items() if run.before))
    creating = [(run, _fold(run.row, run.after)) for run in runs.values() if run.create is not None and run.row is not None]
    statuses = await store.insert([row for _, row in creating]) if creating else []
    late = []
    for (run, row), status in zip(creating, statuses):
        assert run.create is not None
        run.create["status"] = status
        if status == "created":
            for result, _ in run.after:
                result["status"] = "updated"
        elif run.after:
            late.append(_apply_updates(store, row["event_id"], run.after))
    await asyncio.gather(*late)
    counts = {name: sum(1 for result in results if result["status"] == name) for name in ("created", "duplicate", "updated", "not_found", "error")}
    return 200, {**counts, "results": results}
