"""A real browser runs a page that embeds only ``/tracking.js`` from a real ``cbe serve``.

Chromium comes from Debian (``.ci/run`` installs it); Playwright drives it through that binary.
Without Chromium the test is skipped, unless ``CBE_REQUIRE_BROWSER=1`` (set by CI) makes the
missing browser an error.
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from cli.bootstrap import open_services
from core.models import Completion, ObjectType
from core.occurrences import CompletionQuery
from tests.api.conftest import Server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:
    if os.environ.get("CBE_REQUIRE_BROWSER"):
        raise RuntimeError("CBE_REQUIRE_BROWSER is set but Chromium is not installed")
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

from playwright.sync_api import Page, sync_playwright  # noqa: E402

SPEC_REQUIRED = {"propertyDefinitions": [], "includeDefaultProperties": True}
"""What HubSpot's spec requires of a definition besides its label."""

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

SNIPPET = """
document.querySelector("#buy").addEventListener("click", function () {
  var _hsq = (window._hsq = window._hsq || []);
  _hsq.push(["trackCustomBehavioralEvent", {
    name: "%(event)s",
    properties: { note: "x".repeat(300), plan: document.querySelector("#buy").dataset.plan }
  }]);
});
"""


@pytest.fixture
def page_server(tmp_path: Path, server: Server) -> Iterator[str]:
    """A web site on another origin whose page embeds only the tracking code."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        "<!doctype html><html><head><title>Pricing</title></head><body>"
        '<button id="buy" data-plan="pro">Buy</button>'
        f'<script src="{server.url}/tracking.js"></script>'
        "</body></html>"
    )
    (site / "identify.html").write_text(
        "<!doctype html><html><head><title>Welcome back</title>"
        "<script>var _hsq = (window._hsq = window._hsq || []);"
        '_hsq.push(["identify", {email: "visitor@example.com"}]);</script></head><body>'
        '<button id="buy" data-plan="team">Buy</button>'
        f'<script src="{server.url}/tracking.js?tag=e2e/run-1"></script>'
        "</body></html>"
    )
    handler = partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def browser_page() -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


def _stored(db: Path, count: int, timeout: float = 15.0) -> list[Completion]:
    """Wait (by polling the database, not sleeping blind) until ``count`` completions exist."""
    deadline = time.monotonic() + timeout
    while True:
        services = open_services(db, create=False)
        try:
            found = list(services.occurrences.iterate(CompletionQuery(newest_first=False)))
        finally:
            services.close()
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def _identified(db: Path, email: str, count: int, timeout: float = 15.0) -> list[Completion]:
    """Wait (polling) until the contact with ``email`` has ``count`` completions: the collector
    stores a completion, then joins the visitor's earlier ones to the contact."""
    deadline = time.monotonic() + timeout
    while True:
        services = open_services(db, create=False)
        try:
            contact = services.db.records.find_contact_by_email(email)
            mine = [] if contact is None else services.timeline.page(contact).entries
        finally:
            services.close()
        found = [e.completion for e in mine if e.completion is not None]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_a_click_in_chromium_is_stored_with_the_javascript_rules(
    server: Server, page_server: str, browser_page: Page
) -> None:
    event = f"pe{server.portal_id}_clicked_buy"
    with server.client() as api:
        created = api.post(
            "/events/v3/event-definitions",
            json={
                "label": "Clicked buy",
                "name": "clicked_buy",
                "trackingMethod": "JAVASCRIPT",
                "snippet": SNIPPET % {"event": event},
                "includeDefaultProperties": True,
                "propertyDefinitions": [
                    {"label": "Note", "type": "string"},
                    {
                        "label": "Plan",
                        "type": "enumeration",
                        "options": [
                            {"label": "Pro", "value": "pro", "displayOrder": 0, "hidden": False}
                        ],
                    },
                ],
            },
        )
        assert created.status_code == 201, created.text

    # An anonymous visitor clicks: the completion is kept under the visitor token.
    browser_page.goto(f"{page_server}/index.html")
    browser_page.click("#buy")
    first = _stored(server.db, 1)
    assert len(first) == 1
    completion = first[0]
    assert completion.event_name == event
    assert completion.source.value == "js"
    assert completion.object_id is None and completion.utk
    cookie = {c["name"]: c["value"] for c in browser_page.context.cookies()}["hubspotutk"]
    assert completion.utk == cookie
    assert completion.properties["note"] == "x" * 256
    cut = next(c for c in completion.cuts if c.property == "note")
    assert (cut.reason, cut.original_length) == ("VALUE_TOO_LONG", 300)
    assert completion.properties["plan"] == "pro"
    assert completion.properties["hs_page_url"] == f"{page_server}/index.html"
    assert completion.properties["hs_page_title"] == "Pricing"
    assert completion.properties["hs_browser"] == "Chrome"

    # The same visitor identifies on another page: a contact is made and both clicks join it.
    browser_page.goto(f"{page_server}/identify.html")
    browser_page.click("#buy")
    both = _stored(server.db, 2)
    assert len(both) == 2
    assert [c.properties["plan"] for c in _identified(server.db, "visitor@example.com", 2)] == [
        "team",
        "pro",
    ]
    services = open_services(server.db, create=False)
    try:
        contact = services.records.find_contact("visitor@example.com")
        assert contact.utk == cookie
        mine = services.timeline.page(contact).entries
        assert all(e.completion is not None for e in mine)
        assert [e.completion.properties["plan"] for e in mine if e.completion] == ["team", "pro"]
        second = both[1]
        assert second.unusable == {"plan": ["team"]}  # not an option: kept, flagged
        assert (both[0].tag, second.tag) == (None, "e2e/run-1")  # that page's script is tagged
    finally:
        services.close()


def test_the_tracking_code_follows_the_events(server: Server) -> None:
    with server.client() as api:
        api.post(
            "/events/v3/event-definitions",
            json={
                "label": "Scrolled",
                "trackingMethod": "JAVASCRIPT",
                "snippet": "/* v1 */",
                **SPEC_REQUIRED,
            },
        )
        api.post("/events/v3/event-definitions", json={"label": "Sent by API", **SPEC_REQUIRED})
    script = httpx.get(f"{server.url}/tracking.js")
    assert script.headers["content-type"].startswith("application/javascript")
    assert script.headers["cache-control"] == "no-store"
    assert "/* v1 */" in script.text
    assert f"var PORTAL_ID = {server.portal_id};" in script.text
    assert f'"{server.url}/cbe/v1/collect"' in script.text

    services = open_services(server.db, create=False)
    try:
        services.definitions.update("scrolled", snippet="/* v2 */")
        assert "/* v2 */" in httpx.get(f"{server.url}/tracking.js").text
        services.definitions.archive("scrolled")
        assert "/* v2 */" not in httpx.get(f"{server.url}/tracking.js").text
        assert services.records.search(ObjectType.CONTACT) == []
    finally:
        services.close()
