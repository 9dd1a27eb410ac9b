"""Text from the store made safe to show: characters that act on a terminal become visible.

Whatever a sender wrote (a property value, an email, a contact's name, an event label) may hold
characters that a terminal obeys instead of drawing: ESC starts sequences that clear the screen,
set the window title or write the clipboard (OSC 52); C1 controls (U+0080-U+009F) do the same
in one byte on some terminals; bidirectional overrides and isolates reorder what is drawn
("Trojan Source"); a lone surrogate cannot be written at all. Every interface passes stored text
through :func:`neutralise` before it is shown.

They become escapes a person can read and report (``\\x1b``, ``\\u202e``), as Python writes
them, rather than U+FFFD: the support person sees exactly what was sent.
"""

from __future__ import annotations

import re

UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""C0 controls, DEL, C1 controls, bidirectional marks, overrides and isolates, lone surrogates."""


_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def visible_escape(char: str) -> str:
    """One character as Python writes it escaped: ``\\t``, ``\\x1b``, ``\\u202e``."""
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutralise(text: str, keep: str = "") -> str:
    """``text`` with every unsafe character written as a visible escape.

    ``keep`` names control characters a caller shows on purpose (``"\\n"`` where several lines
    are meant). Text with nothing to neutralise is returned as it is, unchanged and uncopied:
    this runs for every cell drawn.
    """
    if UNSAFE.search(text) is None:
        return text
    if keep:
        return UNSAFE.sub(lambda m: m[0] if m[0] in keep else visible_escape(m[0]), text)
    return UNSAFE.sub(lambda m: visible_escape(m[0]), text)


def neutralise_json(text: str) -> str:
    """JSON text (or code) for a terminal: unsafe characters as ``\\uXXXX``, newlines kept.

    ``json.dumps`` escapes C0 controls inside strings itself, but with ``ensure_ascii=False``
    it writes DEL, C1 and bidirectional characters as they are. Outside its strings JSON holds
    only structure and whitespace, so each unsafe character left is inside a string, where
    ``\\uXXXX`` reads back as the very same character: the data stays exact and the terminal
    safe. JavaScript and Python string literals read the escape the same way.
    """
    if UNSAFE.search(text) is None:
        return text
    return UNSAFE.sub(lambda m: m[0] if m[0] == "\n" else f"\\u{ord(m[0]):04x}", text)


def unsafe_characters(text: str) -> list[str]:
    """The distinct unsafe characters in ``text``, in order, each as its visible escape."""
    seen: dict[str, None] = {}
    for match in UNSAFE.finditer(text):
        seen.setdefault(visible_escape(match[0]), None)
    return list(seen)
