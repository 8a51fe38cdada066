"""Small HTTP helpers the routes share: JSON replies written with orjson, JSON bodies read
with orjson (strict UTF-8: no lone surrogates reach the store), and 422 errors in FastAPI's
shape, naming the field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

T = TypeVar("T")


def json_response(content: Any, status_code: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status_code, media_type="application/json")


def invalid(location: tuple[str | int, ...], message: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 naming `location` (e.g. ("body", "start_time"))."""
    return RequestValidationError([{"type": kind, "loc": location, "msg": message}])


def parse_json(body: bytes) -> Any:
    """The JSON value of a request body; 422 (location `body`) if it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise invalid(("body",), f"body is not valid JSON: {error}", "json_invalid") from None


async def read_json(request: Request) -> Any:
    return parse_json(await request.body())


# How long a client should wait before retrying a 503 (the store was busy or failing).
RETRY_AFTER_SECONDS = "1"


def unavailable_detail(error: Exception) -> dict[str, Any]:
    """The body of a 503 (store unavailable); sent with `Retry-After`."""
    return {"detail": f"store unavailable: {error}"}


def not_found_detail(run_key: str, key_name: str = "event_id") -> str:
    """The `detail` of a 404 for an unknown run; says "not found", as LT clients look for."""
    return f"run not found: no run with {key_name} {run_key!r}"


def invalid_detail(error: RequestValidationError) -> dict[str, Any]:
    """The body of a 422, as FastAPI's own handler writes it."""
    return {"detail": list(error.errors())}


def validated(validate: Callable[[Any], T], body: Any) -> T:
    """`validate(body)`, with a pydantic error turned into a 422 located in the body."""
    try:
        return validate(body)
    except ValidationError as error:
        errors = [{**item, "loc": ("body", *item["loc"])} for item in error.errors(include_url=False, include_context=False)]
        raise RequestValidationError(errors) from None


Replies = dict[int | str, dict[str, Any]]
INVALID_BODY: Replies = {
    422: {
        "description": "Validation Error (each error names the field)",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}},
    }
}
# Answers any route may give: a missing token (when auth is on), a body over the limit, a
# store that cannot serve right now.
COMMON_REPLIES: Replies = {
    401: {"description": "Missing or wrong bearer token (when the service requires one)"},
    413: {"description": "Request body over the size limit"},
    503: {"description": "The store cannot serve requests now; retry later"},
}


def body_schema(model: type[BaseModel] | None = None, *, array_of: type[BaseModel] | None = None) -> dict[str, Any]:
    """The OpenAPI `requestBody` of a route that reads its body itself (for speed and strict
    JSON), so the docs and schemathesis still know the shape."""
    item = (array_of or model or BaseModel).model_json_schema()
    schema = {"type": "array", "items": item} if array_of is not None else item
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
