"""The JavaScript collector: ``/tracking.js`` and the endpoints it (and HubSpot's beacon) sends to.

Completions arriving here take the lenient path: values truncated to their limits, only the first
50 properties kept, and what was cut recorded. A visitor who is not a contact yet is kept as an
anonymous visitor (by utk) and joins the contact once ``identify`` names them.

Who may send: pages on the allowed origins (the :class:`~api.guards.OriginPolicy` CORS uses too)
and programs that name no page; any other page gets 403 and nothing is stored. A request is
judged whole before anything of it is stored.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from api.deps import services_of
from api.errors import Forbidden, read_json
from api.guards import OriginPolicy, page_origin
from api.tags import run_tag
from api.useragent import describe
from core.errors import ValidationFailed, Violation, fail_if
from core.ingestion import IngestResult, Mode
from core.models import Source, TrackingMethod
from core.records import check_email
from core.rules import check_send_text, qualified_internal_name
from core.services import Services

router = APIRouter(tags=["javascript collector"])

_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_TEMPLATE = resources.files("api").joinpath("tracking.js").read_text(encoding="utf-8")
_PLACEHOLDER = re.compile(r"__(?:PORTAL_ID|ENDPOINT|SNIPPETS)__")


def tracking_script(services: Services, endpoint: str) -> str:
    """The tracking code with this portal's id and its JavaScript events' snippets."""
    snippets = [
        {"name": d.fully_qualified_name, "code": d.snippet}
        for d in services.definitions.search(include_archived=False)
        if d.tracking_method is TrackingMethod.JAVASCRIPT and d.snippet
    ]
    values = {
        "__PORTAL_ID__": str(services.db.portal.portal_id),
        "__ENDPOINT__": json.dumps(endpoint),
        "__SNIPPETS__": json.dumps(snippets, indent=2),
    }
    # One pass: a value that holds a placeholder's name (a tag, a snippet) stays as it is.
    return _PLACEHOLDER.sub(lambda match: values[match.group(0)], _TEMPLATE)


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


def check_page(request: Request) -> None:
    """Refuse (:class:`Forbidden`) a request made by a page whose origin may not send; a
    request naming no page (no ``Origin``, no ``Referer``: a server, curl) may."""
    origin = page_origin(request.headers.raw)
    policy: OriginPolicy = request.app.state.origins
    if origin is not None and not policy.allows(origin):
        raise Forbidden(
            f"Pages on {origin} may not send to this collector; it takes {policy.describe()}. "
            "Start `cbe serve --allow-origin` with that origin to take its pages' completions."
        )


@dataclass
class Collected:
    """What the collector did with one completion."""

    result: IngestResult
    identify: list[Violation] = field(default_factory=list)
    """Why the visitor was not joined to the contact named by email (empty when joined, or
    when nothing asked for it)."""


def collect(services: Services, payload: dict[str, Any], tag: str | None = None) -> Collected:
    """Ingest one completion from the tracking code, leniently (tagged by a test run's tag).

    Everything that would refuse the request is decided before anything is stored: text that
    is not Unicode and an email that is not an address answer :class:`ValidationFailed`.
    """
    event_name = payload.get("eventName") or ""
    event_name = event_name if isinstance(event_name, str) else str(event_name)
    properties = payload.get("properties")
    properties = dict(properties) if isinstance(properties, dict) else {}
    fail_if(check_send_text({"eventName": event_name, "properties": properties}))
    # Only the fully qualified name names an event, as in HubSpot's tracking code; ingestion
    # rejects anything else (an internal name alone too) and says so.
    name = qualified_internal_name(services.db.portal.portal_id, event_name)
    definition = services.db.definitions.get(name) if name is not None else None
    if definition is not None and definition.include_default_properties:
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
    problems = check_send_text(body)
    email, utk = body["email"], body["utk"]
    if isinstance(email, str) and not problems:
        problems = check_email(email, "email")
    fail_if(problems)
    with services.db.transaction() as unit:
        identify = (
            services.records.identify_problems(utk, email)
            if isinstance(email, str) and isinstance(utk, str)
            else None
        )
        result = services.ingestion.ingest([body], Mode.LENIENT, Source.JS, tags=[tag])
        unit.commit()
    if identify == [] and result.stored:
        # After the completion's unit: joining the visitor's earlier completions may rewrite
        # files, which the store does mostly before it takes the lock.
        assert isinstance(email, str) and isinstance(utk, str)
        try:
            services.records.identify(utk, email)
        except ValidationFailed as refused:  # another request joined the visitor meanwhile
            identify = list(refused.violations)
    return Collected(result, identify or [])


def _summary(collected: Collected) -> dict[str, Any]:
    result = collected.result
    summary: dict[str, Any] = {
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
    if collected.identify:
        summary["notIdentified"] = [
            {"message": v.message, "code": v.rule.value, "in": v.field} for v in collected.identify
        ]
    return summary


@router.post("/cbe/v1/collect")
async def collect_post(request: Request) -> dict[str, Any]:
    """What ``tracking.js`` sends (a text/plain JSON beacon); answers what was stored or cut."""
    check_page(request)
    payload = read_json(await request.body())
    if not isinstance(payload, dict):
        payload = {}
    services = services_of(request)
    collected = await run_in_threadpool(collect, services, payload, run_tag(request))
    return _summary(collected)


@router.get("/__ptbe.gif", include_in_schema=False)
def hubspot_beacon(request: Request) -> Response:
    """HubSpot's beacon form: ``?n=NAME&_prop=value`` (plus ``u`` for the utk, ``e`` email)."""
    params = request.query_params
    check_page(request)
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
