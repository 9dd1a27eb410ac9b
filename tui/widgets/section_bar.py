"""The row of sections under the header: Events, Records, Workflows, Analyze."""

from __future__ import annotations

from textual.widgets import Static

SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("1", "events", "Events"),
    ("2", "records", "Records"),
    ("3", "workflows", "Workflows"),
    ("4", "analyze", "Analyze"),
)


class SectionBar(Static):
    """Shows the sections with their keys; the current one highlighted; clickable."""

    DEFAULT_CSS = """
    SectionBar {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $text-muted;
    }
    """

    def __init__(self, active: str) -> None:
        super().__init__(self._markup(active))
        self.active = active

    @staticmethod
    def _markup(active: str) -> str:
        parts = []
        for key, mode, label in SECTIONS:
            style = "bold $text on $primary" if mode == active else ""
            text = f" {key} {label} "
            link = f"@click=app.section('{mode}')"
            parts.append(f"[{style} {link}]{text}[/]" if style else f"[{link}]{text}[/]")
        return " ".join(parts)
