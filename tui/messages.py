"""The app's own messages (the widgets' are beside them, as Textual's are)."""

from __future__ import annotations

from textual.message import Message

from core.ports import Topic


class StoreChanged(Message):
    """Another process, or this one, stored something: screens showing it read it again.

    Posted to the app by its one store follower (tui.live), at most a few times a second
    however fast writes come."""

    def __init__(self, topics: frozenset[Topic]) -> None:
        super().__init__()
        self.topics = topics
        """What changed (core.ports.EVERYTHING when the store cannot tell)."""
