"""``/cbe/v1/completions``: a test run's own completions, listed, waited for and deleted."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.deps import services_of
from api.tags import check_tag
from core.occurrences import CompletionQuery

router = APIRouter(prefix="/cbe/v1/completions", tags=["cbe"])

POLL_SECONDS = 0.05
MAX_WAIT_SECONDS = 60.0
wait_cap = MAX_WAIT_SECONDS
"""The longest a request waits, whatever it asks (the fuzz test lowers it)."""


@router.get("")
async def list_tagged(
    request: Request,
    tag: Annotated[str, Query(description="The run's tag (X-Cbe-Tag when it sent them)")],
    event_name: Annotated[str | None, Query(alias="eventName")] = None,
    wait_for: Annotated[int | None, Query(alias="waitFor", ge=1, le=10_000)] = None,
    timeout: Annotated[float, Query(ge=0, le=MAX_WAIT_SECONDS)] = 10.0,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> dict[str, Any]:
    """The completions a test run sent with `tag`, oldest first. With `waitFor=N` the answer
    waits (up to `timeout` seconds) until at least N have arrived: no sleeps in tests.
    `complete` says whether they did."""
    check_tag(tag)
    occurrences = services_of(request).occurrences
    query = CompletionQuery(
        tag=tag,
        event_names=frozenset({event_name}) if event_name else None,
        newest_first=False,
    )

    def found() -> list[Any]:
        return list(occurrences.iterate(query))

    deadline = time.monotonic() + min(timeout, wait_cap)
    completions = await run_in_threadpool(found)
    while wait_for is not None and len(completions) < wait_for and time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        completions = await run_in_threadpool(found)
    return {
        "total": len(completions),
        "complete": wait_for is None or len(completions) >= wait_for,
        "results": [c.to_json() for c in completions[:limit]],
    }


@router.delete("")
def delete_tagged(
    request: Request,
    tag: Annotated[str, Query(description="The run's tag; required, so nothing else goes")],
) -> dict[str, Any]:
    """Delete what a test run sent with `tag`, and nothing else."""
    return {"deleted": services_of(request).occurrences.delete_tagged(check_tag(tag))}
