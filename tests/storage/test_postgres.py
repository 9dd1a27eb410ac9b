"""What only the PostgreSQL adapter has: its schema and versions, monthly partitions, plain
ingest that needs no lock, and URLs shown without passwords. (What every adapter does is in
tests/contract.)"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from cli.bootstrap import open_services
from cli.main import main
from core.errors import Conflict, StorageUnavailable, ValidationFailed
from core.models import ObjectType
from core.ports import EVERYTHING, CompletionSelection, EventTally, Topic
from storage.postgres import NotACbeDatabase, PostgresDatabase, open_postgres, shown_url
from storage.postgres.completions import _COLUMNS, COPY_CHUNK, _copy_line
from storage.postgres.database import erase_cbe
from storage.postgres.repositories import dumps
from storage.postgres.schema import SCHEMA_VERSION, TABLES, migrate
from storage.postgres.urls import (
    DEFAULT_POOL_SIZE,
    POOL_SIZE_ENV,
    InvalidDatabaseUrl,
    PoolSize,
    split_pool_size,
)
from storage.postgres.watch import PostgresWatcher, channel, listener
from tests.api.conftest import ROOT
from tests.conftest import NOW, PORTAL_ID, VIEWED_CAR
from tests.contract.conftest import completion, contact, definition
from tests.postgres import fresh_database_url
from tests.sending import send_one


@pytest.fixture
def url() -> str:
    return fresh_database_url()


@pytest.fixture
def db(url: str) -> Iterator[PostgresDatabase]:
    opened = open_postgres(url, portal_id=PORTAL_ID)
    yield opened
    opened.close()


def _one(url: str, query: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return row[0]


def test_a_new_database_gets_cbes_schema_with_its_version(url: str) -> None:
    with psycopg.connect(url) as conn:  # as a fresh database is: nothing of cbe's yet
        conn.execute(f"DROP TABLE {', '.join(TABLES)} CASCADE")
    opened = open_postgres(url, portal_id=PORTAL_ID)
    opened.close()
    assert _one(url, "SELECT max(version) FROM cbe_schema") == SCHEMA_VERSION
    assert _one(url, "SELECT count(*) FROM portal") == 1
    again = open_postgres(url)
    try:
        assert again.portal.portal_id == PORTAL_ID
    finally:
        again.close()


def test_a_newer_schema_is_refused_with_both_versions(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO cbe_schema (version) VALUES (99)")
    with pytest.raises(
        NotACbeDatabase, match=f"schema version 99; this cbe knows versions up to {SCHEMA_VERSION}"
    ):
        open_postgres(url)


def test_completions_go_to_their_months_partition_and_read_back_in_order(
    db: PostgresDatabase, url: str
) -> None:
    far = completion(1, minutes=-60 * 24 * 400)  # thirteen months back: a month made on demand
    db.completions.append([completion(2), far, completion(3)])
    partitions = _one(
        url,
        "SELECT string_agg(c.relname || '=' || (SELECT count(*) FROM completions t"
        " WHERE t.tableoid = c.oid), ',' ORDER BY c.relname)"
        " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'completions'::regclass",
    )
    assert isinstance(partitions, str)
    assert "completions_2025_09=1" in partitions
    assert f"completions_{NOW.year}_{NOW.month:02d}=2" in partitions
    assert "completions_default=0" in partitions
    found = [c.id for c in db.completions.scan(CompletionSelection(newest_first=False))]
    assert found == ["c1", "c2", "c3"]


def test_a_month_the_default_partition_holds_stays_there(db: PostgresDatabase, url: str) -> None:
    old = datetime(2020, 1, 15, tzinfo=UTC)
    with psycopg.connect(url) as conn:  # as another process left it while the table was busy
        conn.execute(
            "INSERT INTO completions_default (id, uuid, event_name, object_type, occurred_at,"
            " received_at, doc) VALUES ('x', 'x', 'e', 'CONTACT', %s, %s, '{}')",
            [old, old],
        )
    minutes = int((old - NOW).total_seconds() // 60) + 1
    db.completions.append([completion(1, minutes=minutes)])
    assert _one(url, "SELECT count(*) FROM completions_default") == 2
    assert _one(url, "SELECT to_regclass('completions_2020_01') IS NULL") is True


def test_plain_ingest_in_two_units_needs_no_lock(db: PostgresDatabase) -> None:
    """One unit has stored a completion and not committed; another stores and commits its own
    meanwhile (it would wait for the first were the database's lock taken)."""
    with db.transaction() as unit:
        db.completions.append([completion(1, uuid="first")])
        done: list[str] = []

        def other() -> None:
            with db.transaction() as theirs:
                db.completions.append([completion(2, uuid="second")])
                theirs.commit()
            done.append("committed")

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert done == ["committed"]
        unit.commit()
    stored = [c.uuid for c in db.completions.scan(CompletionSelection(newest_first=False))]
    assert stored == ["first", "second"]


def test_a_uuid_taken_by_another_process_is_refused_by_the_database(
    db: PostgresDatabase, url: str
) -> None:
    other = open_postgres(url)
    try:
        other.completions.append([completion(1, uuid="once")])
        assert db.completions.existing_uuids({("pe12345678_viewed", "once")}) == {
            ("pe12345678_viewed", "once")
        }
        with pytest.raises(Conflict):
            db.completions.append([completion(2, uuid="once")])
    finally:
        other.close()
    assert [c.id for c in db.completions.scan(CompletionSelection())] == ["c1"]


def test_a_url_is_shown_without_its_password() -> None:
    assert (
        shown_url("postgresql://ann:s3cret@db.example.com:5433/cbe?sslmode=require&password=x")
        == "postgresql://ann:***@db.example.com:5433/cbe?sslmode=require"
    )
    assert shown_url("postgres://ann@localhost/cbe") == "postgres://ann@localhost/cbe"


def test_a_record_another_process_changed_is_read_afresh_by_the_next_unit(
    db: PostgresDatabase, url: str
) -> None:
    db.records.insert(contact("1", "ann@example.com"))
    with db.transaction():
        assert db.records.get(ObjectType.CONTACT, "1") is not None  # now in the cache
        assert db.records.get(ObjectType.CONTACT, "2") is None
    other = open_postgres(url)
    try:
        other.records.replace(contact("1", "ann@new.example.com"))
        other.records.insert(contact("2", "bob@example.com"))
    finally:
        other.close()
    with db.transaction():
        ann = db.records.get(ObjectType.CONTACT, "1")
        assert ann is not None and ann.email == "ann@new.example.com"
        assert db.records.get(ObjectType.CONTACT, "2") is not None


def test_a_unit_rolled_back_leaves_no_record_in_the_cache(db: PostgresDatabase) -> None:
    with db.transaction():
        db.records.insert(contact("1", "ann@example.com"))
        assert db.records.get(ObjectType.CONTACT, "1") is not None
    with db.transaction():
        assert db.records.get(ObjectType.CONTACT, "1") is None


def test_a_database_holding_other_tables_is_refused_saying_which(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(f"DROP TABLE {', '.join(TABLES)} CASCADE")
        conn.execute("CREATE TABLE invoices (id int)")
    with pytest.raises(NotACbeDatabase, match=r"holds tables that are not cbe's \(.*invoices\)"):
        open_postgres(url)


def _waiting_on_a_lock(url: str) -> bool:
    return bool(
        _one(
            url,
            "SELECT count(*) > 0 FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
    )


def test_a_uuid_looked_up_while_another_unit_stores_it_is_found_taken(
    db: PostgresDatabase, url: str
) -> None:
    """A retry racing its original (another process, the same uuid): the second lookup waits
    for the unit storing it and then finds it taken, so HubSpot's answer to a retry (accepted,
    stored once) holds under concurrency too."""
    key = ("pe12345678_viewed", "raced")
    found: list[set[tuple[str, str]]] = []
    other = open_postgres(url)
    try:
        with db.transaction() as unit:
            assert db.completions.existing_uuids({key}) == set()
            db.completions.append([completion(1, uuid="raced")])

            def retry() -> None:
                with other.transaction():
                    found.append(other.completions.existing_uuids({key}))

            thread = threading.Thread(target=retry)
            thread.start()
            while not _waiting_on_a_lock(url):  # the retry's lookup waits for this unit
                assert thread.is_alive()
            unit.commit()
        thread.join()
    finally:
        other.close()
    assert found == [{key}]


def _waiting_backend(url: str) -> int | None:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return None if row is None else int(row[0])


def test_uuids_looked_up_begun_let_ingest_go_on_while_another_unit_holds_one(
    db: PostgresDatabase, url: str
) -> None:
    """Ingest validates its inputs while their uuids are claimed: the claim, sent from another
    thread, waits for the unit holding one of them, the caller reads a record meanwhile (its
    version read before the claim was sent), and the answer comes once that unit commits."""
    key = ("pe12345678_viewed", "raced")
    db.records.insert(contact("1", "ann@example.com"))
    with db.transaction():
        assert db.records.get(ObjectType.CONTACT, "1") is not None  # now in the cache
    other = open_postgres(url)
    try:
        with other.transaction() as first:
            other.completions.append([completion(1, uuid="raced")])
            with db.transaction():
                answer = db.completions.begin_existing_uuids({key})
                while _waiting_backend(url) is None:  # the claim waits for ``first``
                    pass
                assert db.records.get(ObjectType.CONTACT, "1") is not None  # from the cache
                first.commit()
                assert answer() == {key}
    finally:
        other.close()


def test_a_claim_whose_connection_is_lost_fails_its_answer_and_its_unit_alone(
    db: PostgresDatabase, url: str
) -> None:
    key = ("pe12345678_viewed", "raced")
    other = open_postgres(url)
    try:
        with other.transaction():
            other.completions.append([completion(1, uuid="raced")])
            with pytest.raises(StorageUnavailable), db.transaction():
                answer = db.completions.begin_existing_uuids({key})
                while (waiting := _waiting_backend(url)) is None:
                    pass
                _one(url, f"SELECT pg_terminate_backend({waiting})")
                answer()
    finally:
        other.close()
    assert db.completions.existing_uuids({key}) == set()  # nothing kept of either unit
    db.completions.append([completion(2, uuid="raced")])


def test_uuids_claimed_begun_and_never_answered_are_free_again_after_the_commit(
    db: PostgresDatabase,
) -> None:
    key = ("pe12345678_viewed", "unasked")
    with db.transaction() as unit:
        db.completions.begin_existing_uuids({key})
        unit.commit()  # waits for the claim, then releases it with the others not stored
    assert db.completions.existing_uuids({key}) == set()
    db.completions.append([completion(1, uuid="unasked")])


def test_uuids_looked_up_and_not_stored_are_free_again_after_the_commit(
    db: PostgresDatabase,
) -> None:
    looked = {("pe12345678_viewed", "kept"), ("pe12345678_viewed", "refused")}
    with db.transaction() as unit:
        assert db.completions.existing_uuids(looked) == set()
        db.completions.append([completion(1, uuid="kept")])
        unit.commit()
    assert db.completions.existing_uuids(looked) == {("pe12345678_viewed", "kept")}
    db.completions.append([completion(2, uuid="refused")])


# -- live updates: NOTIFY after every write kept, a watcher that LISTENs ----------------------


def kill_listeners(url: str) -> int:
    """End the sessions that LISTEN on the channel of the portal at ``url``, as an
    administrator's ``pg_terminate_backend`` would; how many there were."""
    with psycopg.connect(url, autocommit=True) as admin:
        row = admin.execute("SELECT current_schema()").fetchone()
        assert row is not None
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            [listener(channel(row[0]))],
        ).fetchall()
    assert all(ended for (ended,) in killed)
    return len(killed)


def _report(watcher: PostgresWatcher) -> frozenset[Topic]:
    """The watcher's next report (it comes at once; a minute on a machine busy elsewhere)."""
    for _ in range(60):
        topics = watcher.wait(1.0)
        if topics:
            return topics
    raise AssertionError("the watcher reported nothing within a minute")


def test_the_watcher_listens_again_after_its_connection_is_killed(
    db: PostgresDatabase, url: str
) -> None:
    watcher = db.watch()
    try:
        assert _report(watcher) == EVERYTHING
        assert kill_listeners(url) == 1
        # Anything may have been missed while it was away: everything is reported, once it
        # listens again.
        assert _report(watcher) == EVERYTHING
        assert watcher.connections == 2
        db.records.insert(contact("1", "ann@example.com"))
        assert _report(watcher) == {Topic.RECORDS}
    finally:
        watcher.close()


def test_the_channel_is_the_schemas_so_portals_on_one_server_do_not_hear_each_other(
    db: PostgresDatabase,
) -> None:
    other = open_postgres(fresh_database_url(), portal_id=PORTAL_ID)
    watcher = db.watch()
    try:
        assert _report(watcher) == EVERYTHING
        other.completions.append([completion(1)])  # another portal: not heard here
        db.records.insert(contact("1", "ann@example.com"))
        assert _report(watcher) == {Topic.RECORDS}
    finally:
        watcher.close()
        other.close()


def test_a_short_lived_process_announces_what_it_stored_before_it_ends(
    db: PostgresDatabase, url: str, tmp_path: Path
) -> None:
    """``cbe send`` opens the database, stores one completion and exits at once."""
    watcher = db.watch()
    try:
        assert _report(watcher) == EVERYTHING
        db.definitions.insert(definition("1", "viewed"))
        assert _report(watcher) == {Topic.DEFINITIONS}
        body = tmp_path / "send.json"
        body.write_text(
            json.dumps({"eventName": f"pe{PORTAL_ID}_viewed", "objectId": "1", "properties": {}})
        )
        sent = subprocess.run(
            [sys.executable, "-m", "cli", "send", str(body), "--db", url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert sent.returncode == 0, sent.stderr
        assert Topic.COMPLETIONS in _report(watcher)
    finally:
        watcher.close()


def test_a_channel_is_never_longer_than_postgresql_allows() -> None:
    assert channel("portal_1") == "cbe portal_1"
    long_ones = {channel("p" * 63), channel("p" * 62 + "q"), channel("é" * 31)}
    assert len(long_ones) == 3
    assert all(len(name.encode()) <= 63 for name in long_ones)


def _with(url: str, query: str) -> str:
    return url + ("&" if "?" in url else "?") + query


def test_the_pool_size_in_the_url_sizes_the_pool_and_psycopg_never_sees_it(url: str) -> None:
    opened = open_postgres(_with(url, "pool_size=3&pool_min_size=2"), portal_id=PORTAL_ID)
    try:
        assert (opened.pool_size.min_size, opened.pool_size.max_size) == (2, 3)
        assert "pool" not in opened.url  # what psycopg connects by
        opened.completions.append([completion(1)])  # and it works
        assert [c.id for c in opened.completions.scan(CompletionSelection())] == ["c1"]
    finally:
        opened.close()


def test_cbe_pool_size_sizes_the_pool_when_the_url_does_not(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(POOL_SIZE_ENV, "5")
    opened = open_postgres(url, portal_id=PORTAL_ID)
    try:
        assert opened.pool_size == PoolSize(1, 5)
    finally:
        opened.close()
    assert split_pool_size(_with(url, "pool_size=12"))[1] == PoolSize(1, 12)  # the URL wins
    monkeypatch.delenv(POOL_SIZE_ENV)
    assert split_pool_size(url) == (url, PoolSize(1, DEFAULT_POOL_SIZE))


@pytest.mark.parametrize(
    ("query", "environ", "message"),
    [
        (
            "pool_size=0",
            {},
            "pool_size in the database URL must be a whole number of connections from 2 to 1000",
        ),
        ("pool_size=lots", {}, "got 'lots'"),
        ("pool_size=1", {}, "while partitions are made on another\\); got '1'"),
        ("", {POOL_SIZE_ENV: "-2"}, r"\$CBE_POOL_SIZE must be a whole number"),
        (
            "pool_size=4&pool_min_size=6",
            {},
            r"pool_min_size in the database URL \(6\) is more "
            r"than the pool's size \(4\)",
        ),
    ],
)
def test_a_pool_size_that_is_not_a_number_of_connections_is_refused_saying_why(
    query: str, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidDatabaseUrl, match=message):
        split_pool_size(_with("postgresql://ann@db.example.com/cbe", query), environ)


def test_a_bad_pool_size_is_one_clear_line_from_the_cli(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CBE_DB", raising=False)
    result = CliRunner().invoke(main, ["portal", "--db", _with(url, "pool_size=0")])
    assert result.exit_code != 0
    assert "pool_size in the database URL must be a whole number" in result.output


def test_texts_with_backslashes_tabs_and_line_breaks_are_stored_as_sent(
    db: PostgresDatabase,
) -> None:
    """Completions go in by COPY in its text format, built by cbe: what COPY would take as
    an escape, a column's end or a row's end must arrive as the sender's characters."""
    awkward = "a\\tb\tc\nd\re\\\\N é 😀"
    sent = completion(1, object_id=awkward, utk=awkward, tag=awkward, uuid=awkward).model_copy(
        update={"properties": {"note": awkward, "path": "C:\\new\\table", "n": 3.0}}
    )
    plain = completion(2, object_id=None)  # an anonymous visitor's: NULLs
    with db.transaction() as unit:
        db.completions.append([sent, plain])
        unit.commit()
    (found,) = db.completions.find(awkward)
    assert found.to_json() == sent.to_json()
    (anonymous,) = db.completions.find("c2")
    assert anonymous.object_id is None and anonymous.utk is None and anonymous.tag is None
    record = CompletionSelection(object_type=ObjectType.CONTACT, object_id=awkward)
    assert [c.id for c in db.completions.scan(record)] == ["c1"]


def test_a_batch_longer_than_a_copy_chunk_is_stored_whole(db: PostgresDatabase) -> None:
    """A COPY's rows are made and sent a chunk at a time: every one arrives, in one
    statement, the rows at a chunk's edges as whole as the others."""
    made = [completion(n, uuid=f"u\t{n}\n") for n in range(1, 2 * COPY_CHUNK + 2)]
    with db.transaction() as unit:
        db.completions.append(made)
        unit.commit()
    stored = db.completions.scan(CompletionSelection(newest_first=False))
    assert [c.to_json() for c in stored] == [c.to_json() for c in made]
    edge = made[COPY_CHUNK]
    assert [c.to_json() for c in db.completions.find(edge.uuid)] == [edge.to_json()]
    assert sum(s.count for s in db.completions.summaries().values()) == len(made)


def test_each_events_count_is_kept_by_the_database_through_rewrites_and_folds(
    db: PostgresDatabase, url: str
) -> None:
    """The first screen's numbers come from counts the database keeps (so they cost the same
    at ten million completions as at ten): they follow every insert, delete and rename, in
    this process or another, and a fold leaves one row per event with the same sums."""
    a, b = "pe12345678_viewed", "pe12345678_bought"
    db.completions.append([completion(n, event=a) for n in range(1, 4)])
    db.completions.append([completion(4, event=b, tag="run"), completion(5, event=b)])
    other = open_postgres(url)
    try:
        other.completions.append([completion(6, event=a)])
    finally:
        other.close()
    assert {n: s.count for n, s in db.completions.summaries().items()} == {a: 4, b: 2}
    db.completions.delete_tagged("run")
    db.completions.rename_events({b: "pe12345678_paid"})
    expected = {a: 4, "pe12345678_paid": 1}
    assert {n: s.count for n, s in db.completions.summaries().items()} == expected
    assert db.completions.summaries()[a].last_occurred_at == completion(6).occurred_at
    db.completions.fold_counts()
    assert {n: s.count for n, s in db.completions.summaries().items()} == expected
    assert _one(url, "SELECT count(*) FROM completion_counts") == 2
    assert _one(url, "SELECT count(*) FROM completion_days") == 2  # one day, two events
    day = [NOW.replace(hour=0), NOW.replace(hour=0) + timedelta(days=1)]
    assert db.completions.tally([a], day)[a] == EventTally([4], 1)
    db.completions.delete_event(a)
    assert {n: s.count for n, s in db.completions.summaries().items()} == {"pe12345678_paid": 1}


def test_the_upgrade_to_version_3_fills_the_summaries_of_days_from_the_completions(
    url: str,
) -> None:
    """A database of schema version 2 with completions opens at version 3 with each event's
    counts per day and records per day filled in: the analyze numbers are the same as
    counted from the completions, and the triggers keep them from there on."""
    erase_cbe(url)
    made = [
        completion(n, event=event, object_id=record, minutes=minutes)
        for n, (event, record, minutes) in enumerate(
            [
                ("pe12345678_viewed", "1", -1500),
                ("pe12345678_viewed", "1", -1490),
                ("pe12345678_viewed", "2", 30),
                ("pe12345678_viewed", None, 40),
                ("pe12345678_bought", "2", 2000),
            ]
        )
    ]
    with psycopg.connect(url) as conn:
        migrate(conn, None, to=2)
        with conn.cursor().copy(f"COPY completions ({_COLUMNS}) FROM STDIN") as copy:
            copy.write(b"".join(_copy_line(c) for c in made))
    assert _one(url, "SELECT max(version) FROM cbe_schema") == 2
    db = open_postgres(url, portal_id=PORTAL_ID)
    try:
        assert _one(url, "SELECT max(version) FROM cbe_schema") == SCHEMA_VERSION
        day = NOW.replace(hour=0)
        edges = [day - timedelta(days=1), day, day + timedelta(days=1), day + timedelta(days=3)]
        tally = db.completions.tally(["pe12345678_viewed", "pe12345678_bought"], edges)
        assert (tally["pe12345678_viewed"].series, tally["pe12345678_viewed"].records) == (
            [2, 2, 0],
            2,
        )
        assert (tally["pe12345678_bought"].series, tally["pe12345678_bought"].records) == (
            [0, 0, 1],
            1,
        )
        assert _one(url, "SELECT count(*) FROM record_days") == 3
        db.completions.append([completion(9, minutes=-1480, object_id="3")])
        assert db.completions.tally(["pe12345678_viewed"], edges)["pe12345678_viewed"] == (
            EventTally([3, 2, 0], 3)
        )
    finally:
        db.close()


def test_a_rewrite_never_waits_for_a_writer_and_records_per_day_stay_exact(
    db: PostgresDatabase, url: str
) -> None:
    """A rewrite (under the database's lock) while another process's unit has stored a
    completion and not committed: the rewrite does not wait for it (that unit might be
    waiting for the lock), the distinct records are exact before and after its commit, and a
    fold settles what the rewrite noted as unsure."""
    a = "pe12345678_viewed"
    day = [NOW.replace(hour=0), NOW.replace(hour=0) + timedelta(days=1)]
    db.completions.append(
        [
            completion(1, object_id="1"),
            completion(2, object_id=None, utk="visitor"),
            completion(3, object_id="2", tag="run"),
        ]
    )
    other = open_postgres(url)
    done: list[EventTally] = []
    try:
        with other.transaction() as theirs:
            other.completions.append([completion(4, object_id="2")])  # record 2's day again

            def rewrite() -> None:
                with db.transaction() as unit:
                    db.completions.delete_tagged("run")
                    db.completions.attach_visitor("visitor", "3")
                    unit.commit()
                done.append(db.completions.tally([a], day)[a])

            thread = threading.Thread(target=rewrite)
            thread.start()
            thread.join(timeout=20)
            assert done == [EventTally([2], 2)]  # records 1 and 3: 4 is not committed yet
            theirs.commit()
    finally:
        other.close()
    assert db.completions.tally([a], day)[a] == EventTally([3], 3)
    assert _one(url, "SELECT count(*) FROM record_days_unsure") == 2
    db.completions.fold_counts()
    assert _one(url, "SELECT count(*) FROM record_days_unsure") == 0
    assert _one(url, "SELECT count(*) FROM record_days") == 3
    assert db.completions.tally([a], day)[a] == EventTally([3], 3)


def test_a_fold_leaves_unsure_days_to_the_next_while_a_writer_is_adding_to_record_days(
    db: PostgresDatabase, url: str
) -> None:
    """Settling waits a fifth of a second at most for the writers adding rows to
    ``record_days``: with one still in its unit, the fold gives up on it (the counts are
    folded all the same) and the next one settles."""
    a = "pe12345678_viewed"
    day = [NOW.replace(hour=0), NOW.replace(hour=0) + timedelta(days=1)]
    db.completions.append([completion(1, object_id="1", tag="run"), completion(2, object_id="2")])
    db.completions.delete_tagged("run")
    other = open_postgres(url)
    try:
        with other.transaction() as theirs:
            other.completions.append([completion(3, object_id="3")])
            db.completions.fold_counts()
            assert _one(url, "SELECT count(*) FROM record_days_unsure") == 1
            assert _one(url, "SELECT count(*) FROM completion_days") == 1  # folded
            theirs.commit()
    finally:
        other.close()
    db.completions.fold_counts()
    assert _one(url, "SELECT count(*) FROM record_days_unsure") == 0
    assert _one(url, "SELECT count(*) FROM record_days") == 2  # records 2 and 3
    assert db.completions.tally([a], day)[a] == EventTally([2], 2)


def _definitions_version(url: str) -> object:
    return _one(url, "SELECT version FROM changes WHERE what = 'definitions'")


def test_every_write_of_a_definition_raises_their_version_in_its_own_transaction(
    db: PostgresDatabase, url: str
) -> None:
    """Insert, replace and delete (of a definition there is) each raise the definitions'
    version by one, committed with the write; a write rolled back raises nothing."""
    assert _definitions_version(url) == 0
    db.definitions.insert(definition("1", "viewed"))
    assert _definitions_version(url) == 1
    db.definitions.replace(definition("1", "viewed").model_copy(update={"label": "Seen"}))
    assert _definitions_version(url) == 2
    with db.transaction():
        db.definitions.delete("viewed")
    assert _definitions_version(url) == 2  # rolled back, with the deletion
    db.definitions.delete("viewed")
    db.definitions.delete("never")  # nothing deleted: nothing changed
    assert _definitions_version(url) == 3
    assert db.definitions.get("viewed") is None


def test_a_unit_at_an_unchanged_version_reads_definitions_from_the_cache(
    db: PostgresDatabase, url: str
) -> None:
    """Once read at a version, a definition (or its absence) is not read again until the
    version changes: a row changed behind cbe's back without raising it is not seen; raised,
    it is. A unit that wrote definitions reads its own writes and leaves the cache alone."""
    db.definitions.insert(definition("1", "viewed"))
    with db.transaction():
        assert db.definitions.get("viewed") is not None
        assert db.definitions.get("bought") is None
    behind = definition("1", "viewed").model_copy(update={"label": "Behind"})
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE definitions SET doc = %s::json WHERE id = '1'", [dumps(behind)])
        conn.execute(
            "INSERT INTO definitions (id, name, doc) VALUES ('2', 'bought', %s::json)",
            [dumps(definition("2", "bought"))],
        )
    with db.transaction():
        seen = db.definitions.get("viewed")
        assert seen is not None and seen.label == "Viewed"  # from the cache, unchanged
        assert db.definitions.get("bought") is None
    with db.transaction():
        db.definitions.replace(definition("1", "viewed").model_copy(update={"label": "Mine"}))
        mine = db.definitions.get("viewed")
        assert mine is not None and mine.label == "Mine"  # its own write, from the table
    with db.transaction():
        seen = db.definitions.get("viewed")
        assert seen is not None and seen.label == "Viewed"  # that unit was rolled back
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE changes SET version = version + 1 WHERE what = 'definitions'")
    with db.transaction():
        assert db.definitions.get("bought") is not None  # a new version: read afresh
        seen = db.definitions.get("viewed")
        assert seen is not None and seen.label == "Behind"


def test_a_definition_another_process_changed_applies_to_the_next_send_of_each(
    url: str,
) -> None:
    """Two processes' services on one database: one has sent an event (its definition now
    cached), the other adds an option to its enumeration; the first's next send may use it
    (before, the value was cut). The event deleted in the one, the other refuses it at its
    next send."""
    ours = open_services(url, portal_id=PORTAL_ID)
    theirs = open_services(url)
    try:
        viewed = ours.definitions.create(VIEWED_CAR)
        ours.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
        send = {"eventName": viewed.fully_qualified_name, "email": "ann@example.com"}
        assert send_one(theirs.ingestion, {**send, "properties": {"condition": "used"}})
        cut = send_one(theirs.ingestion, {**send, "properties": {"condition": "certified"}})
        assert [c.property for c in cut.cuts] == ["condition"]  # not an option yet
        ours.definitions.update_property(
            viewed.name,
            "condition",
            {"options": [{"label": "Used", "value": "used"}, {"label": "C", "value": "certified"}]},
        )
        sent = send_one(theirs.ingestion, {**send, "properties": {"condition": "certified"}})
        assert (sent.properties, sent.cuts) == ({"condition": "certified"}, [])
        ours.definitions.delete(viewed.fully_qualified_name)
        with pytest.raises(ValidationFailed):
            send_one(theirs.ingestion, {**send, "properties": {"condition": "used"}})
    finally:
        theirs.close()
        ours.close()


def test_the_upgrade_to_version_4_keeps_a_version_of_the_definitions(url: str) -> None:
    """A database of schema version 3 with a definition opens at version 4 with the
    definitions' version at 0, read by units and raised by the next write."""
    erase_cbe(url)
    with psycopg.connect(url) as conn:
        migrate(conn, None, to=3)
        conn.execute(
            "INSERT INTO definitions (id, name, doc) VALUES ('1', 'viewed', %s::json)",
            [dumps(definition("1", "viewed"))],
        )
    assert _one(url, "SELECT count(*) FROM changes WHERE what = 'definitions'") == 0
    db = open_postgres(url, portal_id=PORTAL_ID)
    try:
        assert _one(url, "SELECT max(version) FROM cbe_schema") == SCHEMA_VERSION == 4
        assert _definitions_version(url) == 0
        with db.transaction():
            found = db.definitions.get("viewed")
            assert found is not None and found.label == "Viewed"
        db.definitions.replace(definition("1", "viewed").model_copy(update={"label": "Seen"}))
        assert _definitions_version(url) == 1
        with db.transaction():
            found = db.definitions.get("viewed")
            assert found is not None and found.label == "Seen"
    finally:
        db.close()
