"""The command palette (ctrl+p): every screen and every event by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.host import CbeHost, host_of


class CbeCommands(Provider):
    """Sections, "Create event", and "Open event: ..." for each event."""

    @property
    def cbe(self) -> CbeHost:
        return host_of(self.app)

    def _commands(self) -> list[tuple[str, str, object]]:
        app = self.cbe
        found: list[tuple[str, str, object]] = [
            ("Events", "Custom behavioral events (1)", partial(app.action_section, "events")),
            (
                "Records",
                "Contacts, companies, deals, tickets (2)",
                partial(app.action_section, "records"),
            ),
            (
                "Workflows",
                "Delay until event happens (3)",
                partial(app.action_section, "workflows"),
            ),
            ("Analyze", "Reports on events (4)", partial(app.action_section, "analyze")),
            ("Create event", "Start the event wizard", app.action_create_event),
            ("Help", "Keys of this screen (?)", app.action_help),
        ]
        for definition in app.services.definitions.search():
            found.append(
                (
                    f"Open event: {definition.label}",
                    f"{definition.fully_qualified_name}"
                    + (" (archived)" if definition.archived else ""),
                    partial(app.open_event, definition.name),
                )
            )
        return found

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]
