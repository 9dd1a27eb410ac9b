"""The JavaScript collector: ``/tracking.js`` and the endpoints it (and HubSpot's beacon) sends to.

Completions arriving here take the lenient path: values truncated to their limits, only the first
50 properties kept, and what was cut recorded. A visitor who is not a contact yet is kept as an
anonymous visitor (by utk) and joins the contact once ``identify`` names them.
"""

from __future__ import annotations

import base64
import json
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response

from api.deps import services_of
from api.tags import run_tag
from api.useragent import describe
from core.errors import NotFound
from core.ingestion import IngestResult, Mode
from core.models import Source, TrackingMethod
from core.services import Services

router = APIRouter(tags=["javascript collector"])

_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_TEMPLATE = resources.files("api").joinpath("tracking.js").read_text(encoding="utf-8")


def tracking_script(services: Services, endpoint: str) -> str:
    """The tracking code with this portal's id and its JavaScript events' snippets."""
    snippets = [
        {"name": d.fully_qualified_name, "code": d.snippet}
        for d in services.definitions.search(include_archived=False)
        if d.tracking_method is TrackingMethod.JAVASCRIPT and d.snippet
    ]
    return (
        _TEMPLATE.replace("__PORTAL_ID__", str(services.db.portal.portal_id))
        .replace("__ENDPOINT__", json.dumps(endpoint))
        .replace("__SNIPPETS__", json.dumps(snippets, indent=2))
    )


@router.get("/tracking.js", include_in_schema=False)
def tracking_js(request: Request) -> Response:
    """The tracking code; ``?tag=`` makes it tag everything it sends (a browser test's run)."""
    base = request.app.state.public_url or str(request.base_url).rstrip("/")
    tag = run_tag(request)
    endpoint = f"{base}/cbe/v1/collect" + ("" if tag is None else f"?tag={quote(tag, safe='')}")
    script = tracking_script(services_of(request), endpoint)
    # Never cached: editing or archiving an event changes the script at once.
    return Response(
        script,
        media_type="application/javascript",
        headers={"Cache-Control": "no-store"},
    )


def page_properties(page: dict[str, Any], user_agent: str | None) -> dict[str, Any]:
    """Default ``hs_*`` properties from what the browser reported."""
    found: dict[str, Any] = {
        "hs_page_url": page.get("url"),
        "hs_page_title": page.get("title"),
        "hs_referrer": page.get("referrer") or None,
        "hs_language": page.get("language") or None,
        "hs_screen_width": page.get("screenWidth"),
        "hs_screen_height": page.get("screenHeight"),
    }
    if user_agent:
        found["hs_user_agent"] = user_agent
        found |= describe(user_agent)
    return {k: v for k, v in found.items() if v not in (None, "")}


def collect(services: Services, payload: dict[str, Any], tag: str | None = None) -> IngestResult:
    """Ingest one completion from the tracking code, leniently (tagged by a test run's tag)."""
    event_name = str(payload.get("eventName") or "")
    properties = payload.get("properties")
    properties = dict(properties) if isinstance(properties, dict) else {}
    try:
        definition = services.definitions.get(event_name)
        with_defaults = definition.include_default_properties
    except NotFound:
        with_defaults = False  # ingestion rejects the unknown event and says so
    if with_defaults:
        page = payload.get("page") if isinstance(payload.get("page"), dict) else {}
        defaults = page_properties(page or {}, payload.get("userAgent"))
        properties = {**defaults, **properties}  # what the page sent wins
    body = {
        "eventName": event_name,
        "properties": properties,
        "utk": payload.get("utk") or None,
        "email": payload.get("email") or None,
        "occurredAt": payload.get("occurredAt"),
    }
    with services.db.transaction():
        result = services.ingestion.ingest([body], Mode.LENIENT, Source.JS, tags=[tag])
        if body["email"] and body["utk"] and result.stored:
            services.records.identify(str(body["utk"]), str(body["email"]))
    return result


def _summary(result: IngestResult) -> dict[str, Any]:
    return {
        "stored": [
            {"id": c.id, "objectId": c.object_id, "cuts": [cut.to_json() for cut in c.cuts]}
            for c in result.stored
        ],
        "rejected": [
            {"message": v.message, "code": v.rule.value, "in": v.field}
            for rejection in result.rejected
            for v in rejection.violations
        ],
    }


@router.post("/cbe/v1/collect")
async def collect_post(request: Request) -> dict[str, Any]:
    """What ``tracking.js`` sends (a text/plain JSON beacon); answers what was stored or cut."""
    raw = await request.body()
    try:
        payload = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        payload = None
    if not isinstance(payload, dict):
        payload = {}
    services = services_of(request)
    from starlette.concurrency import run_in_threadpool

    result = await run_in_threadpool(collect, services, payload, run_tag(request))
    return _summary(result)


@router.get("/__ptbe.gif", include_in_schema=False)
def hubspot_beacon(request: Request) -> Response:
    """HubSpot's beacon form: ``?n=NAME&_prop=value`` (plus ``u`` for the utk, ``e`` email)."""
    params = request.query_params
    payload = {
        "eventName": params.get("n", ""),
        "properties": {k[1:]: v for k, v in params.items() if k.startswith("_") and len(k) > 1},
        "utk": params.get("u") or params.get("vi") or request.cookies.get("hubspotutk"),
        "email": params.get("e"),
        "page": {"url": params.get("pu"), "title": params.get("t"), "referrer": params.get("r")},
        "userAgent": request.headers.get("user-agent"),
    }
    collect(services_of(request), payload, run_tag(request))
    return Response(_GIF, media_type="image/gif", headers={"Cache-Control": "no-store"})
