"""A full disk through HTTP: 507 in HubSpot's shape, nothing of the request stored, and 204s
again once there is space (issue 14, item 2)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from fastapi.testclient import TestClient

from cli.bootstrap import database_folder, open_services
from core.models import EventDefinition, ObjectType
from core.ports import CompletionSelection
from core.services import Services
from tests.api.conftest import start_server, stop_server
from tests.storage.full_disk import FullDisk
from tests.storage.test_full_disk import ids_in_a_new_process

EMAIL = "ann@example.com"


def _insufficient_storage(
    response: httpx.Response | httpx2.Response, folder: Path | None = None
) -> None:
    assert response.status_code == 507, response.text
    body = response.json()
    assert body["status"] == "error"
    assert body["category"] == "INSUFFICIENT_STORAGE"
    assert len(body["correlationId"]) == 36
    assert "is full" in body["message"] and "nothing of this request was stored" in body["message"]
    if folder is not None:
        assert str(folder) in body["message"]


def _send(event: str, n: int) -> dict[str, Any]:
    return {
        "eventName": event,
        "email": EMAIL,
        "occurredAt": f"2026-10-01T10:{n // 60 % 60:02d}:{n % 60:02d}Z",
        "properties": {"make": f"car {n}"},
    }


def _stored(services: Services) -> int:
    return sum(1 for _ in services.db.completions.scan(CompletionSelection()))


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch, db_path: Path) -> FullDisk:
    return FullDisk(monkeypatch, db_path)


def test_every_write_on_a_full_disk_is_507_in_hubspots_shape(
    http: TestClient, services: Services, viewed_car: EventDefinition, full_disk: FullDisk
) -> None:
    services.records.create(ObjectType.CONTACT, {"email": EMAIL})
    event = viewed_car.fully_qualified_name
    assert http.post("/events/v3/send", json=_send(event, 0)).status_code == 204

    full_disk.fill()
    batch = {"inputs": [_send(event, n) for n in range(1, 41)]}
    _insufficient_storage(http.post("/events/v3/send/batch", json=batch))
    _insufficient_storage(http.post("/events/v3/send", json=_send(event, 41)))
    collected = http.post("/cbe/v1/collect", content=f'{{"eventName": "{event}", "utk": "v1"}}')
    _insufficient_storage(collected)
    _insufficient_storage(
        http.post("/crm/v3/objects/contacts", json={"properties": {"email": "bo@example.com"}})
    )
    _insufficient_storage(
        http.post(
            "/events/v3/event-definitions",
            json={
                "label": "Signed up",
                "primaryObject": "CONTACT",
                "propertyDefinitions": [],
                "includeDefaultProperties": True,
            },
        )
    )
    assert _stored(services) == 1
    assert len(services.records.search(ObjectType.CONTACT)) == 1
    assert len(services.definitions.search()) == 1

    full_disk.free()
    assert http.post("/events/v3/send/batch", json=batch).status_code == 204
    assert http.post("/events/v3/send", json=_send(event, 41)).status_code == 204
    assert _stored(services) == 42


def test_a_group_of_single_sends_refused_by_the_disk_is_answered_per_request(
    http: TestClient, services: Services, viewed_car: EventDefinition, full_disk: FullDisk
) -> None:
    """Single sends are stored in groups: each send of a group the disk refuses gets its own
    507 in HubSpot's shape, never a plain-text 500."""
    services.records.create(ObjectType.CONTACT, {"email": EMAIL})
    event = viewed_car.fully_qualified_name

    async def send_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=http.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=http.headers
        ) as client:
            bodies = [_send(event, n) for n in range(20)]
            return list(
                await asyncio.gather(*(client.post("/events/v3/send", json=b) for b in bodies))
            )

    full_disk.fill()
    answers = asyncio.run(send_all())
    for response in answers:
        _insufficient_storage(response)
    assert _stored(services) == 0
    full_disk.free()
    assert all(r.status_code == 204 for r in asyncio.run(send_all()))
    assert _stored(services) == 20


def test_cbe_send_says_the_disk_is_full_in_one_line(
    tmp_path: Path, services: Services, viewed_car: EventDefinition, full_disk: FullDisk
) -> None:
    from click.testing import CliRunner

    from cli.main import main

    services.records.create(ObjectType.CONTACT, {"email": EMAIL})
    lines = tmp_path / "sends.jsonl"
    lines.write_text(
        "\n".join(json.dumps(_send(viewed_car.fully_qualified_name, n)) for n in (1, 2))
    )
    full_disk.fill()
    db = database_folder(services)
    result = CliRunner().invoke(main, ["send", str(lines), "--db", str(db)])
    assert result.exit_code != 0
    errors = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "is full" in errors[0] and str(db) in errors[0]
    assert "0 completion(s) from" in errors[0]
    full_disk.free()
    result = CliRunner().invoke(main, ["send", str(lines), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "Stored 2 completion(s)" in result.output


# -- a real small disk ---------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``where`` (root only); skips the test when not allowed."""
    where.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"mounting a small tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.mark.slow
def test_a_real_full_disk_loses_no_acknowledged_completion(tmp_path: Path) -> None:
    with small_disk(tmp_path / "small", "2m") as disk:
        db = disk / "db"
        services = open_services(db)
        event = services.definitions.create(
            {
                "label": "Viewed Car",
                "primaryObject": "CONTACT",
                "propertyDefinitions": [{"label": "Make", "type": "string"}],
            }
        ).fully_qualified_name
        services.records.create(ObjectType.CONTACT, {"email": EMAIL})
        services.close()
        filler = disk / "filler"
        free = shutil.disk_usage(disk).free
        filler.write_bytes(b"\0" * max(0, free - 256 * 1024))  # leave a quarter MiB

        server = start_server(db)
        acknowledged: list[str] = []
        refused = 0
        try:
            with server.client() as client:
                for b in range(60):  # about 10 KB a batch: the disk fills part-way
                    inputs = [
                        {**_send(event, b * 40 + i), "uuid": f"b{b:03d}-{i:02d}"}
                        | {"properties": {"make": f"car {b}-{i} " + "x" * 200}}
                        for i in range(40)
                    ]
                    answer = client.post("/events/v3/send/batch", json={"inputs": inputs})
                    if answer.status_code == 204:
                        acknowledged += [i["uuid"] for i in inputs]
                    else:
                        _insufficient_storage(answer, db)
                        refused += 1
                assert refused, "the disk never filled"
                assert acknowledged, "nothing was stored before the disk filled"
        finally:
            output = stop_server(server)
        assert "Traceback" not in output

        def stored_uuids() -> set[str]:
            reopened = open_services(db, create=False)
            try:
                return {c.uuid for c in reopened.db.completions.scan(CompletionSelection())}
            finally:
                reopened.close()

        assert stored_uuids() == set(acknowledged)  # all acknowledged; nothing half-written
        assert len(ids_in_a_new_process(db)) == len(acknowledged)

        filler.unlink()  # space is back
        server = start_server(db)
        try:
            with server.client() as client:
                inputs = [{**_send(event, i), "uuid": f"after-{i:02d}"} for i in range(40)]
                assert (
                    client.post("/events/v3/send/batch", json={"inputs": inputs}).status_code == 204
                )
                assert client.post("/events/v3/send", json=_send(event, 99)).status_code == 204
        finally:
            stop_server(server)
        assert len(stored_uuids()) == len(acknowledged) + 41
        assert len(ids_in_a_new_process(db)) == len(acknowledged) + 41
