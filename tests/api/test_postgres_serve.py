"""``cbe serve --db postgresql://...``: HubSpot's own Python SDK against a server that keeps
its portal in PostgreSQL (a database of the tests' server: tests.postgres)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from hubspot import HubSpot
from hubspot.events.send import (
    BatchedBehavioralEventHttpCompletionRequest,
    BehavioralEventHttpCompletionRequest,
)

from tests.api.conftest import ROOT, start_server, stop_server
from tests.api.test_hubspot_sdk import _contact, _define_viewed_car
from tests.postgres import fresh_database_url


def _with_password(url: str, password: str) -> str:
    """``url`` with a password (the tests' server trusts its local users and ignores it)."""
    scheme, _, rest = url.partition("://")
    user, _, place = rest.partition("@")
    return f"{scheme}://{user}:{password}@{place}"


def test_the_sdk_sends_completions_to_a_postgres_server_and_reads_them_back() -> None:
    url = _with_password(fresh_database_url(), "s3cret-pw")
    server = start_server(url)
    try:
        client = HubSpot(access_token=server.token, host=server.url, base_url=server.url)
        _define_viewed_car(client)
        contact_id = _contact(client, "ann@example.com")
        event = f"pe{server.portal_id}_viewed_car"
        client.events.send.basic_api.send(
            behavioral_event_http_completion_request=BehavioralEventHttpCompletionRequest(
                event_name=event,
                email="ann@example.com",
                occurred_at=datetime(2026, 10, 1, 9, 30, tzinfo=UTC),
                properties={"condition": "used", "year": "2020", "make": "Ford"},
                uuid="send-1",
            )
        )
        batch = BatchedBehavioralEventHttpCompletionRequest(
            inputs=[
                BehavioralEventHttpCompletionRequest(
                    event_name=event,
                    object_id=contact_id,
                    occurred_at=datetime(2026, 10, day, 12, tzinfo=UTC),
                    properties={"make": f"Make {day}"},
                    uuid=f"batch-{day}",
                )
                for day in (2, 3, 4)
            ]
        )
        client.events.send.batch_api.send(batched_behavioral_event_http_completion_request=batch)
        client.events.send.batch_api.send(batched_behavioral_event_http_completion_request=batch)

        first = client.events.events_api.get_page(
            object_type="contact", object_id=int(contact_id), limit=2
        )
        assert [e.properties.get("make") for e in first.results] == ["Make 4", "Make 3"]
        second = client.events.events_api.get_page(
            object_type="contact",
            object_id=int(contact_id),
            limit=10,
            after=first.paging.next.after,
        )
        assert [e.properties.get("make") for e in second.results] == ["Make 2", "Ford"]
        oldest = second.results[-1]
        assert oldest.occurred_at == datetime(2026, 10, 1, 9, 30, tzinfo=UTC)
        assert oldest.properties == {"condition": "used", "year": "2020", "make": "Ford"}
    finally:
        output = stop_server(server)
    assert "database:      postgresql://postgres:***@" in output
    assert "s3cret-pw" not in output
    portal = subprocess.run(
        [sys.executable, "-m", "cli", "portal", "--db", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"Portal id:    {server.portal_id}" in portal
    assert "s3cret-pw" not in portal


def test_doctor_says_it_checks_folders_only() -> None:
    url = _with_password(fresh_database_url(), "s3cret-pw")
    done = subprocess.run(
        [sys.executable, "-m", "cli", "doctor", "--db", url],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "cbe doctor checks the files of a database folder; postgresql://" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout


def test_cbe_db_set_to_a_url_opens_postgres_and_never_shows_its_password() -> None:
    url = _with_password(fresh_database_url(), "s3cret-pw")
    done = subprocess.run(
        [sys.executable, "-m", "cli", "portal", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "CBE_DB": url},
        check=True,
    )
    shown = json.loads(done.stdout)
    assert shown["database"].startswith("postgresql://postgres:***@/")
    assert "s3cret-pw" not in done.stdout + done.stderr
