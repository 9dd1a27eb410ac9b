"""``POST /events/v3/send`` answered in front of FastAPI: the one request a client makes
a thousand times a second.

Through the whole application a single send passes five middlewares that each wrap ``send``,
FastAPI's router (which tries the send against every router included before it), its body
reading and dependency solving, and a ``Response``: two fifths of the server's CPU per send
(bench/README.md, "single sends, the hot path"). :class:`SingleSends`, the outermost of cbe's
middlewares, answers the plain case itself: a request that every check of the application lets
through (a served ``Host``, the token, no ``Origin``, no tag, a JSON body of a declared size)
and whose body is a JSON object. It counts the call as :class:`api.ratelimit.HubSpotRateLimit`
does, hands the body to the same :class:`api.sendqueue.SendQueue` the route uses, and sends the
messages the application would send, headers in the same order. Every other request, and one
whose body turns out not to be a JSON object, goes through the application as before, given
what was read of its body again. tests/api/test_hotpath.py holds the answers of both byte for
byte.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.guards import HostPolicy, bearer_matches
from api.ratelimit import constant_headers, counted_headers, refusal
from api.sendqueue import SendQueue
from core.ratelimit import RateLimiter

Handler = Callable[[Request, Exception], Awaitable[Response]]

VARY = (b"vary", b"Origin")
"""What Starlette's CORS middleware adds to every answer it passes (a request without ``Origin``
included)."""

_ONCE = frozenset({b"host", b"authorization", b"content-type", b"content-length"})
"""The headers a plain send has once each (what it is checked by)."""
_ELSEWHERE = frozenset({b"origin", b"x-cbe-tag", b"transfer-encoding", b"expect"})
"""Headers that make a send one for the whole application: CORS's, a test run's tag, a body
without a declared size, and ``Expect: 100-continue`` (the hot path reads the body before it
counts the call; a 429 of the application is sent without asking for the body)."""


class SingleSends:
    """Plain ASGI: single sends to ``paths`` stored through ``queue`` without FastAPI's router.

    ``hosts``, ``token`` and ``limit`` are the application's own checks (a request any of them
    would refuse goes to ``app``, which refuses it); ``limiter`` counts the call; ``handlers``
    are the application's exception handlers, for what ``queue`` raises (an exception with
    none but ``Exception``'s is raised, for Starlette's server error middleware outside)."""

    def __init__(
        self,
        app: ASGIApp,
        paths: Iterable[str],
        hosts: HostPolicy,
        token: bytes,
        limit: int,
        limiter: RateLimiter,
        queue: SendQueue,
        handlers: Mapping[type[Exception], Handler],
    ) -> None:
        self.app = app
        self.paths = frozenset(paths)
        self.hosts = hosts
        self.token = token
        self.limit = limit
        self.limiter = limiter
        self.queue = queue
        self.handlers = {kind: h for kind, h in handlers.items() if kind is not Exception}
        self._constant = constant_headers(limiter)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in self.paths
            or scope.get("query_string")
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        authorization = self._authorization(scope["headers"])
        if authorization is None:
            await self.app(scope, receive, send)
            return
        read: list[Message] = []
        document = await self._document(receive, read)
        if document is None:
            await self.app(scope, _again(read, receive), send)
            return
        verdict = self.limiter.admit(authorization.decode("latin-1"))
        if not verdict.allowed:
            await refusal(verdict)(scope, receive, _vary(send, []))
            return
        counted = counted_headers(self._constant, verdict)
        try:
            await self.queue.send(document)
        except Exception as error:
            handler = self._handler(error)
            if handler is None:
                raise
            response = await handler(Request(scope, receive), error)
            await response(scope, receive, _vary(send, counted))
            return
        counted.append(VARY)
        await send({"type": "http.response.start", "status": 204, "headers": counted})
        await send({"type": "http.response.body", "body": b""})

    def _authorization(self, headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
        """The request's ``Authorization`` when the application would let it through to the
        send route as a plain JSON send; else None."""
        once: dict[bytes, bytes] = {}
        for name, value in headers:
            if name in _ONCE:
                if name in once:  # sent twice: the application says what it makes of it
                    return None
                once[name] = value
            elif name in _ELSEWHERE:
                return None
        host, authorization = once.get(b"host"), once.get(b"authorization")
        content_type, length = once.get(b"content-type"), once.get(b"content-length")
        if (
            host is None
            or authorization is None
            or content_type != b"application/json"
            or length is None
            or not length.isdigit()
            or not 0 < int(length) <= self.limit
            or not bearer_matches(authorization, self.token)
            or not self.hosts.allows(host.decode("latin-1"))
        ):
            return None
        return authorization

    async def _document(self, receive: Receive, read: list[Message]) -> dict[str, Any] | None:
        """The body as a JSON object, or None (when it is not one, or the client went away);
        ``read`` gets every message received."""
        chunks = []
        while True:
            message = await receive()
            read.append(message)
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        try:
            document = json.loads(b"".join(chunks))
        except Exception:  # the application says what is wrong with it
            return None
        return document if type(document) is dict else None

    def _handler(self, error: Exception) -> Handler | None:
        """The application's handler for ``error``, as Starlette's exception middleware finds it."""
        for kind in type(error).__mro__:
            if kind in self.handlers:
                return self.handlers[kind]
        return None


def _again(read: list[Message], receive: Receive) -> Receive:
    """``receive`` with the messages already ``read`` given first."""
    pending = list(read)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


def _vary(send: Send, counted: list[tuple[bytes, bytes]]) -> Send:
    """``send`` with the headers the application's middlewares add to an answer's start: the
    rate limit's ``counted`` headers, then CORS's ``Vary``."""

    async def sent(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *counted, VARY]
        await send(message)

    return sent
