"""Stored text in markup and table cells: shown as it was sent, controls as visible escapes."""

from __future__ import annotations

import pytest
from textual.content import Content

from tui.formatting import escape, plain


@pytest.mark.parametrize(
    ("stored", "seen"),
    [
        ("Ann Lee", "Ann Lee"),
        ("[bold]not bold[/]", "[bold]not bold[/]"),
        ("a\x1b[2J", "a\\x1b[2J"),
        ("[2J[A][$error]", "[2J[A][$error]"),
        ("C:\\[x]", "C:\\[x]"),
        ("two\nlines\u202e", "two\nlines\\u202e"),
    ],
)
def test_escape_makes_markup_show_the_text_itself(stored: str, seen: str) -> None:
    shown = Content.from_markup(f"[b]{escape(stored)}[/b] · [dim]rule[/dim]")
    assert shown.plain == f"{seen} · rule"
    assert [span.style for span in shown.spans] == ["b", "dim"]


def test_a_table_cell_shows_controls_as_escapes() -> None:
    assert plain("Kia\x9b\x1b]0;t\x07").plain == "Kia\\x9b\\x1b]0;t\\x07"
