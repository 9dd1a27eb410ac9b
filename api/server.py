"""Run the HTTP server: ``cbe serve``."""

from __future__ import annotations

import gc

import uvicorn

from api.app import create_app
from core.services import Services


def serve(
    services: Services,
    host: str,
    port: int,
    access_token: str,
    allowed_origins: tuple[str, ...] = (),
    log_level: str = "warning",
) -> None:
    """Serve until interrupted (Ctrl+C)."""
    app = create_app(services, access_token, allowed_origins)
    # What exists now (modules, the app, the store's indexes) lives as long as the server: keep
    # it out of the cycle collector's full passes, which otherwise walk it again every few
    # thousand stored completions (bench/README.md, scale.py).
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)
