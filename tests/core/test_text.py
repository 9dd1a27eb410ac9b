"""Stored text shown safely: every character a terminal would obey becomes a visible escape."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.text import UNSAFE, neutralise, neutralise_json, unsafe_characters

OSC52 = "\x1b]52;c;Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlL3ggfCBzaA==\x07"


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),  # ESC: clear the screen
        (OSC52, "\\x1b]52;c;Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlL3ggfCBzaA==\\x07"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),  # set the window title
        ("a\x00b", "a\\x00b"),  # NUL
        ("line\rover", "line\\rover"),  # CR would draw over what came before
        ("a\nb\tc", "a\\nb\\tc"),  # not kept unless asked
        ("\x08\x7f", "\\x08\\x7f"),  # backspace, DEL
        ("\x9b2J", "\\x9b2J"),  # C1 CSI: one byte that starts a sequence
        ("\x85\x9d", "\\x85\\x9d"),  # NEL and C1 OSC
        ("abc\u202edcba", "abc\\u202edcba"),  # right-to-left override
        ("\u2066x\u2069", "\\u2066x\\u2069"),  # isolates
        ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),  # marks
        ("\ud800", "\\ud800"),  # a lone surrogate cannot even be written
    ],
)
def test_each_kind_of_control_character_becomes_a_visible_escape(sent: str, shown: str) -> None:
    assert neutralise(sent) == shown


def test_text_with_nothing_to_neutralise_is_returned_as_it_is() -> None:
    text = "Zoë Müller <zoe@example.com> · 日本 · [bold]not markup[/] \\x1b"
    assert neutralise(text) is text
    assert neutralise_json(text) is text


def test_keep_lets_a_caller_show_several_lines() -> None:
    assert neutralise("one\ntwo\x1b[2J\r", keep="\n") == "one\ntwo\\x1b[2J\\r"


@given(st.text())
def test_what_is_shown_holds_no_unsafe_character(text: str) -> None:
    assert UNSAFE.search(neutralise(text)) is None
    assert UNSAFE.search(neutralise(text, keep="\n").replace("\n", "")) is None


@given(st.text())
def test_json_stays_the_same_data_and_safe(text: str) -> None:
    written = json.dumps({"v": text}, ensure_ascii=False, indent=2)
    safe = neutralise_json(written)
    assert UNSAFE.search(safe.replace("\n", "")) is None
    assert json.loads(safe) == {"v": text}


def test_unsafe_characters_names_each_once() -> None:
    assert unsafe_characters("a\x1b[2J\x1b\u202e") == ["\\x1b", "\\u202e"]
    assert unsafe_characters("plain") == []
