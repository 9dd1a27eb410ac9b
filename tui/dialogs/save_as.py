"""Where to save a file the app writes (a report's CSV): asked each time, with a default
outside the folder the app was started from (which is often a repository)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_downloads_path
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from tui.dialogs.focus import FirstFieldFocused
from tui.formatting import escape


def default_export_dir() -> Path:
    """The user's downloads folder (``~/Downloads`` on most systems), where browsers put
    exports too; never the working directory."""
    return user_downloads_path()


class SaveAsDialog(FirstFieldFocused, ModalScreen[Path | None]):
    """Ask where to write ``text``; write it there and answer the path, or None on escape."""

    DEFAULT_CSS = """
    SaveAsDialog { align: center middle; }
    SaveAsDialog > Vertical {
        width: 90%; max-width: 100; height: auto; padding: 1 2;
        border: thick $primary 60%; background: $surface;
    }
    SaveAsDialog .title { text-style: bold; }
    SaveAsDialog .hint { color: $text-muted; margin-bottom: 1; }
    SaveAsDialog #save-as-error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, title: str, what: str, default: Path, text: str) -> None:
        super().__init__()
        self.title_text = title
        self.what = what
        self.default = default
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(escape(self.title_text), classes="title")
            yield Static(
                f"Where to save {escape(self.what)}: a file, or a folder to save "
                f"{escape(self.default.name)} in. enter saves · esc cancels",
                classes="hint",
            )
            yield Input(str(self.default), select_on_focus=False, id="save-as")
            yield Static("", id="save-as-error")

    @on(Input.Submitted, "#save-as")
    def save(self) -> None:
        typed = self.query_one("#save-as", Input).value.strip()
        error = self.query_one("#save-as-error", Static)
        if not typed:
            error.update("Type where to save it.")
            return
        path = Path(typed).expanduser()
        if path.is_dir() or typed.endswith(("/", os.sep)):  # a folder: the offered name in it
            path = path / self.default.name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(self.text, encoding="utf-8", newline="")
        except OSError as failure:
            error.update(f"Cannot write {escape(str(path))}: {escape(failure.strerror or '')}")
            return
        self.dismiss(path)
