"""The app's header says where the relay of a `cbe serve --forward` on this database stands; a
click on it (or the palette) opens the forwarding screen: the remote, the counts, the last
error, what the remote refused with its answer, and a replay of it."""

from __future__ import annotations

from textual.widgets import DataTable, Header, Static

from core.outbox import OutboxEntry
from core.services import Services
from tests.tui.conftest import SIZE, make_app, settle, step
from tui.dialogs.confirm import ConfirmDialog
from tui.screens.forwarding import ForwardingScreen
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


REMOTE = "https://api.hubapi.com"
ANSWER = "400 VALIDATION_ERROR: Property colour does not exist on pe222_viewed."


def _relayed(services: Services) -> None:
    """Three owed, one sent, one refused by the remote, which is down now."""
    with services.db.transaction() as unit:
        services.db.outbox.add(
            [
                OutboxEntry(i, {"eventName": "pe111_viewed", "uuid": f"uuid-{i}", "properties": {}})
                for i in ("a", "b", "c", "d", "e")
            ]
        )
        services.db.outbox.settle(["a"], {"b": ANSWER})
        services.db.outbox.note_relay(REMOTE, f"no answer from {REMOTE} (ConnectError)")
        unit.commit()


def _text(app: object, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())  # type: ignore[attr-defined]


async def test_a_click_on_the_headers_forwarding_line_opens_where_the_relay_stands(
    fresh: Services,
) -> None:
    _relayed(fresh)
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click(Header, offset=(SIZE[0] // 2, 0))  # on its title line
        await settle(pilot)
        assert isinstance(app.screen, ForwardingScreen)
        status = _text(app, "#forwarding-status")
        assert REMOTE in status
        assert "Sent 1 · owed 3 · refused 1" in status
        assert "no answer from https://api.hubapi.com (ConnectError)" in status
        table = app.screen.query_one("#forwarding-refused", DataTable)
        assert table.row_count == 1
        assert [str(c) for c in table.get_row_at(0)][:2] == ["viewed", "uuid-b"]
        assert "Property colour does not exist" in _text(app, "#forwarding-answer")
        await step(pilot, "escape")
        assert not isinstance(app.screen, ForwardingScreen)


async def test_the_header_of_a_database_that_never_forwarded_opens_nothing(fresh: Services) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.click(Header, offset=(SIZE[0] // 2, 0))  # on its title line
        await settle(pilot)
        assert not isinstance(app.screen, ForwardingScreen)


async def test_the_palette_opens_forwarding_which_says_when_nothing_was_forwarded(
    fresh: Services,
) -> None:
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await step(pilot, "ctrl+p")
        await pilot.press(*"forwarding")
        await settle(pilot)
        await step(pilot, "enter")
        assert isinstance(app.screen, ForwardingScreen)
        assert "Nothing forwarded from this database yet" in _text(app, "#forwarding-status")


async def test_replaying_the_refused_asks_first_then_owes_them_again(fresh: Services) -> None:
    _relayed(fresh)
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_forwarding()
        await settle(pilot)
        await step(pilot, "p")
        assert isinstance(app.screen, ConfirmDialog)
        await step(pilot, "n")  # not yet
        assert fresh.db.outbox.counts().refused == 1
        await step(pilot, "p")
        await step(pilot, "y")
        await settle(pilot)
        assert isinstance(app.screen, ForwardingScreen)
        counts = fresh.db.outbox.counts()
        assert (counts.owed, counts.refused) == (4, 0)
        assert "Sent 1 · owed 4 · refused 0" in _text(app, "#forwarding-status")
        assert app.screen.query_one("#forwarding-refused", DataTable).row_count == 0
        # Nothing refused any more: the footer no longer offers a replay or a trace.
        footer_keys = {b.binding.description for b in app.screen.active_bindings.values()}
        assert "Back" in footer_keys
        assert not {"Replay refused", "Trace"} & footer_keys


async def test_the_footer_offers_replay_and_trace_only_while_something_is_refused(
    fresh: Services,
) -> None:
    _owe(fresh, "a")
    app = make_app(fresh)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.action_forwarding()
        await settle(pilot)
        shown = {b.binding.description for b in app.screen.active_bindings.values()}
        assert not {"Replay refused", "Trace"} & shown
        await step(pilot, "p")  # not offered: nothing asks
        assert isinstance(app.screen, ForwardingScreen)
        with fresh.db.transaction() as unit:
            fresh.db.outbox.settle([], {"a": ANSWER})
            unit.commit()
        app.screen.reload()
        await settle(pilot)
        shown = {b.binding.description for b in app.screen.active_bindings.values()}
        assert {"Replay refused", "Trace"} <= shown


async def test_forwarding_fits_80_by_24(fresh: Services) -> None:
    _relayed(fresh)
    app = make_app(fresh)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        app.action_forwarding()
        await settle(pilot)
        screen = app.screen
        for selector in ("#forwarding-status", "#forwarding-refused", "#forwarding-detail"):
            region = screen.query_one(selector).region
            assert region.height > 0 and region.right <= 80 and region.bottom <= 23, selector
