"""The HTTP server: HubSpot's events and CRM paths, and the JavaScript collector.

``create_app`` is the API's composition point; ``cbe serve`` and the tests both call it with
services built by :func:`cli.bootstrap.open_services`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import openapi, versions
from api.errors import HANDLERS, error_response
from api.guards import HostPolicy, OriginPolicy, RequireHost, bearer_matches
from api.hotpath import SingleSends
from api.ratelimit import HubSpotRateLimit
from api.routes import (
    collector,
    completions,
    crm,
    definitions,
    events,
    forwarding,
    rejections,
    send,
    trace,
    validate,
)
from api.sendqueue import SendQueue
from core.forwarding import Forwarder
from core.ingestion import Mode
from core.ratelimit import HUBSPOT, RateLimiter, RateLimits
from core.services import Services

_log = logging.getLogger("cbe.api")

MAX_BODY_BYTES = 8 * 1024 * 1024
"""A full batch (500 inputs x 50 properties x 256 characters) is about 6.4 MB."""

MAX_COLLECTOR_BODY_BYTES = 64 * 1024
"""A beacon from ``tracking.js`` is a few KB: 50 properties of 256 characters (1,024 for URLs)
and the page's details. The public collector takes no more, so an anonymous sender cannot make
the server parse, hold and cut megabytes."""

PUBLIC_PATHS = ("/tracking.js", "/__ptbe.gif", "/cbe/v1/collect", "/docs", "/openapi.json")
COLLECTOR_PATHS = ("/cbe/v1/collect", "/__ptbe.gif")


def _size(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    return f"{limit // 1024} KiB"


class BodyLimit:
    """Refuse request bodies over their limit with 413, whether or not they say their size:
    ``limit`` in general, ``collector_limit`` on the public collector.

    A body without ``Content-Length`` (chunked) is counted as it arrives; once it passes the
    limit, whatever the application then answers (FastAPI turns a failed read into a 400) is
    replaced by the 413, unless the answer had already begun.
    """

    def __init__(self, app: ASGIApp, limit: int, collector_limit: int | None = None) -> None:
        self.app = app
        self.limit = limit
        self.collector_limit = limit if collector_limit is None else collector_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.collector_limit if scope["path"].startswith(COLLECTOR_PATHS) else self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._too_large(scope, receive, send, limit)
            return
        seen = 0
        exceeded = False
        started = False

        async def counted() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise _TooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the 413 is sent instead
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._too_large(scope, receive, send, limit)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = error_response(
            413,
            f"The request body is larger than {_size(limit)}.",
            "VALIDATION_ERROR",
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


class _Cors(CORSMiddleware):
    """CORS whose origins are the :class:`OriginPolicy` the collector also enforces."""

    def __init__(self, app: ASGIApp, policy: OriginPolicy) -> None:
        super().__init__(
            app,
            allow_origins=[o for o in policy.allowed if o == "*"],
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["content-type", "x-cbe-tag"],
        )
        self.policy = policy

    def is_allowed_origin(self, origin: str) -> bool:
        return self.policy.allows(origin)

    def preflight_response(self, request_headers: Headers) -> Response:
        """Starlette's preflight answer, its refusals in HubSpot's error shape."""
        response = super().preflight_response(request_headers)
        if response.status_code == 200:
            return response
        origin = request_headers["origin"]
        if not self.is_allowed_origin(origin):
            return error_response(
                403,
                f"Pages on {origin} may not send to this server; it takes "
                f"{self.policy.describe()} (`cbe serve --allow-origin` names others).",
                "FORBIDDEN",
            )
        return error_response(
            400, bytes(response.body).decode() + " in this preflight.", "VALIDATION_ERROR"
        )


class RequireToken:
    """Answer 401 unless the request carries ``Authorization: Bearer <token>``; the
    collector, the tracking script, the docs and CORS preflights are public.

    Plain ASGI rather than ``@app.middleware("http")``, which runs every request in a task of
    its own and streams the response through a queue: a third of the time of a single send.
    """

    def __init__(self, app: ASGIApp, token: bytes) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] == "OPTIONS"
            or scope["path"].startswith(PUBLIC_PATHS)
            or self._allowed(scope)
        ):
            await self.app(scope, receive, send)
            return
        response = error_response(
            401,
            "Authentication credentials not found or invalid: send "
            "'Authorization: Bearer <token>' with the token `cbe portal --json` prints.",
            "INVALID_AUTHENTICATION",
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                return bearer_matches(value, self.token)
        return False


def workflow_clock(services: Services, seconds: float) -> Callable[[FastAPI], Any]:
    """A lifespan that moves workflows along every few seconds while the server runs (maximum
    waits and delays expire by the clock; completions move records on at once anyway)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def tick() -> None:
            while True:
                await asyncio.sleep(seconds)
                try:
                    await run_in_threadpool(services.workflows.advance)
                except Exception:  # keep ticking; the next run retries
                    _log.exception("advancing workflows failed")

        task = asyncio.create_task(tick()) if seconds > 0 else None
        forwarder: Forwarder | None = app.state.forwarder
        relay: threading.Thread | None = None
        if forwarder is not None:
            relay = threading.Thread(target=forwarder.run, name="cbe-forward", daemon=True)
            relay.start()
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            await run_in_threadpool(app.state.send_queue.close)
            if forwarder is not None and relay is not None:
                forwarder.stop()  # what is still owed stays in the outbox for the next run
                await run_in_threadpool(relay.join, 5.0)

    return lifespan


def create_app(
    services: Services,
    access_token: str,
    allowed_origins: Sequence[str] = (),
    public_url: str | None = None,
    workflow_seconds: float = 5.0,
    allowed_hosts: Sequence[str] = (),
    bound_host: str | None = None,
    strict: bool = False,
    rate_limit: RateLimits | None = None,
    forwarder: Forwarder | None = None,
    hot_path: bool = True,
) -> FastAPI:
    """The cbe HTTP application for one portal.

    ``allowed_origins`` are the web origins whose pages may send completions to the collector
    (localhost on any port when empty). ``public_url`` is the address pages reach the server at
    (for the tracking script); by default the address the script was requested from.
    ``allowed_hosts`` are names besides localhost, IP addresses, ``public_url``'s host and
    ``bound_host`` (when a name) that requests may address the server by. ``strict``: the send
    endpoints refuse everything at once, an unknown record and a repeated uuid included (else
    they answer as HubSpot does, see :class:`core.ingestion.Mode`). ``rate_limit``: HubSpot's
    limits to enforce (429 over them); without it the ``X-HubSpot-RateLimit-*`` headers still
    count against Free's limits, as HubSpot sends them, but nothing is refused.
    ``forwarder``: relay every accepted completion to a remote portal (``--forward``).
    ``hot_path``: plain single sends answered in front of FastAPI (:mod:`api.hotpath`); off, every
    request goes through the router (the tests compare the two).
    """
    app = FastAPI(
        title="cbe",
        summary="HubSpot's custom behavioral events API, locally.",
        version="0.1.0",
        docs_url="/docs",
        redoc_url=None,
        lifespan=workflow_clock(services, workflow_seconds),
    )
    app.state.services = services
    app.state.forwarder = forwarder
    if forwarder is not None:
        services.ingestion.forwarding = True
        services.ingestion.forwarded.append(forwarder.wake)
    app.state.mode = mode = Mode.STRICT if strict else Mode.HUBSPOT
    app.state.send_queue = SendQueue(services.ingestion, mode=mode)
    app.state.public_url = public_url
    app.state.origins = origins = OriginPolicy(allowed_origins)
    token = access_token.encode()

    for exception, handler in HANDLERS.items():
        app.add_exception_handler(exception, handler)

    for router, prefixes in (
        (definitions.router, versions.DEFINITIONS),
        (send.router, versions.SEND),
        (events.router, versions.EVENTS),
    ):
        for prefix in prefixes:  # /docs describes v3; the dated paths are the same routes
            app.include_router(router, prefix=prefix, include_in_schema=prefix == prefixes[0])
    app.include_router(crm.router)
    app.include_router(collector.router)
    app.include_router(validate.router)
    app.include_router(rejections.router)
    app.include_router(forwarding.router)
    app.include_router(completions.router)
    app.include_router(trace.router)

    app.state.rate_limiter = RateLimiter(
        rate_limit or HUBSPOT, services.clock, enforce=rate_limit is not None
    )
    app.add_middleware(HubSpotRateLimit, limiter=app.state.rate_limiter)  # counts only tokens
    app.add_middleware(RequireToken, token=token)  # inside CORS: a 401 carries its headers
    app.add_middleware(_Cors, policy=origins)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES, collector_limit=MAX_COLLECTOR_BODY_BYTES)
    hosts = HostPolicy.serving(bound_host, public_url, allowed_hosts)
    app.add_middleware(RequireHost, policy=hosts)
    if hot_path:
        app.add_middleware(
            SingleSends,
            paths=versions.SEND,
            hosts=hosts,
            token=token,
            limit=MAX_BODY_BYTES,
            limiter=app.state.rate_limiter,
            queue=app.state.send_queue,
            handlers=HANDLERS,
        )
    openapi.install(app)
    return app
