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

import json
import logging
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
    Rule,
    StorageFull,
    StorageUnavailable,
    ValidationFailed,
    Violation,
    WritesRefused,
    violations_from_pydantic,
)

_log = logging.getLogger("cbe.api")


def error_body(
    message: str,
    category: str,
    violations: Iterable[Violation] = (),
    sub_category: str | None = None,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """A HubSpot error document; ``correlation_id``: the id a refused send is kept under."""
    violations = list(violations)
    errors = error_details(violations)
    context: dict[str, list[str]] = {}
    for v in violations:
        context.setdefault(v.field or "body", []).append(v.message)
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": correlation_id or str(uuid.uuid4()),
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


class _ErrorResponse(JSONResponse):
    """An error document in ASCII JSON: whatever text of the request it quotes (a lone
    surrogate included) cannot make the answer itself fail."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, allow_nan=False, separators=(",", ":")).encode("ascii")


def error_response(
    status: int,
    message: str,
    category: str,
    violations: Iterable[Violation] = (),
    headers: Mapping[str, str] | None = None,
    correlation_id: str | None = None,
) -> JSONResponse:
    return _ErrorResponse(
        error_body(message, category, violations, correlation_id=correlation_id),
        status_code=status,
        headers=headers,
    )


def _validation_message(violations: tuple[Violation, ...]) -> str:
    count = len(violations)
    first = str(violations[0]) if violations else "invalid input"
    more = f" ({count - 1} more in errors)" if count > 1 else ""
    return f"Invalid input: {first}{more}"


class BadBody(Exception):
    """A request body that is not JSON at all: the message says where and why."""


_JSON_PROBLEMS = {
    "Expecting value": "expected a value",
    "Expecting ':' delimiter": "expected ':'",
    "Expecting property name enclosed in double quotes": (
        "expected a property name in double quotes"
    ),
    "Unterminated string starting at": "a string that starts here is not closed",
    "Invalid control character at": "a control character in a string must be escaped",
    "Extra data": "unexpected text after the JSON value",
    "Invalid \\escape": "an invalid escape",
    "Invalid \\uXXXX escape": "an invalid \\uXXXX escape",
}


def _open_bracket(doc: str, pos: int) -> str | None:
    """The innermost array or object still open at ``pos`` (``[`` or ``{``)."""
    stack: list[str] = []
    in_string = escaped = False
    for char in doc[:pos]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append(char)
        elif char in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else None


def json_problem(msg: str, doc: str, pos: int) -> str:
    """Why and where a body is not JSON, in words: ``The body is not valid JSON: expected ','
    or '}' at line 1, column 92.``"""
    line = doc.count("\n", 0, pos) + 1
    column = pos - (doc.rfind("\n", 0, pos) + 1) + 1
    if msg == "Expecting ',' delimiter":
        closing = {"[": "']'", "{": "'}'"}.get(_open_bracket(doc, pos) or "", "a closing bracket")
        what = f"expected ',' or {closing}"
    else:
        what = _JSON_PROBLEMS.get(msg, msg[:1].lower() + msg[1:])
    return f"The body is not valid JSON: {what} at line {line}, column {column}."


TOO_DEEP = "The body is not usable JSON: its arrays and objects are nested too deeply."
NOT_UTF8 = "The body is not valid JSON: it is not UTF-8 text."


def read_json(raw: bytes) -> Any:
    """A request body as JSON, or :class:`BadBody` saying what is wrong with it."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise BadBody(json_problem(error.msg, error.doc, error.pos)) from None
    except UnicodeDecodeError:
        raise BadBody(NOT_UTF8) from None
    except RecursionError:
        raise BadBody(TOO_DEEP) from None


def _bad_body(message: str) -> JSONResponse:
    violation = Violation(field="body", rule=Rule.INVALID_JSON, message=message)
    return error_response(400, message, "VALIDATION_ERROR", [violation])


class Forbidden(Exception):
    """A request from a page the server does not take requests from."""


async def on_forbidden(_: Request, error: Exception) -> JSONResponse:
    return error_response(403, str(error), "FORBIDDEN")


async def on_bad_body(_: Request, error: Exception) -> JSONResponse:
    return _bad_body(str(error))


async def on_too_deep(_: Request, error: Exception) -> JSONResponse:
    return _bad_body(TOO_DEEP)


async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
    """Anything unforeseen: a 500, still in HubSpot's shape (and logged with its trace)."""
    _log.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return error_response(500, "The server failed to answer this request.", "INTERNAL_ERROR")


async def on_validation_failed(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ValidationFailed)
    return error_response(
        400,
        _validation_message(error.violations),
        "VALIDATION_ERROR",
        error.violations,
        correlation_id=error.reference,  # `cbe trace` finds the refused request by it
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
    for detail in details:
        if detail.get("type") == "json_invalid" and isinstance(error.body, str | bytes):
            doc = error.body if isinstance(error.body, str) else error.body.decode(errors="replace")
            loc = detail.get("loc", ())
            pos = loc[-1] if loc and isinstance(loc[-1], int) else 0
            return _bad_body(json_problem(str(detail.get("ctx", {}).get("error", "")), doc, pos))

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
    cause = error.__cause__  # FastAPI's "error parsing the body" hides why
    if isinstance(cause, RecursionError):
        return _bad_body(TOO_DEEP)
    if isinstance(cause, UnicodeDecodeError):
        return _bad_body(NOT_UTF8)
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


async def on_writes_refused(_: Request, error: Exception) -> JSONResponse:
    """A read-only or damaged database: the client may retry once it is repaired."""
    return error_response(503, str(error), "SERVICE_UNAVAILABLE")


HANDLERS = {
    WritesRefused: on_writes_refused,
    ValidationFailed: on_validation_failed,
    NotFound: on_not_found,
    Conflict: on_conflict,
    StorageUnavailable: on_storage_unavailable,
    RequestValidationError: on_request_validation,
    StarletteHTTPException: on_http_error,
    BadBody: on_bad_body,
    Forbidden: on_forbidden,
    RecursionError: on_too_deep,
    Exception: on_unexpected,
}
