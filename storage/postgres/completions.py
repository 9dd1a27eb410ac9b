"""Completions in PostgreSQL: a table partitioned by month (storage.postgres.schema), read in
pages by ``(occurred_at, id)``, and counted by SQL over its indexes and over the counts per event
and day that the database keeps (whole days from those, the rest of a period from the table)."""

from __future__ import annotations

import bisect
import contextlib
import itertools
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg.pq import TransactionStatus

from core.clock import from_epoch_millis, to_epoch_millis, utc_day_start
from core.errors import CbeError, StorageUnavailable
from core.models import Completion, ObjectType
from core.ports import (
    CompletionSelection,
    Conversion,
    EventCounts,
    EventSummary,
    EventTally,
    Topic,
    ValueCounts,
)
from core.rules import uuids_taken
from storage.postgres.connections import Conn, Connections
from storage.postgres.schema import ensure_month, month_start, partition_name

FOLD_COUNTS_EVERY = 200
"""Appends of a process between two folds of ``completion_counts`` (:meth:`fold_counts`)."""

FOLD_LOCK = 0x636266
"""The advisory lock of the process folding ``completion_counts``."""

PAGES = (100, 1000, 5000)
"""Rows fetched per query as a scan goes on: a timeline's first page is small."""

_COLUMNS = "id, uuid, event_name, object_type, object_id, utk, tag, occurred_at, received_at, doc"


def _millis(moment: datetime) -> datetime:
    """``moment`` to the millisecond, as the other stores compare it."""
    return from_epoch_millis(to_epoch_millis(moment))


def completion_of(event_name: str, object_id: str | None, doc: dict[str, Any]) -> Completion:
    """A stored completion: its document under the columns a rewrite changes."""
    doc["eventName"] = event_name
    doc["objectId"] = object_id
    return Completion.from_stored(doc)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


class PostgresCompletionRepository:
    def __init__(self, connections: Connections) -> None:
        self._c = connections
        self._months: set[str] = set()
        """Months already seen to: a partition made, or left to the default partition."""
        self._appended = 0

    def fold_counts(self) -> None:
        """Fold the rows of ``completion_counts`` (one per event and statement that stored,
        deleted or renamed completions) into one per event, and those of ``completion_days``
        into one per event and day: in a transaction of its own on another connection, by one
        process at a time (the others go on), each table's rows deleted and summed in one
        statement so that no count is lost or counted twice."""
        with self._c.pool.connection() as conn, conn.transaction():
            row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK]).fetchone()
            if row and row[0]:
                conn.execute(
                    "WITH gone AS (DELETE FROM completion_counts RETURNING event_name, count)"
                    " INSERT INTO completion_counts (event_name, count)"
                    " SELECT event_name, sum(count) FROM gone GROUP BY 1 HAVING sum(count) <> 0"
                )
                conn.execute(
                    "WITH gone AS (DELETE FROM completion_days"
                    " RETURNING event_name, day, count)"
                    " INSERT INTO completion_days (event_name, day, count)"
                    " SELECT event_name, day, sum(count) FROM gone GROUP BY 1, 2"
                    " HAVING sum(count) <> 0"
                )
        self.settle_record_days()

    def settle_record_days(self) -> None:
        """Settle the rows of ``record_days_unsure`` (noted by rewrites): each (event, day,
        record) there gets one row in ``record_days`` if it has completions, none if not. In
        a transaction of its own, by one process at a time, after every writer that is adding
        rows to ``record_days`` has committed (its lock, which they wait for meanwhile: a
        fifth of a second at most, else the next fold does it)."""
        with self._c.pool.connection() as conn, conn.transaction():
            row = conn.execute(
                "SELECT pg_try_advisory_xact_lock(%s)"
                " AND EXISTS (SELECT 1 FROM record_days_unsure)",
                [FOLD_LOCK],
            ).fetchone()
            if not row or not row[0]:
                return
            try:
                with conn.transaction():
                    conn.execute("SET LOCAL lock_timeout = '200ms'")
                    conn.execute("LOCK TABLE record_days IN SHARE ROW EXCLUSIVE MODE")
                    conn.execute(_SETTLE)  # a snapshot taken with the lock held
            except psycopg.errors.LockNotAvailable:
                return

    # -- writing --------------------------------------------------------------------------

    def prepare_months(self, moments: Collection[datetime]) -> None:
        """Make the monthly partitions of ``moments`` that this process has not seen to yet,
        each in a transaction of its own (see storage.postgres.schema)."""
        starts = {month_start(m) for m in moments}
        wanted = [s for s in starts if partition_name(s) not in self._months]
        if not wanted:
            return
        with self._c.pool.connection() as conn:
            conn.autocommit = True
            try:
                for start in sorted(wanted):
                    if ensure_month(conn, start) is not None:  # else: asked again next time
                        self._months.add(partition_name(start))
            finally:
                conn.autocommit = False

    def append(self, completions: Sequence[Completion]) -> None:
        if not completions:
            return
        keys = [(c.event_name, c.uuid) for c in completions]
        seen: set[tuple[str, str]] = set()
        doubled: set[tuple[str, str]] = set()
        for c, key in zip(completions, keys, strict=True):
            if c.uuid != c.id and key in seen:
                doubled.add(key)
            seen.add(key)
        if doubled:
            raise uuids_taken(doubled)
        self.prepare_months([c.occurred_at for c in completions])
        state = self._c.unit()
        claimed = state.claimed if state is not None else set()
        unique = [k for k in dict.fromkeys(keys) if k not in claimed]
        try:
            with self._c.connection(writes=Topic.COMPLETIONS) as conn:
                if state is not None and conn.info.transaction_status == TransactionStatus.IDLE:
                    # The unit's transaction has not begun: begin it, else a block below would
                    # be a transaction of its own (kept at its end), not a savepoint in the
                    # unit's (undone with it when the unit is left without a commit).
                    conn.execute("SELECT 1")
                if unique:
                    with conn.transaction():  # a refusal takes back this call's claims only
                        # The database keeps (event, uuid) unique: a uuid another process
                        # stored first (even one not yet committed: this waits for it) is
                        # found taken here.
                        new = _claim(conn, unique)
                        if len(new) != len(unique):
                            taken = {
                                key
                                for c, key in zip(completions, keys, strict=True)
                                if key not in new and key not in claimed and c.uuid != c.id
                            }
                            if taken:
                                raise uuids_taken(taken)
                        _copy(conn, completions)
                elif state is not None:
                    # Every uuid claimed by this unit already (ingest looks them up first):
                    # nothing to take back, so no savepoint; should the COPY fail, the unit's
                    # transaction fails with it and stores nothing.
                    _copy(conn, completions)
                else:
                    with conn.transaction():
                        _copy(conn, completions)
            claimed.difference_update(keys)  # stored: no longer a claim to release
        except CbeError:
            raise
        except psycopg.Error as error:
            raise StorageUnavailable(
                f"The database did not store these completions ({error}); none was stored."
            ) from error
        self._appended += 1
        if self._appended % FOLD_COUNTS_EVERY == 0:
            with contextlib.suppress(psycopg.Error):  # housekeeping: the next fold does it
                self.fold_counts()

    # -- reading --------------------------------------------------------------------------

    def find(self, key: str) -> list[Completion]:
        with self._c.connection() as conn:
            rows = conn.execute(
                "SELECT event_name, object_id, doc FROM completions"
                " WHERE uuid = %s OR id = %s ORDER BY received_at, id",
                [key, key],
            ).fetchall()
        return [completion_of(*r) for r in rows]

    def existing_uuids(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """In a unit, the keys not yet stored are claimed for it at once (inserted into
        ``completion_uuids``): a send of the same uuid in another process waits until this
        unit ends and then finds it taken, so a retry racing its original is answered as a
        retry, not refused by :meth:`append`. Claims the unit does not store completions
        under are released at its commit (or by its rollback)."""
        if not keys:
            return set()
        state = self._c.unit()
        if state is not None:
            wanted = sorted(set(keys))  # one order for every process: no deadlock
            with self._c.connection() as conn:
                new = _claim(conn, [k for k in wanted if k not in state.claimed])
            state.claimed.update(new)
            return {k for k in wanted if k not in new and k not in state.claimed}
        keys = list(keys)
        with self._c.connection() as conn:
            rows = conn.execute(
                "SELECT u.event_name, u.uuid FROM completion_uuids u"
                f" JOIN (SELECT {KEYS_OF}) AS k(event_name, uuid)"
                " ON u.event_name = k.event_name AND u.uuid = k.uuid",
                [keys_json(keys)],
            ).fetchall()
        return {(r[0], r[1]) for r in rows}

    def begin_existing_uuids(
        self, keys: Collection[tuple[str, str]]
    ) -> Callable[[], set[tuple[str, str]]]:
        """:meth:`existing_uuids`, with a unit's claim sent from another thread: ingest goes on
        validating the inputs while the server inserts their uuids (and waits for any that
        another unit holds uncommitted)."""
        state = self._c.unit()
        wanted = sorted(set(keys))  # one order for every process: no deadlock
        claiming = [k for k in wanted if state is not None and k not in state.claimed]
        if state is None or not claiming:
            found = self.existing_uuids(keys)
            return lambda: found
        if not (state.locked or state.records_written):
            # What ingest reads next is records, at the version its unit reads them at: read
            # it now, or the first record would wait for the claim (one statement at a time).
            self._c.records_version(state)

        def claim(conn: Conn) -> set[tuple[str, str]]:
            new = _claim(conn, claiming)
            state.claimed.update(new)  # released at the commit even if never answered
            return new

        claimed = self._c.in_background(claim)

        def answer() -> set[tuple[str, str]]:
            new = claimed()
            return {k for k in wanted if k not in new and k not in state.claimed}

        return answer

    def scan(self, selection: CompletionSelection) -> Iterator[Completion]:
        where: list[str] = []
        args: list[Any] = []
        if selection.object_type is not None:
            where.append("object_type = %s AND object_id IS NOT NULL")
            args.append(selection.object_type.value)
        if selection.object_id is not None:
            where.append("object_id = %s")
            args.append(selection.object_id)
        if selection.event_names is not None:
            where.append("event_name = ANY(%s::text[])")
            args.append(sorted(selection.event_names))
        if selection.tag is not None:
            where.append("tag = %s")
            args.append(selection.tag)
        if selection.occurred_after is not None:
            where.append("occurred_at >= %s")
            args.append(_millis(selection.occurred_after))
        if selection.occurred_before is not None:
            where.append("occurred_at < %s")
            args.append(_millis(selection.occurred_before))
        order = "DESC" if selection.newest_first else "ASC"
        beyond = "<" if selection.newest_first else ">"
        start = selection.start_after
        cursor = None if start is None else (_millis(start[0]), start[1])
        for size in _page_sizes():
            conditions = list(where)
            values = list(args)
            if cursor is not None:
                conditions.append(f"(occurred_at, id) {beyond} (%s, %s)")
                values.extend(cursor)
            query = (
                "SELECT event_name, object_id, doc, occurred_at, id FROM completions"
                + (" WHERE " + " AND ".join(conditions) if conditions else "")
                + f" ORDER BY occurred_at {order}, id {order} LIMIT {size}"
            )
            with self._c.connection() as conn:
                rows = conn.execute(query, values).fetchall()
            for event_name, object_id, doc, _, _ in rows:
                yield completion_of(event_name, object_id, doc)
            if len(rows) < size:
                return
            cursor = (rows[-1][3], rows[-1][4])

    # -- counting -------------------------------------------------------------------------

    def tally(
        self, event_names: Collection[str], boundaries: Sequence[datetime]
    ) -> dict[str, EventTally]:
        names = sorted(set(event_names))
        edges = [_millis(b) for b in boundaries]
        if len(edges) < 2 or not names:
            return {name: EventTally([0] * max(len(edges) - 1, 0), 0) for name in event_names}
        with self._c.connection() as conn:
            series, records = _count(conn, names, edges)
        return {name: EventTally(series[name], records[name]) for name in event_names}

    def summaries(self) -> dict[str, EventSummary]:
        # The counts the database keeps (schema version 2), and each event's last time from
        # its index (one probe per partition): neither grows with the table.
        with self._c.connection() as conn:
            rows = conn.execute(
                "SELECT s.event_name, s.n, (SELECT max(c.occurred_at) FROM completions c"
                " WHERE c.event_name = s.event_name)"
                " FROM (SELECT event_name, sum(count) AS n FROM completion_counts"
                " GROUP BY 1) s WHERE s.n > 0"
            ).fetchall()
        return {name: EventSummary(int(count), _utc(last)) for name, count, last in rows}

    def record_summaries(self) -> dict[tuple[ObjectType, str], EventSummary]:
        with self._c.connection() as conn:
            rows = conn.execute(
                "SELECT object_type, object_id, count(*), max(occurred_at) FROM completions"
                " WHERE object_id IS NOT NULL GROUP BY 1, 2"
            ).fetchall()
        return {
            (ObjectType(kind), object_id): EventSummary(count, _utc(last))
            for kind, object_id, count, last in rows
        }

    def event_counts(
        self, event_name: str, occurred_after: datetime, occurred_before: datetime
    ) -> EventCounts | None:
        edges = [_millis(occurred_after), _millis(occurred_before)]
        period = [event_name, *edges]
        chosen = "c.event_name = %s AND c.occurred_at >= %s AND c.occurred_at < %s"
        with self._c.connection() as conn:
            series, records = _count(conn, [event_name], edges)
            # A value as the JSON text it was stored as (json, not jsonb, keeps 3 and 3.0
            # apart), with the values of it that were unusable.
            rows = conn.execute(
                "SELECT p.key, p.value::text, (c.doc -> 'unusable' -> p.key)::text, count(*)"
                " FROM completions c CROSS JOIN LATERAL json_each(c.doc -> 'properties') p"
                f" WHERE {chosen} AND json_typeof(p.value) <> 'null' GROUP BY 1, 2, 3",
                period,
            ).fetchall()
        values: ValueCounts = {}
        for name, text, unusable, count in rows:
            bad = tuple(orjson.loads(unusable)) if unusable else ()
            values.setdefault(name, {})[(text, bad)] = count
        return EventCounts(
            completions=sum(series[event_name]), records=records[event_name], values=values
        )

    def conversions(
        self,
        event_name: str,
        occurred_after: datetime,
        occurred_before: datetime,
        touch_properties: Collection[str],
    ) -> list[Conversion] | None:
        names = sorted(set(touch_properties))
        with self._c.connection() as conn:
            rows = conn.execute(
                _CONVERSIONS,
                [event_name, _millis(occurred_after), _millis(occurred_before), names],
            ).fetchall()
        touches: dict[tuple[str, str], list[Completion | None]] = {}
        for kind, object_id, first, last, touch_event, touch_object_id, doc in rows:
            found = touches.setdefault((kind, object_id), [None, None])
            if doc is None:
                continue
            touch = completion_of(touch_event, touch_object_id, doc)
            if first:
                found[0] = touch
            if last:
                found[1] = touch
        return [Conversion(first_touch=f, last_touch=t) for f, t in touches.values()]

    # -- rewrites (plain UPDATE and DELETE, under the lock) -------------------------------

    def delete_event(self, event_name: str) -> int:
        with self._c.connection(locking=True, writes=Topic.COMPLETIONS) as conn:
            gone = conn.execute("DELETE FROM completions WHERE event_name = %s", [event_name])
            conn.execute("DELETE FROM completion_uuids WHERE event_name = %s", [event_name])
        return gone.rowcount

    def attach_visitor(self, utk: str, object_id: str) -> int:
        with self._c.connection(locking=True, writes=Topic.COMPLETIONS) as conn:
            changed = conn.execute(
                "UPDATE completions SET object_id = %s WHERE object_id IS NULL AND utk = %s",
                [object_id, utk],
            )
        return changed.rowcount

    def delete_tagged(self, tag: str) -> int:
        with self._c.connection(locking=True, writes=Topic.COMPLETIONS) as conn:
            gone = conn.execute(
                "DELETE FROM completions WHERE tag = %s RETURNING event_name, uuid", [tag]
            ).fetchall()
            if gone:
                conn.execute(
                    "DELETE FROM completion_uuids u USING unnest(%s::text[], %s::text[])"
                    " AS k(event_name, uuid) WHERE u.event_name = k.event_name"
                    " AND u.uuid = k.uuid",
                    [[r[0] for r in gone], [r[1] for r in gone]],
                )
        return len(gone)

    def rename_events(self, names: Mapping[str, str]) -> int:
        renames = {old: new for old, new in names.items() if old != new}
        if not renames:
            return 0
        mapping = [list(renames), list(renames.values())]
        with self._c.connection(locking=True, writes=Topic.COMPLETIONS) as conn:
            changed = conn.execute(
                "UPDATE completions c SET event_name = m.new"
                " FROM unnest(%s::text[], %s::text[]) AS m(old, new) WHERE c.event_name = m.old",
                mapping,
            )
            conn.execute(
                "UPDATE completion_uuids u SET event_name = m.new"
                " FROM unnest(%s::text[], %s::text[]) AS m(old, new) WHERE u.event_name = m.old",
                mapping,
            )
        return changed.rowcount


# -- counting from the summaries of days (schema version 3) -----------------------------------


DAY = timedelta(days=1)


def _next_midnight(moment: datetime) -> datetime:
    """The UTC midnight at or after ``moment``."""
    start = utc_day_start(moment)
    return start if start == moment else start + DAY


@dataclass(frozen=True)
class DayPlan:
    """Where the counts of intervals come from: their whole UTC days from the summaries of
    days, what is left of them (a first or last day begun or ended within) from the table."""

    days: list[tuple[date, date, int]]
    """``[first, end)`` whole days counted into interval ``i``, in order."""
    pieces: list[tuple[datetime, datetime, int]]
    """``[low, high)`` counted from ``completions`` into interval ``i``."""


def plan_days(edges: Sequence[datetime]) -> DayPlan:
    """The whole days and the pieces of the intervals ``[edges[i], edges[i+1])`` (an interval
    that ends before it begins is empty, as it is to the other stores' bisection)."""
    days: list[tuple[date, date, int]] = []
    pieces: list[tuple[datetime, datetime, int]] = []
    for i, (low, high) in enumerate(itertools.pairwise(edges)):
        if high <= low:
            continue
        first, last = _next_midnight(low), utc_day_start(high)
        if first < last:
            days.append((first.date(), last.date(), i))
            if low < first:
                pieces.append((low, first, i))
            if last < high:
                pieces.append((last, high, i))
        else:
            pieces.append((low, high, i))
    return DayPlan(days, pieces)


_DAY_COUNTS = (
    "SELECT event_name, day, sum(count) FROM completion_days"
    " WHERE event_name = ANY(%s::text[]) AND day >= %s AND day < %s GROUP BY 1, 2"
)
_PIECE_COUNTS = (
    "SELECT c.event_name, r.i, count(*)"
    " FROM unnest(%s::timestamptz[], %s::timestamptz[], %s::int[]) AS r(low, high, i)"
    " JOIN completions c ON c.occurred_at >= r.low AND c.occurred_at < r.high"
    " WHERE c.event_name = ANY(%s::text[]) GROUP BY 1, 2"
)
_DAY_OF = (
    "c.object_type = {t}.object_type AND c.object_id = {t}.object_id"
    " AND c.event_name = {t}.event_name"
    " AND c.occurred_at >= {t}.day::timestamp AT TIME ZONE 'UTC'"
    " AND c.occurred_at < ({t}.day + 1)::timestamp AT TIME ZONE 'UTC'"
)
"""The completions of a row of ``record_days`` (or of its unsure rows) ``t``."""

_SAME_KEY = (
    "u.event_name = r.event_name AND u.day = r.day"
    " AND u.object_type = r.object_type AND u.object_id = r.object_id"
)

_DISTINCT_RECORDS = f"""
SELECT event_name, count(*) FROM (
    SELECT r.event_name, r.object_type, r.object_id FROM record_days r
    WHERE r.event_name = ANY(%(names)s::text[]) AND r.day >= %(first)s AND r.day < %(end)s
        AND NOT EXISTS (SELECT 1 FROM record_days_unsure u WHERE {_SAME_KEY})
    UNION
    SELECT u.event_name, u.object_type, u.object_id FROM record_days_unsure u
    WHERE u.event_name = ANY(%(names)s::text[]) AND u.day >= %(first)s AND u.day < %(end)s
        AND EXISTS (SELECT 1 FROM completions c WHERE {_DAY_OF.format(t="u")})
{{pieces}}) d GROUP BY 1
"""
"""Each event's distinct records: of its whole days, from ``record_days`` (its rows a rewrite
made unsure checked against the completions), and of the pieces of days, from the table
(``{pieces}``: :data:`_PIECE_RECORDS` for each)."""

_PIECE_RECORDS = """    UNION
    SELECT c.event_name, c.object_type, c.object_id FROM completions c
    WHERE c.event_name = ANY(%(names)s::text[]) AND c.object_id IS NOT NULL
        AND c.occurred_at >= %(low{n})s AND c.occurred_at < %(high{n})s
"""
"""The records of a piece of a day: its bounds as values the planner sees (a day's share of
the rows, not a guess that makes the query look costly enough to compile)."""

_SETTLE = f"""
WITH unsure AS (
    DELETE FROM record_days_unsure RETURNING event_name, day, object_type, object_id
), settled AS (
    SELECT DISTINCT event_name, day, object_type, object_id FROM unsure
), gone AS (
    DELETE FROM record_days r USING settled u WHERE {_SAME_KEY}
)
INSERT INTO record_days (event_name, day, object_type, object_id)
SELECT * FROM settled u WHERE EXISTS (SELECT 1 FROM completions c WHERE {_DAY_OF.format(t="u")})
"""
"""Every row of the (event, day, record) noted unsure removed, and one made again where it
has completions (the insert does not see the rows the delete removes, nor it the row made)."""


def _count(
    conn: Conn, names: Sequence[str], edges: Sequence[datetime]
) -> tuple[dict[str, list[int]], dict[str, int]]:
    """Each event's completions per interval ``[edges[i], edges[i+1])`` and its distinct
    records over ``[edges[0], edges[-1])``: whole days from ``completion_days`` and
    ``record_days``, the pieces of days from the table (by its covering index)."""
    series = {name: [0] * (len(edges) - 1) for name in names}
    records = dict.fromkeys(names, 0)
    plan = plan_days(edges)
    if plan.days:
        starts = [first for first, _, _ in plan.days]
        rows = conn.execute(
            _DAY_COUNTS, [list(names), plan.days[0][0], plan.days[-1][1]]
        ).fetchall()
        for name, day, count in rows:
            at = bisect.bisect_right(starts, day) - 1
            if at >= 0 and day < plan.days[at][1]:
                series[name][plan.days[at][2]] += int(count)
    if plan.pieces:
        lows, highs, slots = (list(column) for column in zip(*plan.pieces, strict=True))
        rows = conn.execute(_PIECE_COUNTS, [lows, highs, slots, list(names)]).fetchall()
        for name, slot, count in rows:
            series[name][slot] += count
    whole = plan_days([edges[0], edges[-1]])
    first, end = (whole.days[0][0], whole.days[0][1]) if whole.days else (date.min, date.min)
    chosen: dict[str, Any] = {"names": list(names), "first": first, "end": end}
    for n, (low, high, _) in enumerate(whole.pieces):
        chosen |= {f"low{n}": low, f"high{n}": high}
    pieces = "".join(_PIECE_RECORDS.format(n=n) for n in range(len(whole.pieces)))
    for name, count in conn.execute(
        _DISTINCT_RECORDS.format(pieces=pieces).encode(), chosen
    ).fetchall():
        records[name] = count
    return series, records


def _claim(conn: Conn, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Insert ``keys`` into ``completion_uuids``; the ones that were free (a key another
    transaction holds uncommitted is waited for)."""
    if not keys:
        return set()
    rows = conn.execute(
        "INSERT INTO completion_uuids (event_name, uuid)"
        f" SELECT {KEYS_OF} ON CONFLICT DO NOTHING RETURNING event_name, uuid",
        [keys_json(keys)],
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


KEYS_OF = "k ->> 0, k ->> 1 FROM json_array_elements(%s::json) AS k"
"""``(event_name, uuid)`` rows from :func:`keys_json`'s text, in its order."""


def keys_json(keys: Iterable[tuple[str, str]]) -> str:
    """``(event, uuid)`` keys as one JSON parameter, ``[["e","u"],...]``: a batch's 500 keys
    as two text arrays cost more in psycopg's array dumper than the statement itself."""
    return orjson.dumps(list(keys)).decode()


_COPY = f"COPY completions ({_COLUMNS}) FROM STDIN"


COPY_CHUNK = 50
"""Rows made and sent at a time in a COPY (about 36 kB of the bench's completions)."""


def _copy(conn: Conn, completions: Sequence[Completion]) -> None:
    """Store ``completions`` in one COPY, each row made by :func:`_copy_line` (COPY's text
    format) and sent a few dozen at a time: the server stores the first rows while the next
    are made."""
    with conn.cursor().copy(_COPY) as copy:
        for start in range(0, len(completions), COPY_CHUNK):
            chunk = completions[start : start + COPY_CHUNK]
            copy.write(b"".join(_copy_line(c) for c in chunk))


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _text(value: str | None) -> str:
    """A column's value in COPY's text format (NULL as ``\\N``)."""
    if value is None:
        return "\\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def _copy_line(c: Completion) -> bytes:
    """One completion as a line of COPY's text format, in :data:`_COLUMNS`' order: built
    here rather than by ``write_row``, whose dumpers cost a tenth of a batch."""
    doc = c.to_json()
    fields = (
        _text(c.id),
        _text(c.uuid),
        _text(c.event_name),
        _text(doc["objectType"]),
        _text(c.object_id),
        _text(c.utk),
        _text(c.tag),
        c.occurred_at.isoformat(),
        c.received_at.isoformat(),
    )
    # orjson writes no raw control character (JSON escapes them): only backslashes need
    # escaping for COPY.
    return "\t".join(fields).encode() + b"\t" + orjson.dumps(doc).replace(b"\\", b"\\\\") + b"\n"


_TRUTHY = """CASE json_typeof(p.value)
    WHEN 'null' THEN false
    WHEN 'boolean' THEN p.value::text = 'true'
    WHEN 'number' THEN p.value::text::numeric <> 0
    WHEN 'string' THEN p.value::text <> '""'
    WHEN 'array' THEN json_array_length(p.value) > 0
    ELSE p.value::text !~ '^\\{\\s*\\}$'
END"""
"""Whether a sent value is a touch: true as Python holds the JSON value (not null, false, 0,
an empty string, list or object), as the other stores decide it."""

_CONVERSIONS = f"""
WITH converted AS (
    SELECT DISTINCT ON (object_type, object_id) object_type, object_id, occurred_at, id
    FROM completions
    WHERE event_name = %s AND occurred_at >= %s AND occurred_at < %s AND object_id IS NOT NULL
    ORDER BY object_type, object_id, occurred_at, id
), touches AS (
    SELECT c.object_type, c.object_id, c.event_name, c.doc,
        row_number() OVER (PARTITION BY c.object_type, c.object_id
                           ORDER BY c.occurred_at, c.id) AS from_first,
        row_number() OVER (PARTITION BY c.object_type, c.object_id
                           ORDER BY c.occurred_at DESC, c.id DESC) AS from_last
    FROM converted v JOIN completions c
        ON c.object_type = v.object_type AND c.object_id = v.object_id
        AND (c.occurred_at, c.id) <= (v.occurred_at, v.id)
    WHERE EXISTS (
        SELECT 1 FROM json_each(c.doc -> 'properties') p
        WHERE p.key = ANY(%s::text[]) AND {_TRUTHY}
    )
)
SELECT v.object_type, v.object_id, t.from_first = 1, t.from_last = 1,
    t.event_name, t.object_id, t.doc
FROM converted v LEFT JOIN touches t
    ON t.object_type = v.object_type AND t.object_id = v.object_id
    AND (t.from_first = 1 OR t.from_last = 1)
"""
"""Each record's first completion of the event in the period, and its first and last touch
up to it (itself included): one row per record without touches, one or two with."""


def _page_sizes() -> Iterator[int]:
    yield from PAGES
    while True:
        yield PAGES[-1]
