"""A send's trace in the app: ``t`` on a timeline entry (issue 15)."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from core.errors import ValidationFailed
from core.ingestion import Mode
from core.models import CrmRecord, EventDefinition
from core.services import Services
from tests.sending import send_maybe, send_one
from tests.tui.conftest import SIZE, make_app, settle, step
from tui.dialogs.trace import TraceDialog


async def test_t_on_a_timeline_entry_shows_its_trace(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    body = {
        "eventName": viewed_car.fully_qualified_name,
        "email": contact.email,
        "uuid": "order-\x1b[2J7",
        "properties": {"make": "Kia"},
    }
    send_one(services.ingestion, body, mode=Mode.HUBSPOT)
    send_maybe(services.ingestion, body, mode=Mode.HUBSPOT)  # a retry
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "2")
        await step(pilot, "enter")
        await step(pilot, "t")
        dialog = app.screen
        assert isinstance(dialog, TraceDialog)
        text = str(dialog.query_one("#trace", Static).render())
        assert "Matched a contact by email 'ann@example.com'." in text
        assert "Retry: received" in text
        assert "\x1b" not in text and "\\x1b[2J" in text  # the uuid, neutralised
        await step(pilot, "escape")
        assert not isinstance(app.screen, TraceDialog)


async def test_t_on_a_rejected_request_shows_every_rule(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    body = {
        "eventName": viewed_car.fully_qualified_name,
        "objectId": contact.id,
        "uuid": "r-9",
        "properties": {"year": "old"},
    }
    with pytest.raises(ValidationFailed):
        send_one(services.ingestion, body, mode=Mode.HUBSPOT)
    app = make_app(services)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "r")
        await step(pilot, "t")
        dialog = app.screen
        assert isinstance(dialog, TraceDialog) and dialog.key == "r-9"
        text = str(dialog.query_one("#trace", Static).render())
        assert "Refused: received" in text and "INVALID_NUMBER" in text
