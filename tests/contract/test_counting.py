"""The analyze numbers (``tally``) and an event's totals (``event_counts``), on every adapter:
counted from generated completions, over periods that begin and end at midnight, within a
day and exactly on a completion, they equal what the completions a scan returns add up to,
and they stay so through the rewrites (a visitor given to a contact, deletes, renames)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from core.models import Completion, ObjectType
from core.ports import CompletionSelection, Database
from tests.conftest import NOW
from tests.contract.conftest import completion

VIEWED = "pe12345678_viewed"
CLICKED = "pe12345678_clicked"
BOUGHT = "pe12345678_bought"
PAID = "pe12345678_paid"
EVENTS = (VIEWED, CLICKED, BOUGHT)
DAY = timedelta(days=1)
MIDNIGHT = NOW.replace(hour=0, minute=0)


def _generated(seed: int, count: int, first: int = 0) -> list[Completion]:
    """``count`` completions over six days around NOW, at whole minutes (some exactly at
    midnight): three events, contacts and a company sharing ids, anonymous visitors, some
    tagged as a test run's."""
    chance = random.Random(seed)
    made = []
    for n in range(first, first + count):
        minutes = chance.choice([chance.randrange(-3 * 1440, 3 * 1440), -1440, 0, 720, 1440])
        minutes -= 12 * 60  # NOW is noon: the choices above at midnight fall on one
        visitor = chance.random() < 0.15
        c = completion(
            n,
            event=chance.choice(EVENTS),
            object_id=None if visitor else str(chance.randrange(1, 7)),
            utk=f"u{chance.randrange(1, 4)}" if visitor else None,
            minutes=minutes,
            tag="run" if chance.random() < 0.1 else None,
        )
        if not visitor and chance.random() < 0.2:
            c = c.model_copy(update={"object_type": ObjectType.COMPANY})
        made.append(c)
    return made


def _periods() -> list[list[datetime]]:
    """Interval boundaries as the app asks (midnights, a first week begun before the range)
    and as the port allows (within a day, on a completion's minute, empty, out of range)."""
    days = [MIDNIGHT + k * DAY for k in range(-4, 5)]

    def at(**since: float) -> datetime:
        return MIDNIGHT + timedelta(**since)

    return [
        days,  # daily, past both ends of the data
        [days[1], days[3], days[6]],  # two whole-day intervals
        [at(days=-2, hours=7, minutes=13), days[3], days[4], at(days=1, hours=17)],
        [at(hours=1), at(hours=12), at(hours=23, minutes=59)],  # within one day
        [at(days=-1), at(hours=12), at(days=1)],  # on completions' minutes (midnight, noon)
        [at(days=-1, minutes=1), at(days=1, minutes=-1)],  # a minute short of each midnight
        [at(days=-3, hours=5), at(days=3, hours=5)],  # begins and ends within a day
        [at(days=-20), at(days=-10)],  # no completion
        [days[2], days[2]],  # empty
    ]


def _expected(
    completions: Sequence[Completion], names: Sequence[str], edges: Sequence[datetime]
) -> dict[str, tuple[list[int], int]]:
    """What the completions add up to, counted here one by one."""
    found: dict[str, tuple[list[int], int]] = {}
    for name in names:
        series = [
            sum(1 for c in completions if c.event_name == name and low <= c.occurred_at < high)
            for low, high in itertools.pairwise(edges)
        ]
        records = {
            (c.object_type, c.object_id)
            for c in completions
            if c.event_name == name
            and c.object_id is not None
            and edges[0] <= c.occurred_at < edges[-1]
        }
        found[name] = (series, len(records))
    return found


def _check(db: Database, names: Sequence[str]) -> None:
    stored = list(db.completions.scan(CompletionSelection()))
    for edges in _periods():
        tally = db.completions.tally(names, edges)
        counted = {name: (tally[name].series, tally[name].records) for name in names}
        assert counted == _expected(stored, names, edges), edges
        for name in names:
            totals = db.completions.event_counts(name, edges[0], edges[-1])
            if totals is not None:  # a store may count whole days only
                expected = _expected(stored, [name], [edges[0], edges[-1]])[name]
                assert (totals.completions, totals.records) == (sum(expected[0]), expected[1])


def test_tallies_equal_the_completions_over_any_period(db: Database) -> None:
    db.completions.append(_generated(1, 300))
    db.completions.append(_generated(2, 100, first=300))
    _check(db, EVENTS)


def test_tallies_stay_exact_through_every_rewrite(db: Database) -> None:
    db.completions.append(_generated(3, 250))
    assert db.completions.attach_visitor("u1", "5") > 0  # onto a contact with completions
    assert db.completions.attach_visitor("u2", "77") > 0  # onto a contact without
    _check(db, EVENTS)
    assert db.completions.delete_tagged("run") > 0
    _check(db, EVENTS)
    assert db.completions.rename_events({CLICKED: PAID}) > 0
    _check(db, (VIEWED, CLICKED, PAID, BOUGHT))
    assert db.completions.delete_event(BOUGHT) > 0
    _check(db, (VIEWED, PAID, BOUGHT))
    # Completions again on the days and for the records the deletes emptied.
    db.completions.append(_generated(3, 250, first=1000))
    _check(db, (VIEWED, CLICKED, PAID, BOUGHT))
