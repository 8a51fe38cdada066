"""Creating and updating runs, whoever serves the request: the body's bytes in, the status
code and JSON reply out (or RequestValidationError, a 422). The FastAPI routes (which
document these endpoints) and the fast lane (which serves them) both call these, so both
behave the same."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError

from telemetry.service.http import invalid, not_found_detail, parse_json, validated
from telemetry.service.store import Row, Store
from telemetry.service.fast_validation import validated_create, validated_patch
from telemetry.service.validation import error_reason

Reply = tuple[int, Any]


async def create_one(store: Store, body: bytes) -> Reply:
    """Store a run: 201 created/duplicate (a known event_id is never overwritten); raises
    RequestValidationError (422) naming the refused fields."""
    row = validated(validated_create, parse_json(body))
    [status] = await store.insert([row])
    return 201, {"status": status, "event_id": row["event_id"], "run_id": row["run_id"]}


def _item_result(index: int, item: Any, rows: list[Row]) -> dict[str, Any]:
    """Validate one batch item: its row joins `rows`, or its result says why not."""
    event_id = item.get("event_id") if isinstance(item, dict) else None
    try:
        rows.append(validated_create(item))
    except ValidationError as error:
        known = event_id if isinstance(event_id, str) else None
        return {"index": index, "event_id": known, "status": "error", "reason": error_reason(error)}
    return {"index": index, "event_id": event_id, "status": "created"}


async def create_many(store: Store, body: bytes) -> Reply:
    """Store every valid item of a JSON array; 200 with one result per item, in order;
    RequestValidationError (422) if the body is not an array."""
    items = parse_json(body)
    if not isinstance(items, list):
        raise invalid(("body",), "body must be a JSON array of runs", "list_type")
    rows: list[Row] = []
    results = [_item_result(index, item, rows) for index, item in enumerate(items)]
    statuses = iter(await store.insert(rows) if rows else [])
    errors = []
    for result in results:
        if result["status"] == "error":
            errors.append({"index": result["index"], "event_id": result["event_id"], "reason": result["reason"]})
        else:
            result["status"] = next(statuses)
    inserted = sum(1 for result in results if result["status"] == "created")
    return 200, {"inserted": inserted, "duplicates": len(rows) - inserted, "errors": errors, "results": results}


async def update_one(store: Store, event_id: str, body: bytes) -> Reply:
    """Apply a PATCH: 200 with the fields set (`running` never replaces a terminal status),
    404 for an unknown run; RequestValidationError (422) naming the refused fields."""
    changes = validated(validated_patch, parse_json(body))
    updated = await store.update(event_id, changes, datetime.now(timezone.utc))
    if updated is None:
        return 404, {"detail": not_found_detail(event_id)}
    return 200, {"status": "updated", "event_id": event_id, "updated_fields": updated}
