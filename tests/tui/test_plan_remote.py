"""The plan dialog against a remote portal: a real ``cbe serve`` on loopback plays HubSpot."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from cli.bootstrap import open_remote, open_services
from core.models import EventDefinition
from core.services import Services
from tests.api.conftest import Server, start_server, stop_server
from tests.tui.conftest import SIZE, settle
from tui.app import CbeApp
from tui.dialogs.confirm import ConfirmDialog
from tui.dialogs.plan import PlanDialog


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[Server]:
    """An empty portal with another id than the app's."""
    open_services(tmp_path / "remote", portal_id=2222).close()
    server = start_server(tmp_path / "remote")
    yield server
    print(stop_server(server))


def _result(pilot: Pilot[None]) -> str:
    return str(pilot.app.screen.query_one("#plan-result").render())


async def test_the_plan_dialog_shows_each_change_before_applying_it_to_a_remote(
    services: Services, viewed_car: EventDefinition, remote: Server, tmp_path: Path
) -> None:
    plan, pulled = tmp_path / "plan.json", tmp_path / "pulled.json"
    app = CbeApp(services, refresh_seconds=0, open_remote=open_remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, PlanDialog)
        dialog.query_one("#plan-file", Input).value = str(plan)
        await pilot.click("#export")  # this database's plan
        await settle(pilot)
        dialog.query_one("#plan-remote", Input).value = remote.url
        dialog.query_one("#plan-token", Input).value = remote.token

        await pilot.click("#diff")
        await settle(pilot)
        assert "safe: add event viewed_car: 5 custom properties" in _result(pilot)

        await pilot.click("#apply")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmDialog)
        assert confirm.title_text == f"Apply 1 change(s), 0 breaking, to {remote.url}?"
        assert confirm.message == "safe: add event viewed_car: 5 custom properties"
        with httpx.Client(base_url=remote.url) as http:  # nothing written yet
            headers = {"Authorization": f"Bearer {remote.token}"}
            listed = http.get("/events/v3/event-definitions", headers=headers).json()
            assert listed["total"] == 0
        await pilot.press("y")
        await settle(pilot)
        assert f"Applied 1 change(s) to {remote.url}." in _result(pilot)

        await pilot.click("#diff")
        await settle(pilot)
        assert "No changes" in _result(pilot)

        dialog.query_one("#plan-file", Input).value = str(pulled)
        await pilot.click("#export")  # with a remote: pulled from it
        await settle(pilot)
        assert f"Wrote 1 event(s) to {pulled}" in _result(pilot)
    assert pulled.read_text() == plan.read_text()  # the same definitions, over there


async def test_the_plan_dialog_says_when_the_remote_needs_a_token(
    services: Services, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HUBSPOT_ACCESS_TOKEN", raising=False)
    (tmp_path / "plan.json").write_text(json.dumps({"cbePlan": 1, "events": []}))
    app = CbeApp(services, refresh_seconds=0, open_remote=open_remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        app.screen.query_one("#plan-file", Input).value = str(tmp_path / "plan.json")
        app.screen.query_one("#plan-remote", Input).value = "http://127.0.0.1:9"
        await pilot.click("#diff")
        await settle(pilot)
        assert "The remote needs its access token" in _result(pilot)


async def test_a_remote_that_changed_after_the_diff_gets_nothing_written(
    services: Services, viewed_car: EventDefinition, remote: Server, tmp_path: Path
) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(services.plans.export())
    app = CbeApp(services, refresh_seconds=0, open_remote=open_remote)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        app.screen.query_one("#plan-file", Input).value = str(plan)
        app.screen.query_one("#plan-remote", Input).value = remote.url
        app.screen.query_one("#plan-token", Input).value = remote.token
        await pilot.click("#apply")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        with remote.client() as http:  # someone else changes the remote meanwhile
            body = {"label": "Signed up", "propertyDefinitions": []} | {
                "includeDefaultProperties": True
            }
            http.post("/events/v3/event-definitions", json=body).raise_for_status()
        await pilot.press("y")
        await settle(pilot)
        shown = _result(pilot)
        assert "The portal changed since the diff (1 change(s) approved, 2 now)" in shown
        with remote.client() as http:
            names = [d["name"] for d in http.get("/events/v3/event-definitions").json()["results"]]
        assert names == ["signed_up"]
