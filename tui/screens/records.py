"""Records: contacts, companies, deals and tickets, with their completions and last activity."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker

from core.crm_display import property_display
from core.errors import CbeError
from core.models import CrmRecord, ObjectType
from core.occurrences import CompletionQuery
from core.ports import EventSummary, RecordPage, Topic
from core.records import matches_search, search_needle
from tui.formatting import escape, plain, refill, relative_time
from tui.screens.base import CbeScreen
from tui.widgets.tab_bar import TabBar

COLUMNS: dict[ObjectType, tuple[tuple[str, str], ...]] = {
    ObjectType.CONTACT: (("Name", "name"), ("Email", "email"), ("Job title", "jobtitle")),
    ObjectType.COMPANY: (("Name", "name"), ("Domain", "domain"), ("Industry", "industry")),
    ObjectType.DEAL: (("Name", "name"), ("Amount", "amount"), ("Stage", "dealstage")),
    ObjectType.TICKET: (
        ("Subject", "name"),
        ("Priority", "hs_ticket_priority"),
        ("Stage", "hs_pipeline_stage"),
    ),
}


PAGE = 200
"""Rows a list shows at first (more than a screen), and adds as its cursor nears the last."""
FIRST = 40
"""Rows the open tab shows at once (a screen's worth) when its list is made anew: the rest of
its page, and the rows of the other tabs opened before, come once that is drawn."""


FIRST_KIND = next(iter(ObjectType))
"""The kind whose tab is open when the screen is shown (the first)."""


def _list_of(kind: ObjectType) -> DataTable[object]:
    """The list of records of ``kind``, with its columns and no rows. Only the open tab's is
    made with the screen; each other tab's when it is first opened (a tab never opened costs
    no table: the screen is drawn sooner)."""
    table: DataTable[object] = DataTable(
        cursor_type="row", zebra_stripes=True, id=f"table-{kind.plural}"
    )
    for label, key in COLUMNS[kind]:
        table.add_column(label, key=key)
    table.add_column("Completions", key="completions")
    table.add_column("Last activity", key="last")
    return table


@dataclass(frozen=True)
class _Tab:
    """What the tab of a kind shows: why it is empty (when it is), and its list."""

    note: Static
    table: DataTable[object]
    pane: Vertical
    """The two, shown while the tab is open."""

    @classmethod
    def of(cls, kind: ObjectType) -> _Tab:
        note = Static("", id=f"empty-{kind.plural}", classes="empty")
        # Shown once there is something to say (the first load): the first frame is laid out
        # as the list will stay, and the load's fill only puts the counts in place.
        note.display = False
        table = _list_of(kind)
        return cls(note, table, Vertical(note, table, id=f"tab-{kind.plural}", classes="kind-pane"))


@dataclass(frozen=True)
class _Listing:
    records: dict[ObjectType, list[CrmRecord]]
    """With an event: the records that completed it (else the store is asked, a page at a
    time)."""
    summaries: dict[tuple[ObjectType, str], EventSummary]
    only: frozenset[tuple[ObjectType, str]] | None


class RecordsScreen(CbeScreen):
    """Every record of each kind, searchable; enter opens one with its timeline."""

    TITLE = "Records"
    SECTION = "records"
    AUTO_FOCUS = "#table-contacts"
    HELP = (
        "Contacts, companies, deals and tickets with how many completions each has and when "
        "the last one happened. Open one for its properties and timeline."
    )
    BINDINGS = [
        Binding("enter", "open", "Open", show=False),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("escape", "clear_search", "Clear search", show=False),
        Binding("left_square_bracket", "tab(-1)", "Previous kind", key_display="["),
        Binding("right_square_bracket", "tab(1)", "Next kind", key_display="]"),
    ]

    def __init__(self, event_name: str | None = None, event_label: str | None = None) -> None:
        super().__init__()
        self.event_name = event_name
        """When set: only the records that completed this event (fully qualified name)."""
        self.event_label = event_label
        self._listing = _Listing({}, {}, None)
        self._loaded = False
        self._text = ""
        """The search the rows show."""
        self._totals: dict[ObjectType, int] = {}
        """How many records of each kind match it."""
        self._fills = 0
        """Counts the fills: the rest of a fill is left alone once another began."""
        self._uncounted = False
        """Whether the open list shows its first rows without their completions (shown before
        the first load, which counts them)."""
        self._opened: dict[ObjectType, _Tab] = {FIRST_KIND: _Tab.of(FIRST_KIND)}
        """The tabs opened so far (their widgets may still be mounting)."""

    def compose(self) -> ComposeResult:
        yield from self.frame_top()
        with Vertical(classes="page"):
            with Horizontal(classes="page-head"):
                title = (
                    f"Records that completed {escape(self.event_label or '')}"
                    if self.event_name
                    else "Records"
                )
                yield Static(title, classes="page-title")
                yield Input(placeholder="Search name, email, domain  ( / )", id="search")
            # One widget for the tabs, and only the open tab's content (TabbedContent made
            # fifteen widgets for them at every push: bench/README.md).
            yield TabBar(((f"tab-{kind.plural}", kind.label) for kind in ObjectType), id="kinds")
            yield self._opened[FIRST_KIND].pane
        yield from self.frame_bottom()

    def on_mount(self) -> None:
        self._show_uncounted()
        self.reload()
        if self.cbe.poll_seconds:
            self.set_interval(self.cbe.poll_seconds * 2, self.reload)

    LIVE = frozenset({Topic.RECORDS, Topic.COMPLETIONS})

    def refresh_from_store(self) -> Worker[None]:
        return self.reload()

    @work(thread=True, exclusive=True, group="records-load")
    def reload(self) -> None:
        services = self.services
        records: dict[ObjectType, list[CrmRecord]] = {}
        only = None
        if self.event_name:
            # Each record's completions of this event and its last one, not of all events.
            counts: dict[tuple[ObjectType, str], int] = {}
            last: dict[tuple[ObjectType, str], datetime] = {}
            query = CompletionQuery(event_names=frozenset({self.event_name}))
            for c in services.occurrences.iterate(query):
                if c.object_id is None:
                    continue
                key = (c.object_type, c.object_id)
                counts[key] = counts.get(key, 0) + 1
                if key not in last or c.occurred_at > last[key]:
                    last[key] = c.occurred_at
            summaries = {key: EventSummary(n, last.get(key)) for key, n in counts.items()}
            only = frozenset(counts)
            for kind, record_id in sorted(only, key=lambda k: (len(k[1]), k[1])):
                record = services.db.records.get(kind, record_id)
                if record is not None and not record.archived:
                    records.setdefault(kind, []).append(record)
        else:
            summaries = services.db.completions.record_summaries()
            for kind in ObjectType:  # the records read here, not on screen
                services.records.page(kind, limit=1)
        self.from_worker(self._show, _Listing(records, summaries, only))

    def _show_uncounted(self) -> None:
        """The open list's first screen of rows in the screen's first frame: one page of the
        store read here (the records' index, a few milliseconds the first time in a process),
        their completions left blank until the first load has counted every record's (then
        :meth:`_fill` puts them in)."""
        if self.event_name:
            return  # the records are those that completed it: known once counted
        try:
            page = self.services.records.page(FIRST_KIND, None, limit=FIRST)
        except CbeError:
            return  # the load says what is wrong
        table = self._opened[FIRST_KIND].table
        now = self.services.clock.now()
        refill(table, [self._row(FIRST_KIND, r, now, counted=False) for r in page.records])
        self._uncounted = True

    def _show(self, listing: _Listing) -> None:
        first = not self._loaded
        self._listing = listing
        self._loaded = True
        self._fill()
        if not first:
            return  # a refresh: the person stays on their tab, row and field
        if listing.only:
            kinds = {kind for kind, _ in listing.only}
            if len(kinds) == 1:
                (kind,) = kinds
                self._open_tab(kind)
        self._focus_table()

    def _matches(self, kind: ObjectType, text: str, offset: int, limit: int) -> RecordPage:
        """The records of ``kind`` the list shows for a search of ``text``: from the store a
        page at a time, or those that completed the event."""
        if self._listing.only is None:
            return self.services.records.page(kind, text or None, offset=offset, limit=limit)
        needle = search_needle(text)
        found = [
            r for r in self._listing.records.get(kind, []) if matches_search(r.properties, needle)
        ]
        return RecordPage(found[offset : offset + limit], len(found))

    def _row(
        self, kind: ObjectType, record: CrmRecord, now: datetime, counted: bool = True
    ) -> tuple[str, tuple[str | Text, ...]]:
        """A record's key and cells (``counted`` False: its completions not known yet)."""
        summary = self._listing.summaries.get((kind, record.id))
        cells = [
            plain(
                record.display_name
                if prop == "name"
                else property_display(kind, prop, record.properties.get(prop, ""))
            )
            for _, prop in COLUMNS[kind]
        ]
        if not counted:
            return (record.id, (*cells, "", ""))
        last = relative_time(summary.last_occurred_at if summary else None, now)
        return (record.id, (*cells, f"{summary.count:,}" if summary else "0", last))

    def _fill(self) -> None:
        if not self._loaded:
            return  # the first load fills the list
        text = self.query_one("#search", Input).value.strip()
        now = self.services.clock.now()
        active = self._active_kind()
        self._fills += 1
        later: list[tuple[ObjectType, int]] = []
        for kind in ObjectType:
            table = self._list(kind)
            if table is None:  # a tab not opened yet: its count only (its list: _open_list)
                page = self._matches(kind, text, 0, 0)
            else:
                # A refresh keeps the rows the person scrolled to; a new search starts at the
                # top.
                refresh = text == self._text and table.row_count > 0 and not self._uncounted
                shown = max(PAGE, table.row_count) if refresh else PAGE
                if not refresh:  # a list made anew: one screen's worth of the open tab first
                    first = min(shown, FIRST) if kind is active else 0
                    later.append((kind, shown))
                    shown = first
                page = self._matches(kind, text, 0, shown)
                refill(table, [self._row(kind, record, now) for record in page.records])
            self._totals[kind] = page.total
            self._say_why_empty(kind, not page.total, bool(text))
            self._tabs.set_label(f"tab-{kind.plural}", f"{kind.label} ({page.total:,})")
        self._text = text
        self._uncounted = False
        if later:
            self.call_after_refresh(self._fill_rest, self._fills, later)

    def _list(self, kind: ObjectType) -> DataTable[object] | None:
        """The list of ``kind``: None until its tab is first opened."""
        opened = self._opened.get(kind)
        return opened.table if opened else None

    def _open_list(self, kind: ObjectType) -> None:
        """Make the list of ``kind`` as its tab is first opened: one screen's worth of rows at
        once, the rest of its first page once that is drawn."""
        if self._list(kind) is not None:
            return
        opened = self._opened[kind] = _Tab.of(kind)
        self.query_one(".page", Vertical).mount(opened.pane)
        if not self._loaded:
            return  # the first load fills the list
        self._say_why_empty(kind, not self._totals.get(kind), bool(self._text))
        table = opened.table
        page = self._matches(kind, self._text, 0, FIRST)
        refill(
            table, [self._row(kind, record, self.services.clock.now()) for record in page.records]
        )
        self.call_after_refresh(self._fill_rest, self._fills, [(kind, PAGE)])

    def _fill_rest(self, fill: int, rest: list[tuple[ObjectType, int]]) -> None:
        """The rows a fill left for after the first screen was drawn (each list up to
        ``shown`` rows), unless another fill began since."""
        if fill != self._fills:
            return
        now = self.services.clock.now()
        for kind, shown in rest:
            table = self._opened[kind].table
            if table.row_count >= min(shown, self._totals.get(kind, 0)):
                continue
            page = self._matches(kind, self._text, table.row_count, shown - table.row_count)
            for record in page.records:
                key, cells = self._row(kind, record, now)
                table.add_row(*cells, key=key)

    @property
    def _tabs(self) -> TabBar:
        return self.query_one("#kinds", TabBar)

    def _active_kind(self) -> ObjectType:
        return ObjectType.parse(self._tabs.active.removeprefix("tab-"))

    def _open_tab(self, kind: ObjectType) -> None:
        """Open the tab of ``kind``, its list made if it was never shown; the other tabs'
        content hidden."""
        self._open_list(kind)
        for shown, opened in self._opened.items():
            opened.pane.display = shown is kind
        self._tabs.active = f"tab-{kind.plural}"

    @on(DataTable.RowHighlighted)
    def _near_the_end(self, event: DataTable.RowHighlighted) -> None:
        """The next page of a long list comes as the cursor nears the last row shown."""
        table = event.data_table
        kind = ObjectType.parse(str(table.id).removeprefix("table-"))
        if event.cursor_row < max(table.row_count, PAGE) - PAGE // 4:
            return  # (a list shows a page at first: the rest of its first comes by itself)
        if table.row_count >= self._totals.get(kind, 0):
            return
        now = self.services.clock.now()
        for record in self._matches(kind, self._text, table.row_count, PAGE).records:
            key, cells = self._row(kind, record, now)
            table.add_row(*cells, key=key)

    def _say_why_empty(self, kind: ObjectType, empty: bool, searching: bool) -> None:
        """An empty tab says why, and how records of its kind arrive (once it is opened)."""
        if kind not in self._opened:
            return  # said when its tab is first opened (_open_list)
        note = self._opened[kind].note
        note.display = empty
        if not empty:
            return
        plural = kind.label.lower()
        if searching:
            text = f"No {plural} match the search."
        elif self.event_name:
            text = f"No {plural} completed {self.event_label or 'this event'}."
        else:
            text = (
                f"No {plural} yet. They arrive through cbe serve: POST "
                f"/crm/v3/objects/{kind.plural}"
                + (
                    ", or a completion sent with an email creates its contact"
                    if kind is ObjectType.CONTACT
                    else ""
                )
                + ". cbe --demo opens a portal with sample records."
            )
        note.update(escape(text))

    def _table(self) -> DataTable[object]:
        return self._opened[self._active_kind()].table

    def _focus_table(self) -> None:
        """The open list takes the focus (unless the search field has it) after the next
        refresh: asked of the list itself, so that a list made as its tab opens (mounted with
        its tab's box, a step later) is mounted by then."""
        if not self.query_one("#search", Input).has_focus:
            table = self._table()
            table.call_after_refresh(table.focus)

    @on(TabBar.TabActivated, "#kinds")
    def _tab_changed(self) -> None:
        self._open_tab(self._active_kind())  # a tab clicked, or chosen on the tab bar
        self._focus_table()

    def action_tab(self, step: int) -> None:
        kinds = list(ObjectType)
        self._open_tab(kinds[(kinds.index(self._active_kind()) + step) % len(kinds)])

    @on(Input.Changed, "#search")
    def _search_changed(self) -> None:
        self._fill()
        self._follow_matches()

    def _follow_matches(self) -> None:
        """When nothing on the open tab matches the search, open the first tab that has
        matches (each tab's label says how many it has)."""
        searching = self.query_one("#search", Input).value.strip()
        if self._totals.get(self._active_kind()) or not searching:
            return
        for kind in ObjectType:
            if self._totals.get(kind):
                self._open_tab(kind)
                return

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self._table().focus()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_clear_search(self) -> None:
        """Esc: clears the search, or leaves the empty field for the table (so `[`, `]` and
        digits are keys again), or, with nothing to clear, goes back."""
        search = self.query_one("#search", Input)
        if search.value or search.has_focus:
            search.value = ""
            self._table().focus()
        elif self.event_name:
            self.dismiss()

    @on(DataTable.RowSelected)
    def _chosen(self) -> None:
        self.action_open()

    def action_open(self) -> None:
        from tui.screens.record import RecordScreen

        table = self._table()
        if table.row_count == 0:
            return
        record_id = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        kind = self._active_kind()
        if record_id is not None:
            self.app.push_screen(RecordScreen(kind, str(record_id)))
