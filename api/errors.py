"""HubSpot's error shape for every failure the API answers.

```json
{"status": "error", "message": "...", "correlationId": "<uuid>", "category": "VALIDATION_ERROR",
 "context": {"<field>": ["<message>"]},
 "errors": [{"message": "...", "code": "VALUE_TOO_LONG", "in": "properties.make",
             "context": {"limit": ["256"], "actual": ["300"]}}]}
```

``category`` follows HubSpot (``VALIDATION_ERROR``, ``OBJECT_NOT_FOUND``, ``CONFLICT``,
``INVALID_AUTHENTICATION``); each violation of cbe's rules becomes one entry of ``errors`` with
the rule as ``code`` and the field as ``in``.

A write the disk refuses is cbe's own case, where HubSpot has no category to copy: a full disk
(or quota) is ``507 Insufficient Storage`` with category ``INSUFFICIENT_STORAGE``, any other
error of the disk ``503 Service Unavailable`` with ``STORAGE_UNAVAILABLE``; either way nothing of
the request was stored and sending it again later may succeed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import (
    Conflict,
    NotFound,
    StorageFull,
    StorageUnavailable,
    ValidationFailed,
    Violation,
    violations_from_pydantic,
)


def error_body(
    message: str,
    category: str,
    violations: Iterable[Violation] = (),
    sub_category: str | None = None,
) -> dict[str, Any]:
    """A HubSpot error document."""
    violations = list(violations)
    errors = error_details(violations)
    context: dict[str, list[str]] = {}
    for v in violations:
        context.setdefault(v.field or "body", []).append(v.message)
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
    }
    if sub_category:
        body["subCategory"] = sub_category
    if errors:
        body["context"] = context
        body["errors"] = errors
    return body


def error_details(violations: Iterable[Violation]) -> list[dict[str, Any]]:
    """Each violation as an entry of HubSpot's ``errors`` list."""
    details = []
    for v in violations:
        context = {"rule": [v.rule.value]}
        if v.limit is not None:
            context["limit"] = [str(v.limit)]
        if v.actual is not None:
            context["actual"] = [str(v.actual)]
        details.append(
            {"message": v.message, "code": v.rule.value, "in": v.field, "context": context}
        )
    return details


def error_response(
    status: int,
    message: str,
    category: str,
    violations: Iterable[Violation] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(message, category, violations), status_code=status, headers=headers
    )


def _validation_message(violations: tuple[Violation, ...]) -> str:
    count = len(violations)
    first = str(violations[0]) if violations else "invalid input"
    more = f" ({count - 1} more in errors)" if count > 1 else ""
    return f"Invalid input: {first}{more}"


async def on_validation_failed(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ValidationFailed)
    return error_response(
        400, _validation_message(error.violations), "VALIDATION_ERROR", error.violations
    )


async def on_not_found(_: Request, error: Exception) -> JSONResponse:
    return error_response(404, str(error), "OBJECT_NOT_FOUND")


async def on_conflict(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Conflict)
    return error_response(409, str(error), "CONFLICT", error.violations)


async def on_storage_unavailable(_: Request, error: Exception) -> JSONResponse:
    """507 ``INSUFFICIENT_STORAGE`` for a full disk, 503 ``STORAGE_UNAVAILABLE`` for another
    disk error: nothing of the request was stored."""
    if isinstance(error, StorageFull):
        return error_response(507, str(error), "INSUFFICIENT_STORAGE")
    return error_response(503, str(error), "STORAGE_UNAVAILABLE", headers={"Retry-After": "10"})


async def on_request_validation(_: Request, error: Exception) -> JSONResponse:
    """FastAPI's own checks of query parameters and bodies, in HubSpot's shape."""
    assert isinstance(error, RequestValidationError)
    details = error.errors()

    class _Adapter:
        def errors(self) -> list[Any]:
            found = []
            for detail in details:
                loc = [str(p) for p in detail.get("loc", ()) if p not in ("body", "query", "path")]
                found.append({**detail, "loc": loc})
            return found

    violations = violations_from_pydantic(_Adapter())
    return error_response(
        400, _validation_message(tuple(violations)), "VALIDATION_ERROR", violations
    )


async def on_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 404:
        message = f"No route for {request.method} {request.url.path}."
        category = "OBJECT_NOT_FOUND"
    elif error.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}."
        category = "METHOD_NOT_ALLOWED"
    else:
        message = str(error.detail)
        category = "VALIDATION_ERROR" if error.status_code < 500 else "INTERNAL_ERROR"
    return error_response(error.status_code, message, category, headers=error.headers)


HANDLERS = {
    ValidationFailed: on_validation_failed,
    NotFound: on_not_found,
    Conflict: on_conflict,
    StorageUnavailable: on_storage_unavailable,
    RequestValidationError: on_request_validation,
    StarletteHTTPException: on_http_error,
}
