"""Run the HTTP server: ``cbe serve``."""

from __future__ import annotations

import gc
from collections.abc import Callable

import uvicorn

from api.app import create_app
from api.logs import log_config
from core.forwarding import Forwarder
from core.ratelimit import RateLimits
from core.services import Services


def serve(
    services: Services,
    host: str,
    port: int,
    access_token: str,
    allowed_origins: tuple[str, ...] = (),
    log_level: str = "warning",
    public_url: str | None = None,
    allowed_hosts: tuple[str, ...] = (),
    strict: bool = False,
    rate_limit: RateLimits | None = None,
    warm_up: Callable[[], None] = lambda: None,
    forwarder: Forwarder | None = None,
) -> None:
    """Serve until interrupted (Ctrl+C); ``warm_up`` as for :func:`ready_to_serve`."""
    app = create_app(
        services,
        access_token,
        allowed_origins,
        public_url=public_url,
        allowed_hosts=allowed_hosts,
        bound_host=host,
        strict=strict,
        rate_limit=rate_limit,
        forwarder=forwarder,
    )
    ready_to_serve(warm_up)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=log_config(),
        server_header=False,
    )


YOUNG_OBJECTS = 20_000
"""New containers between two passes of the cycle collector over the youngest objects
(Python's default is 700). A batch of 500 completions makes thousands of dicts and lists, nearly
all freed by the end of the request; at 700 the collector ran several times per batch and
moved what the open journal holds into older generations, to be walked again and again."""


def ready_to_serve(warm_up: Callable[[], None]) -> None:
    """What a server process does once, before it takes requests (``bench/scale.py`` does the
    same before it measures ingestion). ``warm_up``: what its store loads now rather than in the
    first request (the composition root says, cli.bootstrap.warm_up)."""
    warm_up()
    # What exists now (modules, the app, the store's indexes and taken uuids) lives as long as
    # the server: keep it out of the cycle collector's full passes, which otherwise walk it
    # again every few thousand stored completions (bench/README.md, scale.py).
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, middle, oldest)
