"""``POST /events/v3/send`` and ``/send/batch``: strict ingestion, 204 once durable."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from api.deps import services_of
from api.sendqueue import SendQueue
from api.tags import run_tag
from core.models import Source

router = APIRouter(prefix="/events/v3/send", tags=["send"])


@router.post("", status_code=204)
async def send_one(request: Request, body: Annotated[Any, Body()]) -> Response:
    """Store one completion; every broken rule is answered at once and nothing is stored."""
    queue: SendQueue = request.app.state.send_queue
    await queue.send(body, run_tag(request))
    return Response(status_code=204)


@router.post("/batch", status_code=204)
def send_batch(request: Request, body: Annotated[Any, Body()]) -> Response:
    """Store up to 500 completions, all or none."""
    services_of(request).ingestion.send_batch(body, Source.API, run_tag(request), hubspot_body=True)
    return Response(status_code=204)
