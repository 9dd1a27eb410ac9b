"""HubSpot's Node SDK (``@hubspot/api-client`` 14 from npm) against a real ``cbe serve``.

The SDK comes from ``$CBE_NODE_SDK`` (the package's folder), else ``.ci/tools`` where
``.ci/run`` installs it (``npm install --prefix .ci/tools @hubspot/api-client@14``). Without it
(or without node) these tests are skipped, unless ``CBE_REQUIRE_NODE_SDK=1`` (set by CI) makes
that an error. The steps are in ``hubspot_node_sdk.js`` beside this file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ROOT, Server, start_server, stop_server

SCRIPT = Path(__file__).with_name("hubspot_node_sdk.js")
NODE = shutil.which("node")
SDK = Path(os.environ.get("CBE_NODE_SDK") or ROOT / ".ci/tools/node_modules/@hubspot/api-client")
MISSING = (
    "node is not installed"
    if NODE is None
    else None
    if (SDK / "package.json").is_file()
    else f"HubSpot's Node SDK is not at {SDK} "
    "(npm install --prefix .ci/tools @hubspot/api-client@14, or set CBE_NODE_SDK)"
)
if MISSING and os.environ.get("CBE_REQUIRE_NODE_SDK"):
    raise RuntimeError(f"CBE_REQUIRE_NODE_SDK is set but {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


def test_the_sdk_is_version_14() -> None:
    version = json.loads((SDK / "package.json").read_text())["version"]
    assert version.split(".")[0] == "14"


def _run(step: str, server: Server) -> Any:
    return _run_logged(step, server)[0]


def _run_logged(step: str, server: Server) -> tuple[Any, str]:
    """What the step printed, and what the SDK logged on stderr."""
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(SCRIPT), step],
        env={
            **os.environ,
            "CBE_NODE_SDK": str(SDK),
            "CBE_URL": server.url,
            "CBE_TOKEN": server.token,
            "CBE_PORTAL_ID": str(server.portal_id),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_definitions_through_api_request(server: Server) -> None:
    seen = _run("definitions", server)
    assert seen["label"] == "Viewed a car"
    assert seen["description"] == "A car's page was opened"
    assert seen["properties"] == 4 + 32  # three, the added price, and the defaults
    assert seen["missing"] == {"status": 404, "category": "OBJECT_NOT_FOUND"}


def test_crm_contacts(server: Server) -> None:
    seen = _run("contacts", server)
    assert seen["email"] == "ann@example.com"
    assert seen["listed"] == 1


def test_send_batch_and_read_back_with_filters_and_paging(server: Server) -> None:
    seen = _run("events", server)
    event = f"pe{server.portal_id}_viewed_car"
    assert seen["first"] == ["Make 4", "Make 3"]
    assert seen["second"] == ["Make 2", "Ford"]
    assert seen["secondHasNext"] is False
    assert seen["oldest"]["eventType"] == event
    assert seen["oldest"]["objectType"] == "CONTACT"
    assert seen["oldest"]["occurredAt"] == "2026-10-01T09:30:00.000Z"
    assert seen["oldest"]["properties"] == {"condition": "used", "year": "2020", "make": "Ford"}
    assert seen["byEvent"] == ["Make 2", "Make 3"]
    assert event in seen["eventTypes"]


def test_a_refused_send_raises_with_hubspots_error_body(server: Server) -> None:
    seen = _run("refused", server)
    assert seen["code"] == 400
    assert seen["category"] == "VALIDATION_ERROR"
    assert f"pe{server.portal_id}_viewed_car" in seen["message"]


def test_a_429_reaches_the_sdk_as_hubspots_so_its_retry_would_wait(tmp_path: Path) -> None:
    limited = start_server(tmp_path / "db", "--rate-limit", "1/60s")
    try:
        seen = _run("ratelimited", limited)
    finally:
        print(stop_server(limited))
    assert seen["first"] == {"status": 200, "remaining": "0"}
    assert seen["code"] == 429
    assert seen["policyName"] == "TEN_SECONDLY_ROLLING"  # the SDK's RetryDecorator keys on it
    assert seen["errorType"] == "RATE_LIMIT"
    assert seen["max"] == "1"
    assert 1 <= int(seen["retryAfter"]) <= 60


def test_the_readme_example_works_as_shown(server: Server) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```js\n(.*?)```", readme, re.S)
    assert match is not None
    with server.client() as client:
        created = client.post(
            "/events/v3/event-definitions",
            json={
                "label": "Viewed Car",
                "includeDefaultProperties": True,
                "propertyDefinitions": [{"label": "Make", "type": "string"}],
            },
        )
        assert created.status_code == 201
        client.post("/crm/v3/objects/contacts", json={"properties": {"email": "ann@example.com"}})
    assert NODE is not None
    ran = subprocess.run(
        [NODE, "-e", match[1].replace("8765", server.url.rsplit(":", 1)[1])],
        env={
            **os.environ,
            "NODE_PATH": str(SDK.parent.parent),  # node_modules, where require finds the SDK
            "TOKEN": server.token,
            "EVENT": f"pe{server.portal_id}_viewed_car",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[ 'Saab' ]"


def test_the_sdks_own_retry_waits_out_a_429(tmp_path: Path) -> None:
    limited = start_server(tmp_path / "db", "--rate-limit", "1/5s")
    try:
        seen, log = _run_logged("retried", limited)
    finally:
        print(stop_server(limited))
    # the SDK met the 429, said it would wait, and its retry was answered
    assert "Request failed with status code [429], will retry [1] time in [10000] ms" in log
    assert isinstance(seen["eventTypes"], list)
