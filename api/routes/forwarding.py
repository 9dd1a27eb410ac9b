"""``/cbe/v1/forwarding``: where the relay to a remote portal stands (``cbe serve --forward``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.errors import error_response
from core.forwarding import Forwarder

router = APIRouter(prefix="/cbe/v1/forwarding", tags=["cbe"])


def _forwarder(request: Request) -> Forwarder | None:
    forwarder: Forwarder | None = request.app.state.forwarder
    return forwarder


@router.get("")
def forwarding(request: Request) -> Any:
    """What is owed to the remote, sent, refused (each with the remote's answer), the last
    error and the remote's URL; ``{"enabled": false}`` without ``--forward``."""
    forwarder = _forwarder(request)
    if forwarder is None:
        return {"enabled": False}
    status = forwarder.status()
    refused = forwarder.refused()
    return {"enabled": True, **status.to_json()} | {
        "refusals": [
            {"id": e.id, "uuid": e.body.get("uuid"), "body": e.body, "answer": e.refused}
            for e in refused
        ]
    }


@router.post("/replay")
def replay(request: Request) -> Any:
    """Owe every refused completion again (after the remote was fixed); the relay sends them."""
    forwarder = _forwarder(request)
    if forwarder is None:
        return error_response(
            409, "This server forwards nothing: start it with --forward URL.", "CONFLICT"
        )
    return {"requeued": forwarder.replay()}
