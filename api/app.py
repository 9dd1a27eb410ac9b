"""The HTTP server: HubSpot's events and CRM paths, and the JavaScript collector.

``create_app`` is the API's composition point; ``cbe serve`` and the tests both call it with
services built by :func:`storage.bootstrap.open_services`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import openapi
from api.errors import HANDLERS, error_response
from api.routes import (
    collector,
    completions,
    crm,
    definitions,
    events,
    rejections,
    send,
    validate,
)
from api.sendqueue import SendQueue
from core.services import Services

_log = logging.getLogger("cbe.api")

MAX_BODY_BYTES = 8 * 1024 * 1024
"""A full batch (500 inputs x 50 properties x 256 characters) is about 6.4 MB."""

PUBLIC_PATHS = ("/tracking.js", "/__ptbe.gif", "/cbe/v1/collect", "/docs", "/openapi.json")
DEFAULT_ORIGINS = (r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?",)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, whether or not they say their size."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, counted, send)
        except _TooLarge:
            await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            f"The request body is larger than {self.limit // (1024 * 1024)} MiB.",
            "VALIDATION_ERROR",
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass


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
                scheme, _, given = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    given.strip(), self.token
                )
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
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
            await run_in_threadpool(app.state.send_queue.close)

    return lifespan


def create_app(
    services: Services,
    access_token: str,
    allowed_origins: Sequence[str] = (),
    public_url: str | None = None,
    workflow_seconds: float = 5.0,
) -> FastAPI:
    """The cbe HTTP application for one portal.

    ``allowed_origins`` are the web origins whose pages may send completions to the collector
    (localhost on any port when empty). ``public_url`` is the address pages reach the server at
    (for the tracking script); by default the address the script was requested from.
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
    app.state.send_queue = SendQueue(services.ingestion)
    app.state.public_url = public_url
    token = access_token.encode()

    for exception, handler in HANDLERS.items():
        app.add_exception_handler(exception, handler)

    app.include_router(definitions.router)
    app.include_router(send.router)
    app.include_router(events.router)
    app.include_router(crm.router)
    app.include_router(collector.router)
    app.include_router(validate.router)
    app.include_router(rejections.router)
    app.include_router(completions.router)

    app.add_middleware(RequireToken, token=token)  # inside CORS: a 401 carries its headers
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(allowed_origins),
        allow_origin_regex=None if allowed_origins else DEFAULT_ORIGINS[0],
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["content-type", "x-cbe-tag"],
    )
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    openapi.install(app)
    return app
