"""Single sends stored in groups: each request answered on its own, all of them durable."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from api.sendqueue import SendQueue
from core.errors import Rule, ValidationFailed
from core.ingestion import IngestResult, Mode
from core.models import Completion, EventDefinition, ObjectType
from core.services import Services
from tests.api.conftest import Server

EMAIL = "ann@example.com"


def _journal_lines(db: Path) -> int:
    return sum(len(p.read_bytes().splitlines()) for p in (db / "completions").glob("journal-*"))


async def _send_all(queue: SendQueue, bodies: list[dict[str, Any]]) -> list[Any]:
    return await asyncio.gather(*(queue.send(b) for b in bodies), return_exceptions=True)


@pytest.mark.parametrize("mode", [Mode.STRICT, Mode.HUBSPOT], ids=["strict", "hubspot"])
def test_sends_arriving_together_are_stored_together_and_answered_each(
    services: Services, viewed_car: EventDefinition, db_path: Path, mode: Mode
) -> None:
    services.records.create(ObjectType.CONTACT, {"email": EMAIL})
    event = viewed_car.fully_qualified_name
    good = [
        {"eventName": event, "email": EMAIL, "uuid": f"u{i}", "properties": {}} for i in range(40)
    ]
    bodies: list[dict[str, Any]] = [*good]
    bodies.insert(5, {"eventName": event, "email": "nobody@example.com", "properties": {}})
    bodies.insert(
        9, {"eventName": event, "email": EMAIL, "uuid": "u3", "properties": {}}
    )  # u3 sent twice
    bodies.insert(20, {"eventName": "pe1_unknown", "email": EMAIL, "properties": {}})

    queue = SendQueue(services.ingestion, mode=mode)
    entered, release = threading.Event(), threading.Event()
    original = services.ingestion.ingest
    calls: list[int] = []

    def held_ingest(bodies: Sequence[Any], *args: Any, **kwargs: Any) -> IngestResult:
        entered.set()
        release.wait(60)  # the first group waits, so that the rest queue up behind it
        calls.append(len(bodies))
        return original(bodies, *args, **kwargs)

    services.ingestion.ingest = held_ingest  # type: ignore[method-assign]

    async def run() -> list[Any]:
        # Ordered by events, not by sleeping: on a busy machine 50 ms prove nothing.
        first = asyncio.ensure_future(queue.send(bodies[0]))
        assert await asyncio.to_thread(entered.wait, 60), "the first send never reached ingest"
        rest = asyncio.ensure_future(_send_all(queue, bodies[1:]))
        deadline = time.monotonic() + 60
        while len(queue._waiting) < len(bodies) - 1:  # every other send queued behind it
            assert time.monotonic() < deadline, "the other sends never queued"
            await asyncio.sleep(0.001)
        release.set()
        return [await first, *await rest]

    outcomes = asyncio.run(run())
    queue.close()

    assert calls == [1, len(bodies) - 1]  # two groups: the first send, then all the others
    assert _journal_lines(db_path) == 2
    refused = {i: o for i, o in enumerate(outcomes) if isinstance(o, ValidationFailed)}
    stored = [o for o in outcomes if isinstance(o, Completion)]
    kept = services.db.completions.summaries()[event].count
    if mode is Mode.STRICT:
        assert {i: [v.rule for v in o.violations] for i, o in refused.items()} == {
            5: [Rule.UNKNOWN_EMAIL],
            9: [Rule.DUPLICATE_UUID],
            20: [Rule.UNKNOWN_EVENT],
        }
        assert [c.uuid for c in stored] == [b["uuid"] for b in good]
        assert kept == len(good)
    else:  # as HubSpot: the unknown email is kept unassociated, the repeated uuid a no-op
        assert {i: [v.rule for v in o.violations] for i, o in refused.items()} == {
            20: [Rule.UNKNOWN_EVENT],
        }
        assert outcomes[9] is None
        assert outcomes[5].object_id is None
        assert len(stored) == len(good) + 1 == kept


def test_a_storage_failure_is_every_waiting_requests_error(
    services: Services, viewed_car: EventDefinition
) -> None:
    services.records.create(ObjectType.CONTACT, {"email": EMAIL})

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    services.ingestion.ingest = broken  # type: ignore[method-assign]
    queue = SendQueue(services.ingestion)
    body = {"eventName": viewed_car.fully_qualified_name, "email": EMAIL, "properties": {}}
    outcomes = asyncio.run(_send_all(queue, [body, body, body]))
    queue.close()
    assert [str(o) for o in outcomes] == ["disk full"] * 3


def test_a_closed_queue_refuses_new_sends(services: Services) -> None:
    queue = SendQueue(services.ingestion)
    queue.close()
    with pytest.raises(RuntimeError, match="closed"):
        asyncio.run(queue.send({}))


@pytest.mark.slow
def test_concurrent_http_sends_are_each_answered_and_durable(server: Server) -> None:
    with server.client() as client:
        event = client.post(
            "/events/v3/event-definitions",
            json={"label": "Clicked", "propertyDefinitions": [], "includeDefaultProperties": True},
        ).json()
        client.post("/crm/v3/objects/contacts", json={"properties": {"email": EMAIL}})
    name = event["fullyQualifiedName"]

    async def run() -> list[httpx.Response]:
        headers = {"Authorization": f"Bearer {server.token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30) as client:
            bodies = [
                {
                    "eventName": name,
                    "email": EMAIL,
                    "uuid": f"h{i}",
                    "properties": {} if i % 10 else {"not_a_property": 1},
                }
                for i in range(200)
            ]
            return await asyncio.gather(*(client.post("/events/v3/send", json=b) for b in bodies))

    responses = asyncio.run(run())
    codes = [r.status_code for r in responses]
    assert codes == [400 if i % 10 == 0 else 204 for i in range(200)]
    assert {r.json()["errors"][0]["code"] for r in responses if r.status_code == 400} == {
        "UNKNOWN_PROPERTY"
    }
    stored = [
        doc["uuid"]
        for p in sorted((server.db / "completions").glob("journal-*"))
        for line in p.read_bytes().splitlines()
        for doc in orjson.loads(line)["docs"]
    ]
    assert sorted(stored) == sorted(f"h{i}" for i in range(200) if i % 10)
    lines = _journal_lines(server.db)
    print(f"\n200 concurrent sends: {lines} journal lines")
    assert lines < 180  # grouped: fewer journal lines (and fsyncs) than requests
