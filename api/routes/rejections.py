"""``/cbe/v1/rejections``: the requests the strict path refused, kept, listed and replayed."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import services_of
from api.errors import error_details
from core.rejections import RejectedRequest

router = APIRouter(prefix="/cbe/v1/rejections", tags=["cbe"])


class EscapedJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a kept body may hold what UTF-8 cannot
    (a lone surrogate such as ``"\\ud800"``), and is listed as it came."""

    def render(self, content: Any) -> bytes:
        return json.dumps(
            content, ensure_ascii=True, allow_nan=False, separators=(",", ":")
        ).encode()


def rejected_json(request: RejectedRequest) -> dict[str, Any]:
    """A kept request; its violations in HubSpot's error form."""
    return request.model_dump(mode="json", exclude={"violations"}) | {
        "errors": error_details(request.violations)
    }


@router.get("", response_class=EscapedJSONResponse)
def list_rejections(
    request: Request,
    event: Annotated[str | None, Query(description="Only those naming this event")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The refused requests the quarantine keeps, newest first (at most `bound` are kept; the
    oldest go first)."""
    rejections = services_of(request).rejections
    found = rejections.list(event)
    return {
        "total": len(found),
        "bound": rejections.bound,
        "results": [rejected_json(r) for r in found[:limit]],
    }


@router.post("/replay")
def replay(request: Request) -> dict[str, Any]:
    """Send every kept request again by the strict rules (after a definition was fixed): what
    passes is stored and leaves the quarantine, what still fails stays."""
    report = services_of(request).rejections.replay()
    return {
        "message": report.summary(),
        "passed": [{"id": r.id, "stored": n} for r, n in report.passed],
        "failed": [{"id": r.id, "errors": error_details(v)} for r, v in report.failed],
    }


@router.delete("", status_code=204)
def clear(request: Request) -> Response:
    """Forget every kept request."""
    services_of(request).rejections.clear()
    return Response(status_code=204)
