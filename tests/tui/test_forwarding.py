"""The app's header says where the relay of a `cbe serve --forward` on this database stands."""

from __future__ import annotations

from textual.widgets import Header, Static

from core.outbox import OutboxEntry
from core.services import Services
from tests.tui.conftest import SIZE, make_app, settle, step
from tui.screens.rejections import RejectionsScreen


def _owe(services: Services, *ids: str) -> None:
    with services.db.transaction() as unit:
        services.db.outbox.add([OutboxEntry(i, {"uuid": i}) for i in ids])
        unit.commit()


async def test_the_header_counts_what_was_forwarded_owed_and_refused(fresh: Services) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "forward" not in app.sub_title  # never forwarded: nothing said
        _owe(fresh, "a", "b", "c")
        with fresh.db.transaction() as unit:
            fresh.db.outbox.settle(["a"], {"b": "400 VALIDATION_ERROR: no property colour"})
            unit.commit()
        app.advance_workflows()  # what the app's clock does every few seconds
        await settle(pilot)
        assert app.sub_title.endswith("forwarded 1, owed 1, refused 1")
        header = app.screen.query_one(Header)
        assert header.screen_sub_title.endswith("forwarded 1, owed 1, refused 1")


async def test_the_rejected_requests_screen_shows_what_the_remote_refused(
    fresh: Services,
) -> None:
    _owe(fresh, "a", "b")
    with fresh.db.transaction() as unit:
        fresh.db.outbox.settle(["a"], {"b": "400 VALIDATION_ERROR: no property colour"})
        unit.commit()
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "r")
        assert isinstance(app.screen, RejectionsScreen)
        summary = str(app.screen.query_one("#rejections-summary", Static).render())
        assert "Forwarding to the remote: 1 sent, 0 owed, 1 refused" in summary
        assert "no property colour" in summary
