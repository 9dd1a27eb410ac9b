"""``POST /events/v3/send`` and ``/send/batch``: 204 once durable.

As HubSpot by default (an unknown record or a repeated uuid is accepted, see
:class:`core.ingestion.Mode`); everything refused at once with ``cbe serve --strict``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from api.deps import services_of
from api.sendqueue import SendQueue
from api.tags import run_tag
from core.models import Source

router = APIRouter(tags=["send"])  # served under each prefix of api.versions.SEND


@router.post("", status_code=204)
async def send_one(request: Request, body: Annotated[Any, Body()]) -> Response:
    """Store one completion; every rule HubSpot checks at once is answered at once (400, every
    broken rule, nothing stored). A record that does not exist or a uuid already received is
    accepted as HubSpot accepts it (`cbe serve --strict`: 400); `GET /cbe/v1/trace/{uuid}`
    tells what happened."""
    queue: SendQueue = request.app.state.send_queue
    await queue.send(body, run_tag(request))
    return Response(status_code=204)


@router.post("/batch", status_code=204)
def send_batch(request: Request, body: Annotated[Any, Body()]) -> Response:
    """Store up to 500 completions, all or none (inputs whose uuid was already received are
    accepted and not stored again, unless `cbe serve --strict`)."""
    services_of(request).ingestion.send_batch(
        body, Source.API, run_tag(request), hubspot_body=True, mode=request.app.state.mode
    )
    return Response(status_code=204)
