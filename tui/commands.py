"""The command palette (ctrl+p): sections, the open screen's actions, every event by name."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.host import CbeHost, host_of


class CbeCommands(Provider):
    """Sections, the actions of the screen the palette was opened on (each runs what its key
    runs), "Create event", and "Open event: ..." for each event."""

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
            (
                "Forwarding",
                "Where cbe serve --forward stands: owed, sent, refused (a click on the header)",
                app.action_forwarding,
            ),
        ]
        found.extend(self._screen_actions())
        if not any(name == "Rejected requests" for name, _, _ in found):
            # The events home's portal-wide actions, from any section.
            found.append(
                (
                    "Rejected requests",
                    "Requests the portal refused (Events, r)",
                    partial(self._on_events_home, "rejections"),
                )
            )
            found.append(
                (
                    "Plan",
                    "Definitions as a plan file (Events, c)",
                    partial(self._on_events_home, "plan"),
                )
            )
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

    def _screen_actions(self) -> list[tuple[str, str, object]]:
        """The keys of the screen under the palette and of its focused field, by their names."""
        screen = self.screen
        app = self.app
        title = str(screen.title or type(screen).__name__.removesuffix("Screen"))
        found: list[tuple[str, str, object]] = []
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is app or not binding.description or not active.enabled:
                continue
            if active.node is not screen and not binding.show:
                continue  # a field's own movement keys
            if binding.action in seen or binding.action.startswith(("focus_", "app.")):
                continue
            seen.add(binding.action)
            key = binding.key_display or app.get_key_display(binding)
            found.append(
                (
                    binding.description,
                    f"{title} ({key})",
                    partial(app.run_action, binding.action, active.node),
                )
            )
        return found

    async def _on_events_home(self, action: str) -> None:
        """Run an events home action from any section (its screen opens on top of the
        events section's screens, which keep their place)."""
        app = self.app
        if app.current_mode != "events":
            await app.switch_mode("events")
        await app.screen_stack[0].run_action(action)

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]
