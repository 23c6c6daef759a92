"""One error shape for every failure, and handlers that never leak internals.

Every error answer is ``{"error": {"status", "message", "details"}}``. Validation errors name the
field as a path (``customers[3].features.rfm_orders_30d``) and the customer's index in the batch.
Unexpected exceptions are logged with their trace server-side and answered with a bare 500: no
stack trace, exception text or file path reaches a client.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.logging import get_logger
from serving.schemas import MAX_TEXT_LENGTH

_log = get_logger(__name__)


class ApiError(Exception):
    """An answer other than 200 that the service chose to give, with a message for the caller."""

    def __init__(
        self,
        status: int,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details or []
        self.headers = headers


MAX_DETAILS = 50
"""Details an error answer lists at most (its message counts them all): a request with 200,000
unknown feature names must not get a 17 MB answer."""


def error_body(status: int, message: str, details: list[dict[str, Any]] | None = None) -> dict:
    shown = (details or [])[:MAX_DETAILS]
    return {"error": {"status": status, "message": message, "details": shown}}


def error_json(body: dict[str, Any]) -> bytes:
    """An error body as JSON bytes, compact and ASCII: the echo of a caller's text (an unknown
    id or feature name) may hold a lone surrogate, which UTF-8 cannot encode (a 500 before)."""
    return json.dumps(body, ensure_ascii=True, separators=(",", ":")).encode("ascii")


class ErrorResponse(JSONResponse):
    """Every error answer of the app, rendered by :func:`error_json`."""

    def render(self, content: Any) -> bytes:
        return error_json(content)


def field_path(location: tuple[Any, ...] | list[Any]) -> str:
    """``("body", "customers", 3, "features", "x")`` -> ``customers[3].features.x``."""
    path = ""
    for part in location[1:] if location and location[0] == "body" else location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def customer_index(location: tuple[Any, ...] | list[Any]) -> int | None:
    """The batch index in a location under ``customers`` or ``customer_ids``, if any."""
    parts = list(location)
    for name in ("customers", "customer_ids"):
        if name in parts:
            position = parts.index(name) + 1
            if position < len(parts) and isinstance(parts[position], int):
                return parts[position]
    return None


def validation_details(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as ``{field, customer_index, message}``, input values left out (they may
    be long or sensitive)."""
    details = []
    seen_values: set[tuple[Any, ...]] = set()
    too_long = {
        tuple(item.get("loc", ()))[:-1] for item in errors if item.get("type") == "string_too_long"
    }
    for item in errors:
        location = tuple(item.get("loc", ()))
        message = str(item.get("msg", "invalid value"))
        if item.get("type") == "json_invalid":
            # the location's last part is a character offset into the body, not a field
            offset = location[-1] if location and isinstance(location[-1], int) else None
            location = ("body",)
            message = "the body is not valid JSON" + (
                f" (at character {offset})" if offset is not None else ""
            )
        elif _is_feature_value(location):
            # one error per member of the value's union type (float, int, bool, str): one line
            location = location[:-1]
            if location in seen_values:
                continue
            seen_values.add(location)
            message = (
                f"text longer than {MAX_TEXT_LENGTH} characters"
                if location in too_long
                else "expected a number, true/false, text or null"
            )
        details.append(
            {
                "field": field_path(location),
                "customer_index": customer_index(location),
                "message": message,
            }
        )
    return details


_UNION_MEMBERS = {"float", "int", "bool", "str", "constrained-str"}


def _is_feature_value(location: tuple[Any, ...]) -> bool:
    """A location inside ``features.<name>`` ending in a member of ``FeatureValue``'s union."""
    return (
        len(location) >= 3
        and location[-3] == "features"
        and isinstance(location[-1], str)
        and location[-1] in _UNION_MEMBERS
    )


BATCH_FIELDS = {"/v1/score": "customers", "/v1/score/by-id": "customer_ids"}
"""Per route, the request body field that holds one entry per customer."""


def batch_limit_message(size: int, limit: int) -> str:
    return f"batch of {size} customers exceeds the limit of {limit}"


def oversized_batch(body: Any, field: str | None, limit: int) -> str | None:
    """The 413 message for a body whose batch ``field`` holds over ``limit`` entries, else None.

    The request models cap the batch field (``serving.app._batch_limited``), so an oversized
    batch always fails validation; it is answered here, from the raw body, with 413 rather than
    a 422, also when its entries are malformed.
    """
    entries = body.get(field) if isinstance(body, dict) and field is not None else None
    if isinstance(entries, list) and len(entries) > limit:
        return batch_limit_message(len(entries), limit)
    return None


_UNPARSABLE_BODY = "There was an error parsing the body"
"""FastAPI's detail when decoding the body raised something other than a JSON error."""


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, error: ApiError) -> JSONResponse:
        return ErrorResponse(
            error_body(error.status, error.message, error.details), error.status, error.headers
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        oversized = oversized_batch(
            error.body,
            BATCH_FIELDS.get(request.url.path),
            request.app.state.settings.max_batch_size,
        )
        if oversized is not None:
            # the size limit is the first thing a caller must fix: splitting the batch, not
            # correcting rows the service would refuse to score anyway
            return ErrorResponse(error_body(413, oversized), 413)
        details = validation_details(list(error.errors()))
        first = details[0] if details else {"field": "body", "message": "invalid request"}
        where = (
            f" (customer index {first['customer_index']})"
            if first.get("customer_index") is not None
            else ""
        )
        message = f"invalid request: {first['field']}{where}: {first['message']}"
        if len(details) > 1:
            message += f" (and {len(details) - 1} more)"
        return ErrorResponse(error_body(422, message, details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == _UNPARSABLE_BODY:
            # FastAPI's 400 for a body JSON cannot even decode (bytes that are not UTF-8, an
            # integer of thousands of digits); malformed JSON is a 422, and so is this.
            message = (
                "invalid request: body: cannot be read as JSON (bytes that are not UTF-8, or a "
                "number or nesting too large for a JSON parser)"
            )
            return ErrorResponse(error_body(422, message), 422)
        message = error.detail if isinstance(error.detail, str) else "request failed"
        return ErrorResponse(
            error_body(error.status_code, message), error.status_code, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        _log.error(
            "unhandled error", path=request.url.path, error_type=type(error).__name__, exc_info=True
        )
        return ErrorResponse(error_body(500, "internal error; the failure was logged"), 500)
