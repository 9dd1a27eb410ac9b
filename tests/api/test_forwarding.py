"""``cbe serve --forward URL``: a validating gateway that relays what it accepts to a remote portal,
exactly once. The remote is a second ``cbe serve`` with another portal id, started, stopped and
killed by the tests; nothing waits a fixed time: the remote is polled with a deadline."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import ROOT, Server, free_port, start_server, stop_server

LOCAL_ID = 111111
REMOTE_ID = 222222
DEADLINE = 60.0
EMAIL = "ann@example.com"


def _cli(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cli", *args], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return done.stdout


def _portal(db: Path, portal_id: int) -> str:
    """Give the database ``portal_id``; its access token."""
    _cli("portal", "set-id", str(portal_id), "--db", str(db))
    token: str = json.loads(_cli("portal", "--db", str(db), "--json"))["accessToken"]
    return token


def _define(server: Server, *properties: str) -> None:
    """Event ``viewed`` with property ``n`` (and ``properties``), and contact ann."""
    with server.client() as client:
        answer = client.post(
            "/events/v3/event-definitions",
            json={
                "label": "Viewed",
                "name": "viewed",
                "primaryObject": "CONTACT",
                "includeDefaultProperties": False,
                "propertyDefinitions": [
                    {"name": p, "label": p.title(), "type": "string"} for p in ("n", *properties)
                ],
            },
        )
        assert answer.status_code == 201, answer.text
        answer = client.post("/crm/v3/objects/contacts", json={"properties": {"email": EMAIL}})
        assert answer.status_code == 201, answer.text


def _until(what: Callable[[], Any], deadline: float = DEADLINE) -> Any:
    """``what()`` once it is truthy; fails after ``deadline`` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < end, "not reached before the deadline"
        time.sleep(0.1)


def _arrived(remote: Server) -> list[str]:
    """The ``n`` of every completion of ``viewed`` the remote holds, in any order."""
    found: list[str] = []
    after: str | None = None
    with remote.client() as client:
        while True:
            params = {
                "objectType": "contact",
                "eventType": f"pe{REMOTE_ID}_viewed",
                "limit": "100",
            }
            if after:
                params["after"] = after
            page = client.get("/events/v3/events/", params=params).json()
            found += [r["properties"].get("n", "") for r in page["results"]]
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return found


def _send(local: Server, numbers: range, **extra: Any) -> None:
    with local.client() as client:
        for n in numbers:
            body = {
                "eventName": f"pe{LOCAL_ID}_viewed",
                "email": EMAIL,
                "uuid": f"uuid-{n}",
                "properties": {"n": str(n)},
            } | extra
            answer = client.post("/events/v3/send", json=body)
            assert answer.status_code == 204, answer.text


def _status(local: Server) -> dict[str, Any]:
    with local.client() as client:
        answer = client.get("/cbe/v1/forwarding")
        assert answer.status_code == 200, answer.text
        status: dict[str, Any] = answer.json()
        return status


@pytest.fixture
def remote_db(tmp_path: Path) -> Iterator[tuple[Path, str, int]]:
    """The remote's database (portal 222222, viewed defined), its token and its port."""
    db = tmp_path / "remote"
    port = free_port()
    first = start_server(db, port=port)
    _define(first)
    stop_server(first)
    token = _portal(db, REMOTE_ID)
    yield db, token, port


def _local(tmp_path: Path, token: str, port: int, name: str = "local") -> Server:
    db = tmp_path / name
    if not db.exists():
        plain = start_server(db)
        _define(plain, "colour")
        stop_server(plain)
        _portal(db, LOCAL_ID)
    return start_server(db, "--forward", f"http://127.0.0.1:{port}", "--forward-token", token)


def test_forwarded_completions_arrive_under_the_remote_prefix_with_their_uuids(
    tmp_path: Path, remote_db: tuple[Path, str, int]
) -> None:
    db, token, port = remote_db
    remote = start_server(db, port=port)
    local = _local(tmp_path, token, port)
    try:
        _send(local, range(20))
        with local.client() as client:  # and from a page, through the collector
            beacon = {
                "eventName": f"pe{LOCAL_ID}_viewed",
                "email": EMAIL,
                "properties": {"n": "20"},
            }
            collected = client.post("/cbe/v1/collect", json=beacon)
            assert collected.status_code == 200, collected.text
        arrived = _until(lambda: len(_arrived(remote)) >= 21 and _arrived(remote))
        assert sorted(arrived, key=int) == [str(n) for n in range(21)]
        with remote.client() as client:
            trace = client.get("/cbe/v1/trace/uuid-7").json()
        assert trace["completions"][0]["eventName"] == f"pe{REMOTE_ID}_viewed"
        status = _until(lambda: _status(local)["sent"] == 21 and _status(local))
        assert status["owed"] == 0
        assert status["refused"] == 0
        assert status["remote"] == f"http://127.0.0.1:{port}"
        assert token not in json.dumps(status)
        assert httpx.get(f"{local.url}/cbe/v1/forwarding").status_code == 401  # token-protected
        said = stop_server(local)
        assert f"forwards to:   http://127.0.0.1:{port}" in said
        assert token not in said
    finally:
        print(stop_server(local))
        print(stop_server(remote))


def test_what_is_owed_while_the_remote_is_down_arrives_once_when_it_starts(
    tmp_path: Path, remote_db: tuple[Path, str, int]
) -> None:
    db, token, port = remote_db
    local = _local(tmp_path, token, port)
    try:
        _send(local, range(100))
        down = _until(lambda: (s := _status(local))["lastError"] and s)
        assert down["owed"] == 100
        assert down["sent"] == 0
        remote = start_server(db, port=port)
        try:
            _until(lambda: _status(local)["owed"] == 0)
            assert sorted(_arrived(remote), key=int) == [str(n) for n in range(100)]
        finally:
            print(stop_server(remote))
    finally:
        print(stop_server(local))


def test_a_local_server_killed_mid_stream_loses_nothing_and_doubles_nothing(
    tmp_path: Path, remote_db: tuple[Path, str, int]
) -> None:
    db, token, port = remote_db
    remote = start_server(db, port=port)
    try:
        local = _local(tmp_path, token, port)
        _send(local, range(60))
        local.process.send_signal(signal.SIGKILL)
        local.process.communicate()
        local = _local(tmp_path, token, port)
        try:
            _send(local, range(60, 100))
            _until(lambda: len(_arrived(remote)) >= 100 and _status(local)["owed"] == 0)
            assert sorted(_arrived(remote), key=int) == [str(n) for n in range(100)]
        finally:
            print(stop_server(local))
    finally:
        print(stop_server(remote))


def test_a_remote_rate_limit_is_waited_out(
    tmp_path: Path, remote_db: tuple[Path, str, int]
) -> None:
    db, token, port = remote_db
    remote = start_server(db, "--rate-limit", "1/2s", port=port)
    local = _local(tmp_path, token, port)
    try:
        _send(local, range(30))
        _until(lambda: len(_arrived_once_allowed(remote)) >= 30)
        status = _until(lambda: _status(local)["owed"] == 0 and _status(local))
        assert status["refused"] == 0
        assert status["sent"] == 30
    finally:
        print(stop_server(local))
        print(stop_server(remote))


def _arrived_once_allowed(remote: Server) -> list[str]:
    """As :func:`_arrived`, when the remote's rate limit lets the request through."""
    try:
        return _arrived(remote)
    except (KeyError, httpx.HTTPError):
        return []


def test_a_remote_refusal_is_kept_with_its_answer_and_replayed_once_fixed(
    tmp_path: Path, remote_db: tuple[Path, str, int]
) -> None:
    db, token, port = remote_db
    remote = start_server(db, port=port)
    local = _local(tmp_path, token, port)
    try:
        _send(local, range(3))
        _send(local, range(3, 4), properties={"n": "3", "colour": "red"})  # unknown remotely
        status = _until(lambda: (s := _status(local))["refused"] == 1 and s["owed"] == 0 and s)
        assert status["sent"] == 3
        (refusal,) = status["refusals"]
        assert refusal["uuid"] == "uuid-3"
        assert "colour" in refusal["answer"]
        assert "400" in refusal["answer"]
        with local.client() as client:  # the trace says so
            trace = client.get("/cbe/v1/trace/uuid-3").json()
        assert trace["forwardingRefused"][0]["answer"] == refusal["answer"]
        assert any("Forwarding: the remote refused it" in line for line in trace["summary"])
        listed = _cli("rejections", "--db", str(local.db))
        assert "remote refused" in listed and "uuid-3" in listed
        with remote.client() as client:  # the remote is fixed
            answer = client.post(
                "/events/v3/event-definitions/viewed/property",
                json={"name": "colour", "label": "Colour", "type": "string"},
            )
            assert answer.status_code == 201, answer.text
        with local.client() as client:
            assert client.post("/cbe/v1/forwarding/replay").json() == {"requeued": 1}
        status = _until(lambda: (s := _status(local))["sent"] == 4 and s)
        assert status["refused"] == 0
        assert sorted(_arrived(remote), key=int) == ["0", "1", "2", "3"]
    finally:
        print(stop_server(local))
        print(stop_server(remote))


def _post(server: Server, path: str, body: dict[str, Any]) -> dict[str, Any]:
    with server.client() as client:
        answer = client.post(path, json=body)
        assert answer.status_code in (200, 201), answer.text
        created: dict[str, Any] = answer.json()
        return created


def _company_events(server: Server) -> None:
    """``paid`` (matched by the company's domain) and ``renewed`` (no matching), on companies."""
    for name, matching in (("paid", True), ("renewed", False)):
        body: dict[str, Any] = {
            "label": name.title(),
            "name": name,
            "primaryObject": "COMPANY",
            "includeDefaultProperties": False,
            "propertyDefinitions": [{"name": "domain", "label": "Domain", "type": "string"}],
        }
        if matching:
            body["customMatchingId"] = {
                "primaryObjectRule": {
                    "eventPropertyName": "domain",
                    "targetObjectPropertyName": "domain",
                }
            }
        _post(server, "/events/v3/event-definitions", body)


def _held_by(remote: Server, event: str, object_type: str, object_id: str) -> list[str]:
    """The uuids of ``event``'s completions the remote keeps on that record."""
    with remote.client() as client:
        page = client.get(
            "/events/v3/events/",
            params={
                "objectType": object_type,
                "objectId": object_id,
                "eventType": f"pe{REMOTE_ID}_{event}",
                "limit": "100",
            },
        ).json()
    return [r["id"] for r in page.get("results", [])]


def test_completions_reach_the_remote_record_by_email_or_matching_property_never_by_local_id(
    tmp_path: Path, remote_db: tuple[Path, str, int]
) -> None:
    db, token, port = remote_db
    remote = start_server(db, port=port)
    local_db = tmp_path / "local"
    plain = start_server(local_db)
    try:
        # Ids differ between the two portals: locally bo is contact 3 and acme company 2;
        # on the remote bo is contact 2 and acme company 1.
        _define(plain)
        _post(plain, "/crm/v3/objects/contacts", {"properties": {"email": "x@example.com"}})
        bo = _post(plain, "/crm/v3/objects/contacts", {"properties": {"email": "bo@example.com"}})
        _post(plain, "/crm/v3/objects/companies", {"properties": {"name": "Decoy"}})
        acme = _post(
            plain,
            "/crm/v3/objects/companies",
            {"properties": {"name": "Acme", "domain": "acme.test"}},
        )
        _company_events(plain)
        remote_bo = _post(
            remote, "/crm/v3/objects/contacts", {"properties": {"email": "bo@example.com"}}
        )
        remote_acme = _post(
            remote,
            "/crm/v3/objects/companies",
            {"properties": {"name": "Acme", "domain": "acme.test"}},
        )
        _company_events(remote)
        assert (bo["id"], acme["id"]) == ("3", "2")
        assert (remote_bo["id"], remote_acme["id"]) == ("2", "1")
    finally:
        print(stop_server(plain))
    _portal(local_db, LOCAL_ID)
    local = start_server(
        local_db, "--forward", f"http://127.0.0.1:{port}", "--forward-token", token
    )
    try:
        with local.client() as client:
            for body in (
                {"eventName": "viewed", "objectId": "3", "uuid": "by-id", "properties": {}},
                {"eventName": "viewed", "utk": "visitor", "uuid": "by-utk", "properties": {}},
                {
                    "eventName": "paid",
                    "objectId": "2",
                    "uuid": "by-domain",
                    "properties": {"domain": "acme.test"},
                },
                {"eventName": "renewed", "objectId": "2", "uuid": "by-local-id", "properties": {}},
            ):
                body["eventName"] = f"pe{LOCAL_ID}_{body['eventName']}"
                answer = client.post("/events/v3/send", json=body)
                assert answer.status_code == 204, answer.text
        status = _until(lambda: (s := _status(local))["sent"] == 3 and s)
        assert _until(lambda: _held_by(remote, "viewed", "contact", "2"))  # bo, by email
        assert _until(lambda: _held_by(remote, "paid", "company", "1"))  # acme, by its domain
        assert _held_by(remote, "viewed", "contact", "3") == []
        with remote.client() as client:  # the visitor's utk went too: the remote kept it
            trace = client.get("/cbe/v1/trace/by-utk").json()
        assert trace["completions"][0]["completion"]["utk"] == "visitor"
        assert status["refused"] == 1
        (refusal,) = status["refusals"]
        assert refusal["uuid"] == "by-local-id"
        assert "company 2 is this database's id" in refusal["answer"].lower()
        assert "customMatchingId" in refusal["answer"]
        with remote.client() as client:  # never sent
            assert client.get("/cbe/v1/trace/by-local-id").status_code == 404
    finally:
        print(stop_server(local))
        print(stop_server(remote))
