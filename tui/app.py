"""The cbe Textual application: the frame, the sections and the actions every screen shares."""

from __future__ import annotations

import contextlib
import gc
import importlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Input, TextArea
from textual.worker import Worker, WorkerState

from core.errors import CbeError
from core.models import ObjectType
from core.ports import Topic, Watchable
from core.remote import RemoteOpener
from core.services import Services
from tui.commands import CbeCommands
from tui.dialogs.save_as import default_export_dir
from tui.formatting import escape
from tui.live import StoreFollower
from tui.messages import StoreChanged
from tui.screens.base import CbeScreen
from tui.screens.events import EventsScreen
from tui.widgets.section_bar import SECTIONS

DEFAULT_API_URL = "http://127.0.0.1:8765"
FALLBACK = 10
"""With live updates, screens still read again every ``refresh_seconds`` times this (20 s):
a change nobody announced (a PostgreSQL writer killed between its commit and its NOTIFY, a
pooler between the app and the server that drops LISTEN) is shown late, never missed."""
_FRAME_ACTIONS = {"app.focus_next", "app.focus_previous", "focus_next", "focus_previous"}


def _is_form(screen: ModalScreen[Any]) -> bool:
    """A dialog with a field that can be typed in (its content is lost on quitting)."""
    return any(not getattr(field, "read_only", False) for field in screen.query("Input, TextArea"))


def _dialog_name(screen: ModalScreen[Any]) -> str:
    named = getattr(screen, "title_text", None)
    if named:
        return str(named)
    words = re.findall(r"[A-Z][a-z]*", type(screen).__name__.removesuffix("Dialog"))
    return " ".join(words).capitalize()


def _later(module: str, name: str) -> Callable[[], Screen[Any]]:
    """A factory of a screen class imported when first called."""

    def make() -> Screen[Any]:
        screen_class: type[Screen[Any]] = getattr(importlib.import_module(module), name)
        return screen_class()

    return make


class CbeApp(App[None]):
    """HubSpot's custom behavioral events in the terminal."""

    CSS_PATH = "cbe.tcss"
    TITLE = "cbe"
    # The sections. The app starts in the events home (Textual makes no blank default screen
    # first); the other sections' screens (and what they import, such as the charts) load
    # when first visited.
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "events": EventsScreen,
        "records": _later("tui.screens.records", "RecordsScreen"),
        "workflows": _later("tui.screens.workflows", "WorkflowsScreen"),
        "analyze": _later("tui.screens.analyze", "AnalyzeScreen"),
    }
    DEFAULT_MODE = "events"
    COMMANDS = App.COMMANDS | {CbeCommands}
    BINDINGS = [
        *(Binding(key, f"section('{mode}')", label, show=False) for key, mode, label in SECTIONS),
        Binding("question_mark", "help", "Help", key_display="?"),
        # A letter: only where no form is being filled in (see check_action). ctrl+q, Textual's
        # own, quits from anywhere; both ask first when work would be lost (action_quit).
        Binding("q", "quit_by_letter", "Quit"),
        # In a text field ctrl+a selects all of it, as in most editors (Textual's fields take
        # it for "go to start"; home still does that); so typing replaces a whole name.
        Binding("ctrl+a", "select_all_text", "Select all", show=False, priority=True),
    ]

    def __init__(
        self,
        services: Services,
        *,
        refresh_seconds: float = 2.0,
        api_url: str = DEFAULT_API_URL,
        export_dir: Path | None = None,
        open_remote: RemoteOpener | None = None,
    ) -> None:
        super().__init__()
        self.services = services
        self.refresh_seconds = refresh_seconds
        """How often the workflow clock ticks, and screens look for changes made by other
        processes when the store cannot tell (0: never; no live updates either)."""
        self.follower: StoreFollower | None = None
        """The one thread that follows the store's changes (None: not followed)."""
        self.api_url = api_url
        """Where `cbe serve` listens, for the API examples."""
        self.export_dir = export_dir or default_export_dir()
        """Where report tables and plans are offered to be saved (then the last folder used):
        never the working directory, often a repository."""
        self.open_remote = open_remote
        """Reaches a remote portal for the plan dialog (given by the composition root)."""
        self.last_event: str | None = None
        """The event whose details were shown last (opened, edited or just created): the
        events list puts its cursor back on it."""
        self._records_read = False
        self._frozen = False
        """Whether what the app holds is kept out of the cycle collector's full passes."""

    def on_load(self) -> None:
        if self.refresh_seconds and isinstance(self.services.db, Watchable):
            # Live updates: every screen shows what any process stores as it is stored. The
            # follower starts before the first screen reads the store (it is composed before
            # on_mount), so no change after that read goes unannounced.
            self.follower = StoreFollower(self.services.db.watch(), self._store_changed)
            self.follower.start()

    def on_mount(self) -> None:
        self.sub_title = self._sub_title()
        refusal: str | None = getattr(self.services.db, "refusal", None)
        if refusal is not None:
            self.notify(refusal, title="Read-only", severity="warning", timeout=30)
        if self.refresh_seconds:
            self.set_interval(self.refresh_seconds, self.advance_workflows)

    def on_unmount(self) -> None:
        if self.follower is not None:
            self.follower.stop()
        if self._frozen:
            gc.unfreeze()  # (a process that goes on, as the tests', collects it again)

    @property
    def poll_seconds(self) -> float:
        """How often screens read again by themselves (0: never): rarely when the store tells
        when it changed (a fallback), else every ``refresh_seconds``."""
        return self.refresh_seconds * (FALLBACK if self.follower is not None else 1)

    def _store_changed(self, topics: frozenset[Topic]) -> None:
        self.post_message(StoreChanged(topics))  # from the follower's thread: thread-safe

    def on_store_changed(self, message: StoreChanged) -> None:
        """Every section's screens hear it: the one on top reads again, the others when they
        are shown again."""
        for stack in self._screen_stacks.values():
            for screen in stack:
                if isinstance(screen, CbeScreen):
                    screen.store_changed(message.topics)
        if Topic.OUTBOX in message.topics:
            self.follow_title()

    def home_shown(self) -> None:
        """The events home shows its first counts: the records are read now, once, in a
        thread (:meth:`_read_records`)."""
        if not self._records_read:
            self._records_read = True
            self._read_records()

    @work(thread=True, exclusive=True, group="records-read")
    def _read_records(self) -> None:
        """What the Records list's first frame reads of the store (the first page of each
        kind: at 100,000 contacts, the index's keys, 10 to 15 ms the first time in a process),
        read beside the events home rather than when the list is first opened."""
        for kind in ObjectType:
            with contextlib.suppress(CbeError):  # the list says what is wrong, if it still is
                self.services.records.page(kind, limit=1)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "records-read" and event.state is WorkerState.SUCCESS:
            # What exists now (modules, the store's indexes, the app and its home screen) lives
            # as long as the app: kept out of the cycle collector's full passes, which
            # otherwise walk it again every few screens opened, each pass 60 to 95 ms at
            # 100,000 contacts with the app's thread stopped (bench/README.md). As cbe serve
            # does (api/server.py).
            gc.freeze()
            self._frozen = True

    @work(thread=True, exclusive=True, group="title")
    def follow_title(self) -> None:
        """The header's forwarding line follows the relay of a `cbe serve --forward`."""
        title = self._sub_title()
        if title != self.sub_title:
            self.call_from_thread(setattr, self, "sub_title", title)

    def _sub_title(self) -> str:
        """Portal, database, read-only, and where `cbe serve --forward` stands (once it
        forwarded anything to a remote portal)."""
        db = self.services.db
        title = f"portal {db.portal.portal_id} · {db.name}"
        # A read-only copy, or a damaged database before `cbe doctor`: reads only.
        if getattr(db, "refusal", None) is not None:
            title += " · read-only"
        counts = db.outbox.counts()
        if counts.owed or counts.sent or counts.refused:  # a click on it opens Forwarding
            title += f" · forwarded {counts.sent:,}, owed {counts.owed:,}"
            if counts.refused:
                title += f", refused {counts.refused:,}"
        return title

    @work(thread=True, exclusive=True, group="workflow-clock")
    def advance_workflows(self) -> None:
        """Maximum waits and delays expire by the clock, also while only the app is open; the
        header follows the relay of a `cbe serve --forward` on this database."""
        title = self._sub_title()
        if title != self.sub_title:
            self.call_from_thread(setattr, self, "sub_title", title)
        if getattr(self.services.db, "refusal", None) is not None:
            return  # read-only: the process that can write advances them
        self.services.workflows.advance()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "select_all_text":
            return isinstance(self.focused, Input | TextArea)  # elsewhere the key goes on
        if action == "quit_by_letter":
            # `q` pressed in a wizard or a dialog (on a button, a list, a radio button) was
            # meant for the form, never for the app: there it does nothing and is not shown.
            screen = self.screen
            return not (
                isinstance(screen, ModalScreen) or (isinstance(screen, CbeScreen) and screen.FORM)
            )
        return True

    def action_select_all_text(self) -> None:
        if isinstance(self.focused, Input | TextArea):
            self.focused.select_all()

    def unsaved_work(self) -> list[str]:
        """What quitting now would lose, on every section's screens (open wizards, edited
        snippets, dialogs being filled in)."""
        lost: list[str] = []
        # Textual keeps each mode's screens but offers no public view of other modes' stacks.
        for stack in self._screen_stacks.values():
            for screen in stack:
                if isinstance(screen, CbeScreen):
                    what = screen.unsaved_work()
                    if what:
                        lost.append(what)
                elif isinstance(screen, ModalScreen) and _is_form(screen):
                    lost.append(f"The dialog “{_dialog_name(screen)}” is open and not saved.")
        return lost

    async def action_quit(self) -> None:
        """Quit, after asking when work would be lost (ctrl+q, and q where it is offered)."""
        from tui.dialogs.confirm import ConfirmDialog

        if isinstance(self.screen, ConfirmDialog) and self.screen.confirm == "Quit":
            return  # already asking
        lost = self.unsaved_work()
        if not lost:
            self.exit()
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.exit()

        message = "\n".join(escape(line) for line in lost)
        self.push_screen(ConfirmDialog("Quit cbe?", message, confirm="Quit"), answered)

    async def action_quit_by_letter(self) -> None:
        await self.action_quit()

    def action_section(self, mode: str) -> None:
        """Go to a section (its screens keep their place)."""
        if self.current_mode != mode:
            self.switch_mode(mode)

    def action_help(self) -> None:
        """Show what the current screen is for and its keys: its own, the field's, the app's."""
        from tui.dialogs.help import HelpDialog

        screen = self.screen
        if isinstance(screen, HelpDialog):
            return
        groups: dict[str, list[tuple[str, str]]] = {"screen": [], "field": [], "app": []}
        seen = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if not binding.description or binding.action in seen or not active.enabled:
                continue
            seen.add(binding.action)
            group = "screen" if active.node is screen else "app" if active.node is self else "field"
            if group == "field" and not binding.show:
                continue  # a field's own movement keys: in its help, not this one
            if group == "screen" and binding.action in _FRAME_ACTIONS:
                continue  # listed once, under the general keys
            display = binding.key_display or self.get_key_display(binding)
            groups[group].append((display, binding.description))
        # A screen's key that the focused field also answers to (enter on a table opens the
        # row): active_bindings holds the field's hidden one, so the screen's is listed first.
        shadowed: list[tuple[str, str]] = []
        for key, bindings in screen._bindings.key_to_bindings.items():
            for binding in bindings:
                answering = screen.active_bindings.get(key)
                if (
                    binding.description
                    and binding.action not in seen
                    and binding.action not in _FRAME_ACTIONS
                    and answering is not None
                    and answering.node is not screen
                    and not answering.binding.show
                ):
                    seen.add(binding.action)
                    display = binding.key_display or self.get_key_display(binding)
                    shadowed.append((display, binding.description))
        # The app's keys are the dialog's general ones.
        keys = shadowed + groups["screen"] + groups["field"]
        about = screen.HELP if isinstance(screen, CbeScreen) else ""
        title = screen.title or screen.__class__.__name__.removesuffix("Screen")
        self.push_screen(HelpDialog(str(title), about, keys))

    def action_forwarding(self) -> None:
        """Where the relay of a `cbe serve --forward` on this database stands (the header's
        forwarding line and the palette open it)."""
        from tui.screens.forwarding import ForwardingScreen

        if not isinstance(self.screen, ForwardingScreen):
            self.push_screen(ForwardingScreen())

    def action_create_event(self) -> None:
        from tui.screens.wizard import CreateEventScreen

        self.action_section("events")
        self.push_screen(CreateEventScreen())

    def open_event(self, name: str) -> None:
        """Show an event's details."""
        from tui.screens.event_detail import EventDetailScreen

        self.action_section("events")
        self.push_screen(EventDetailScreen(name))
