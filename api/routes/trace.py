"""``GET /cbe/v1/trace/{uuid}``: what happened to a send ("why didn't my event register?")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from api.deps import services_of
from api.routes.rejections import EscapedJSONResponse
from core.errors import NotFound
from core.trace import trace

router = APIRouter(prefix="/cbe/v1/trace", tags=["cbe"])


@router.get("/{key}", response_class=EscapedJSONResponse)
async def trace_send(request: Request, key: str) -> dict[str, Any]:
    """What happened to the send with this `uuid` (for a send without one: the completion id
    the collector answered, or the `correlationId` of the 400 that refused it): when and how
    it arrived, stored or refused (every rule), which record it matched and how (`objectId`,
    `email`, `utk`) or that it matched none, retries with the same uuid (answered 204, not
    stored again), what the JavaScript rules cut, and on which record's timeline it is. 404
    when nothing with that key was received (or its refusal has left the bounded
    quarantine)."""
    services = services_of(request)
    found = await run_in_threadpool(trace, services.db, key)
    if not found.found:
        raise NotFound(f"Nothing with uuid or id {key!r} was received.")
    return found.to_json()
