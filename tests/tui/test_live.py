"""Following the store (tui.live): what changed reaches the app at once, and a burst of
writes makes a few reloads a second, not one per write. On a simulated clock: no thread, no
waiting."""

from __future__ import annotations

from itertools import pairwise

from core.ports import Topic
from tui.live import GAP, StoreFollower

COMPLETIONS = frozenset({Topic.COMPLETIONS})


class SimulatedStore:
    """A watcher (core.ports.StoreWatcher) of a store written at ``writes`` (seconds, in
    order) on a simulated clock; the follower is stopped at ``until``."""

    def __init__(self, writes: list[float], until: float) -> None:
        self.now = 0.0
        self.writes = writes
        self.next = 0
        self.until = until
        self.follower: StoreFollower | None = None
        self.closed = False

    def monotonic(self) -> float:
        return self.now

    def wait(self, timeout: float) -> frozenset[Topic]:
        if self.now >= self.until:
            assert self.follower is not None
            self.follower.stop()
            return frozenset()
        if self.next < len(self.writes) and self.writes[self.next] <= self.now + timeout:
            self.now = max(self.now, self.writes[self.next])
            self.next += 1
            return COMPLETIONS
        self.now += timeout
        return frozenset()

    def close(self) -> None:
        self.closed = True


def _follow(writes: list[float], until: float) -> tuple[list[float], SimulatedStore]:
    store = SimulatedStore(writes, until)
    handed: list[float] = []

    def changed(topics: frozenset[Topic]) -> None:
        assert topics == COMPLETIONS
        handed.append(store.now)

    store.follower = StoreFollower(store, changed, monotonic=store.monotonic)
    store.follower.run()
    return handed, store


def test_a_burst_of_2000_writes_a_second_makes_a_few_reloads_a_second() -> None:
    writes = [i / 2000 for i in range(20_000)]  # ten seconds of a busy server
    handed, store = _follow(writes, until=12.0)
    assert handed[0] == 0.0  # the first write is handed on at once
    gaps = [b - a for a, b in pairwise(handed)]
    assert min(gaps) >= GAP  # never more often than once a gap
    assert len(handed) <= 10 / GAP + 1  # 41 reloads for 20,000 writes
    assert handed[-1] >= writes[-1]  # the last write is handed on too: nothing left unshown
    assert store.closed


def test_a_write_after_a_quiet_spell_is_handed_on_at_once() -> None:
    handed, _ = _follow([3.0, 7.5], until=10.0)
    assert handed == [3.0, 7.5]


def test_a_quiet_store_hands_nothing_on() -> None:
    handed, store = _follow([], until=60.0)
    assert handed == []
    assert store.closed
