"""``POST /cbe/v1/validate``: a verdict on a send or batch body, at once, storing nothing."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request

from api.deps import services_of
from api.errors import error_details
from core.ingestion import Verdict

router = APIRouter(prefix="/cbe/v1", tags=["cbe"])

EXAMPLE = {
    "eventName": "pe12345678_viewed_car",
    "objectId": "1",
    "properties": {"make": "Ford"},
}


@router.post("/validate")
def validate(
    request: Request,
    body: Annotated[Any, Body(openapi_examples={"send": {"value": EXAMPLE}})],
) -> dict[str, Any]:
    """What `POST /events/v3/send` would do with this body (or `/send/batch`, for a body with
    `inputs`): every input judged by the same strict rules, the uuids already stored included,
    and nothing stored. Always 200; `valid` says whether the request would be accepted."""
    return verdict_json(services_of(request).ingestion.validate(body, hubspot_body=True))


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """A verdict as the API answers it; ``cbe validate --json`` prints the same."""
    results: list[dict[str, Any]] = [
        {"index": index, "valid": True, "completion": completion.to_json()}
        for index, completion in verdict.accepted
    ]
    results += [
        {"index": r.index, "valid": False, "errors": error_details(r.violations)}
        for r in verdict.rejected
    ]
    results.sort(key=lambda r: int(r["index"]))
    return {
        "valid": verdict.valid,
        "batch": verdict.batch,
        "message": verdict.summary(),
        "errors": error_details(verdict.problems),
        "results": results,
    }
