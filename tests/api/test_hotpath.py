"""The hot path of single sends (``api.hotpath``) answers byte for byte as the application
behind it: the same raw requests, good and bad, to two real uvicorn servers (as ``cbe serve``
runs them) on two stores made alike, one with the hot path and one without, compared on the
wire with only ``date`` and random ids masked."""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.app import MAX_BODY_BYTES, create_app
from cli.bootstrap import open_services
from core.clock import FixedClock
from core.errors import StorageFull, StorageUnavailable, WritesRefused
from core.models import ObjectType
from core.occurrences import CompletionQuery
from core.ratelimit import RateLimits
from core.services import Services
from tests.api.conftest import TOKEN, free_port
from tests.conftest import NOW, PORTAL_ID, VIEWED_CAR

EVENT = f"pe{PORTAL_ID}_viewed_car"
UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DATE = re.compile(rb"\r\ndate: [^\r]*")


@dataclass
class Served:
    services: Services
    port: int
    reached: list[str]
    """The paths of the requests that reached the application (behind the hot path)."""

    def exchange(self, request: bytes) -> bytes:
        """The raw answer to the raw ``request`` (which asks to close the connection)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


@contextmanager
def served(folder: Path, hot_path: bool, **options: Any) -> Iterator[Served]:
    """A store seeded with the CarSpot event and one contact, served by uvicorn as ``cbe
    serve`` serves it (h11, no ``server`` header)."""
    counter = itertools.count(1)
    services = open_services(
        folder, clock=FixedClock(NOW), new_id=lambda: f"c{next(counter):06d}", portal_id=PORTAL_ID
    )
    services.definitions.create(VIEWED_CAR)
    services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
    app = create_app(services, TOKEN, workflow_seconds=0, hot_path=hot_path, **options)
    reached: list[str] = []
    # right inside the hot path (the outermost of cbe's middlewares), if any
    app.user_middleware.insert(1 if hot_path else 0, Middleware(_Reached, paths=reached))
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="critical", server_header=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield Served(services, port, reached)
    finally:
        server.should_exit = True
        thread.join()
        services.close()


class _Reached:
    def __init__(self, app: ASGIApp, paths: list[str]) -> None:
        self.app = app
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.paths.append(scope["path"])
        await self.app(scope, receive, send)


@dataclass
class Pair:
    hot: Served
    plain: Served

    def answer(self, request: bytes) -> bytes:
        """The answer of both servers to ``request``, asserted the same but for ``date`` and
        random ids."""
        hot, plain = (_masked(s.exchange(request)) for s in (self.hot, self.plain))
        assert hot == plain, request
        return hot

    def taken(self, request: bytes) -> tuple[bytes, bool]:
        """:meth:`answer`, and whether the hot path answered it (did not hand it on)."""
        handed_on = len(self.hot.reached)
        answer = self.answer(request)
        return answer, len(self.hot.reached) == handed_on


def _masked(answer: bytes) -> bytes:
    return UUID.sub(b"<uuid>", DATE.sub(b"\r\ndate: <date>", answer))


@contextmanager
def pair(folder: Path, **options: Any) -> Iterator[Pair]:
    with (
        served(folder / "hot", True, **options) as hot,
        served(folder / "plain", False, **options) as plain,
    ):
        yield Pair(hot, plain)


def post(
    body: bytes,
    path: str = "/events/v3/send",
    content_type: str | None = "application/json",
    token: str | None = TOKEN,
    host: str = "127.0.0.1:8000",
    extra: tuple[str, ...] = (),
    length: int | None = None,
) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body) if length is None else length}")
    lines.extend((*extra, "Connection: close", "", ""))
    return "\r\n".join(lines).encode("latin-1") + body


def send(**fields: Any) -> bytes:
    return json.dumps({"eventName": EVENT, "objectId": "1", "properties": {}} | fields).encode()


def status(answer: bytes) -> bytes:
    return answer.split(b"\r\n", 1)[0]


REQUESTS: dict[str, bytes] = {
    "a good send": post(send(properties={"condition": "new", "year": 2020})),
    "a good send with its uuid": post(send(uuid="0f6a3a1e-5c0e-4f5e-9d6e-1b2c3d4e5f60")),
    "the same uuid again": post(send(uuid="0f6a3a1e-5c0e-4f5e-9d6e-1b2c3d4e5f60")),
    "an unknown record": post(send(objectId="999999")),
    "an unknown event": post(send(eventName="pe1_nothing")),
    "no event": post(json.dumps({"objectId": "1"}).encode()),
    "a broken property": post(send(properties={"year": "soon", "nope": 1})),
    "a dated path": post(send(), path="/events/2026-03/send"),
    "a trailing slash": post(send(), path="/events/v3/send/"),
    "a query": post(send(), path="/events/v3/send?tag=run-1"),
    "a bad tag in the query": post(send(), path="/events/v3/send?tag=%20"),
    "a tag": post(send(), extra=("X-Cbe-Tag: run-1",)),
    "a bad tag": post(send(), extra=("X-Cbe-Tag: \x7f",)),
    "not JSON": post(b'{"eventName": '),
    "not UTF-8": post(b'{"eventName": "\xff"}'),
    "nested too deeply": post(b"[" * 100_000 + b"]" * 100_000),
    "a JSON list": post(b"[]"),
    "JSON null": post(b"null"),
    "a JSON string": post(b'"send"'),
    "an empty body": post(b""),
    "a charset": post(send(), content_type="application/json; charset=utf-8"),
    "JSON's type in capitals": post(send(), content_type="Application/JSON"),
    "text": post(send(), content_type="text/plain"),
    "no content type": post(send(), content_type=None),
    "a body over the limit": post(b"{}", length=MAX_BODY_BYTES + 1),
    "no token": post(send(), token=None),
    "a wrong token": post(send(), token="not-it"),
    "bearer in lower case": post(send()).replace(b"Bearer", b"bearer"),
    "two tokens": post(send(), extra=(f"Authorization: Bearer {TOKEN}",)),
    "a wrong token after the right one": post(send(), extra=("Authorization: Bearer no",)),
    "a host not served": post(send(), host="rebound.evil.example"),
    "localhost": post(send(), host="localhost:8000"),
    "two content types": post(send(), extra=("Content-Type: text/plain",)),
    "an allowed origin": post(send(), extra=("Origin: http://localhost:3000",)),
    "another origin": post(send(), extra=("Origin: https://evil.example",)),
    "asking to continue": post(send(), extra=("Expect: 100-continue",)),
    "a chunked body": (
        f"POST /events/v3/send HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
        "\r\n"
    ).encode()
    + b"%x\r\n" % len(send())
    + send()
    + b"\r\n0\r\n\r\n",
    "a preflight": (
        b"OPTIONS /events/v3/send HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Origin: http://localhost:3000\r\nAccess-Control-Request-Method: POST\r\n"
        b"Access-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n"
    ),
    "a get": (
        f"GET /events/v3/send HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Connection: close\r\n\r\n"
    ).encode(),
    "HTTP/1.0 without a host": (
        f"POST /events/v3/send HTTP/1.0\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(send())}\r\n\r\n"
    ).encode()
    + send(),
    "a batch": post(json.dumps({"inputs": [json.loads(send())]}).encode(), "/events/v3/send/batch"),
}


HOT = {
    "a good send",
    "a good send with its uuid",
    "the same uuid again",
    "an unknown record",
    "an unknown event",
    "no event",
    "a broken property",
    "a dated path",
    "bearer in lower case",
    "localhost",
}
"""The requests the hot path answers itself; it hands every other one to the application."""


@pytest.mark.parametrize("strict", [False, True], ids=["hubspot", "strict"])
def test_every_kind_of_send_is_answered_as_the_application_answers_it(
    tmp_path: Path, strict: bool
) -> None:
    with pair(tmp_path, strict=strict) as both:
        answers = {name: both.taken(request) for name, request in REQUESTS.items()}
        stored = [
            [c.id for c in s.services.occurrences.iterate(CompletionQuery())]
            for s in (both.hot, both.plain)
        ]
    assert {name for name, (_, hot) in answers.items() if hot} == HOT
    assert status(answers["a good send"][0]) == b"HTTP/1.1 204 No Content"
    assert status(answers["an unknown event"][0]) == b"HTTP/1.1 400 Bad Request"
    assert status(answers["the same uuid again"][0]) == (
        b"HTTP/1.1 400 Bad Request" if strict else b"HTTP/1.1 204 No Content"
    )
    assert status(answers["an unknown record"][0]) == (
        b"HTTP/1.1 400 Bad Request" if strict else b"HTTP/1.1 204 No Content"
    )
    assert status(answers["a body over the limit"][0]) == b"HTTP/1.1 413 Request Entity Too Large"
    assert status(answers["a host not served"][0]) == b"HTTP/1.1 421 Misdirected Request"
    assert status(answers["a wrong token"][0]) == b"HTTP/1.1 401 Unauthorized"
    assert stored[0] == stored[1] != []


def test_a_send_over_the_rate_limit_is_refused_alike(tmp_path: Path) -> None:
    limits = RateLimits("3/10s", burst=3, interval_ms=10_000, daily=250_000)
    with pair(tmp_path, rate_limit=limits) as both:
        answers = [both.taken(post(send())) for _ in range(5)]
        expecting = both.answer(post(send(), extra=("Expect: 100-continue",)))
    assert [(status(answer), hot) for answer, hot in answers] == [
        (b"HTTP/1.1 204 No Content", True)
    ] * 3 + [(b"HTTP/1.1 429 Too Many Requests", True)] * 2
    assert status(expecting) == b"HTTP/1.1 429 Too Many Requests"  # not asked for the body


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
SENDS = st.fixed_dictionaries(
    {},
    optional={
        "eventName": st.sampled_from([EVENT, "pe1_other", ""]) | st.text(max_size=12),
        "objectId": st.sampled_from(["1", "2", "999"]) | JSON,
        "email": st.sampled_from(["ann@example.com", "not-an-email"]) | JSON,
        "utk": st.text(max_size=8),
        "occurredAt": st.sampled_from(["2026-11-01T11:00:00Z", "yesterday"]) | JSON,
        "uuid": st.uuids().map(str) | st.sampled_from(["0f6a3a1e-5c0e-4f5e-9d6e-1b2c3d4e5f60"]),
        "properties": st.dictionaries(
            st.sampled_from(["condition", "year", "make", "listed_at", "hs_page_url"])
            | st.text(max_size=8),
            JSON,
            max_size=4,
        )
        | JSON,
    },
)


def test_generated_sends_are_answered_as_the_application_answers_them(tmp_path: Path) -> None:
    with pair(tmp_path) as both:

        @settings(
            max_examples=40,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(
            SENDS.map(lambda d: json.dumps(d).encode())
            | JSON.map(lambda v: json.dumps(v).encode())
            | st.binary(max_size=40)
        )
        def alike(body: bytes) -> None:
            both.answer(post(body))

        alike()


@pytest.mark.parametrize(
    ("failure", "answered"),
    [
        (StorageFull("The disk holding the database is full."), b"507 Insufficient Storage"),
        (StorageUnavailable("The disk failed: I/O error."), b"503 Service Unavailable"),
        (WritesRefused("The database is read-only."), b"503 Service Unavailable"),
        (RuntimeError("a bug"), b"500 Internal Server Error"),
    ],
    ids=["full", "unavailable", "refused", "a bug"],
)
def test_a_send_the_store_fails_is_answered_as_the_application_answers_it(
    tmp_path: Path, failure: Exception, answered: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise failure

    with pair(tmp_path) as both:
        for side in (both.hot, both.plain):
            monkeypatch.setattr(side.services.ingestion, "ingest", failing)
        answer, hot = both.taken(post(send()))
    assert (status(answer), hot) == (b"HTTP/1.1 " + answered, True)
