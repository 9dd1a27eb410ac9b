"""HubSpot's rate limit headers on every answer of the HubSpot paths, and its 429 over a limit.

The counting is :class:`core.ratelimit.RateLimiter`'s; this is where HTTP meets it. Only calls
that passed the token check count (HubSpot counts an app's calls), and only HubSpot's own paths
(``/events/...``, ``/crm/...``): cbe's own ``/cbe/v1/...`` (trace, validate, rejections) and the
public collector are neither counted nor limited, so looking up why a send failed never costs a
client its budget.
"""

from __future__ import annotations

import uuid

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.ratelimit import RateLimiter, Verdict

LIMITED_PATHS = ("/events/", "/crm/")


def rate_limit_body(message: str, policy: str) -> dict[str, str]:
    """HubSpot's 429 document: the usage guidelines' fields (``status``, ``message``,
    ``errorType``, ``correlationId``, ``policyName``, ``requestId``) and ``category``, which the
    v3 APIs' ``Error`` model requires, so a client parsing either shape reads it."""
    correlation_id = str(uuid.uuid4())
    return {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id,
        "category": "RATE_LIMITS",
        "policyName": policy,
        "requestId": correlation_id,
    }


def constant_headers(limiter: RateLimiter) -> list[tuple[bytes, bytes]]:
    """The headers that say the limits, as ASGI headers: the same on every answer."""
    return [
        (name.lower().encode(), value.encode()) for name, value in limiter.constant_headers.items()
    ]


def counted_headers(
    constant: list[tuple[bytes, bytes]], verdict: Verdict
) -> list[tuple[bytes, bytes]]:
    """What an admitted call's answer gains: the limits, then what is left of them."""
    return [
        *constant,
        (b"x-hubspot-ratelimit-daily-remaining", str(verdict.daily_remaining).encode()),
        (b"x-hubspot-ratelimit-remaining", str(verdict.remaining).encode()),
        (b"x-hubspot-ratelimit-secondly-remaining", str(verdict.secondly_remaining).encode()),
    ]


def refusal(verdict: Verdict) -> JSONResponse:
    """The 429 for a call ``verdict`` refused."""
    assert verdict.policy is not None and verdict.retry_after_seconds is not None
    return JSONResponse(
        rate_limit_body(verdict.message, verdict.policy),
        status_code=429,
        headers={**verdict.headers, "Retry-After": str(verdict.retry_after_seconds)},
    )


class HubSpotRateLimit:
    """Plain ASGI (as ``RequireToken``): adds the headers to the answer, or answers 429."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter
        self._constant = constant_headers(limiter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"
            or not scope["path"].startswith(LIMITED_PATHS)
        ):
            await self.app(scope, receive, send)
            return
        token = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                token = value
                break
        verdict = self.limiter.admit(token.decode("latin-1"))
        if not verdict.allowed:
            await refusal(verdict)(scope, receive, send)
            return
        extra = counted_headers(self._constant, verdict)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
