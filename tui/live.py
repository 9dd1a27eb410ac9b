"""Following the store: one thread waits on its watcher (core.ports.StoreWatcher) and hands
what changed to the app, coalesced.

A server storing thousands of completions a second changes the store thousands of times a
second; the app reads again at most once every :data:`GAP` seconds. The first change after a
quiet spell is handed on at once (a completion appears as soon as it is stored); what comes
within the gap after it is gathered and handed on together when the gap ends, so nothing is
left unshown.

A plain thread, not a Textual worker: it lives as long as the app, and a test waiting for the
app's workers to finish (tests/quiet.py) would wait for it forever.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from core.ports import StoreWatcher, Topic

GAP = 0.25
"""Seconds between two hand-ons: at most four reloads a second."""

IDLE = 0.5
"""Longest wait on the watcher when nothing is pending (how soon :meth:`stop` is seen)."""


class StoreFollower:
    """Hands what changed in the store to ``changed`` (from its own thread), at most once every
    ``gap`` seconds."""

    def __init__(
        self,
        watcher: StoreWatcher,
        changed: Callable[[frozenset[Topic]], object],
        *,
        gap: float = GAP,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.watcher = watcher
        """What tells the follower the store changed."""
        self._changed = changed
        self._gap = gap
        self._monotonic = monotonic
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="cbe-store-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following: the thread ends within :data:`IDLE` seconds and closes the watcher."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Follow until :meth:`stop` (in the calling thread)."""
        pending: set[Topic] = set()
        last = float("-inf")
        try:
            while not self._stop.is_set():
                now = self._monotonic()
                timeout = max(0.0, last + self._gap - now) if pending else IDLE
                pending |= self.watcher.wait(timeout)
                now = self._monotonic()
                if pending and now - last >= self._gap and not self._stop.is_set():
                    self._changed(frozenset(pending))
                    pending.clear()
                    last = now
        finally:
            self.watcher.close()
