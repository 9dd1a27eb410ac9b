"""The PostgreSQL schema, as DDL you can read, and its migrations.

One PostgreSQL database holds one portal, as one folder does for the embedded store. cbe
creates the schema itself the first time it opens a database (``cbe_schema`` records each
migration applied) and upgrades an older one; a newer one is refused.

Completions are the large, append-only table. It is partitioned by month on ``occurred_at``:
a month's rows sit together, a report over a month reads one partition, and an old month can be
detached and archived whole. Partitions come two ways (see :func:`ensure_months`):

* a DEFAULT partition, made with the table, takes any completion whose month has no partition
  of its own, so an insert never waits for DDL and never fails for want of a partition;
* monthly partitions are made on demand, in a short transaction of their own on another
  connection with a short lock timeout: ``CREATE TABLE ... PARTITION OF`` locks the parent table,
  and a unit of work that holds a lock on it (it read completions) must not be kept waiting
  (nor keep the DDL waiting for itself). When the lock is not granted in time, or the default
  partition already holds rows of that month, the month stays in the default partition:
  correct, only less pruned.

A unique index on a partitioned table must include the partition key, so the uniqueness of
``(event_name, uuid)`` (HubSpot's idempotency key, per event) is kept in a table of its own,
``completion_uuids``, not partitioned: the database, not one process's memory, refuses a uuid
taken.

Documents are kept as ``json`` (the text as cbe wrote it), not ``jsonb``: a report counts sent
values by their JSON text, ``3`` apart from ``3.0``, which ``jsonb`` would normalise. Columns
beside a document hold what is searched, and are what a rewrite changes (a completion's event
name and record): a reader puts them over the document.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from psycopg import sql

from storage.postgres.connections import Conn

SCHEMA_VERSION = 4

FILL_DAYS = """
INSERT INTO completion_days (event_name, day, count)
    SELECT event_name, (occurred_at AT TIME ZONE 'UTC')::date, count(*) FROM completions
    GROUP BY 1, 2;
INSERT INTO record_days (event_name, day, object_type, object_id)
    SELECT DISTINCT event_name, (occurred_at AT TIME ZONE 'UTC')::date, object_type, object_id
    FROM completions WHERE object_id IS NOT NULL;
"""
"""``completion_days`` and ``record_days`` (schema version 3) filled from the completions
stored, on empty tables (and ``record_days_unsure`` empty): by the migration to version 3, and
by a bulk load that bypassed the triggers (bench/scale_postgres.py)."""

MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE changes (
    what text PRIMARY KEY,
    version bigint NOT NULL    -- raised by every write of ``what``: caches check it
);
INSERT INTO changes (what, version) VALUES ('records', 0);

CREATE TABLE portal (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    doc json NOT NULL
);

CREATE TABLE settings (
    key text PRIMARY KEY,
    value json NOT NULL
);

CREATE TABLE definitions (
    id text COLLATE "C" PRIMARY KEY,
    name text COLLATE "C" NOT NULL UNIQUE,
    doc json NOT NULL
);

CREATE TABLE deleted_definitions (
    seq bigserial,
    name text COLLATE "C" PRIMARY KEY,
    id text COLLATE "C" NOT NULL
);

CREATE TABLE records (
    object_type text NOT NULL,
    id text COLLATE "C" NOT NULL,
    email text,            -- lowercased, contacts only
    utk text,
    archived boolean NOT NULL,
    search text NOT NULL,  -- core.records.search_haystack, NULs as newlines
    doc json NOT NULL,
    PRIMARY KEY (object_type, id)
);
CREATE INDEX records_by_email ON records (email) WHERE email IS NOT NULL;
CREATE INDEX records_by_utk ON records (utk) WHERE utk IS NOT NULL;

CREATE TABLE associations (
    seq bigserial PRIMARY KEY,
    from_type text NOT NULL,
    from_id text COLLATE "C" NOT NULL,
    to_type text NOT NULL,
    to_id text COLLATE "C" NOT NULL
);
CREATE INDEX associations_from ON associations (from_type, from_id);
CREATE INDEX associations_to ON associations (to_type, to_id);

CREATE TABLE completions (
    id text COLLATE "C" NOT NULL,
    uuid text COLLATE "C" NOT NULL,
    event_name text COLLATE "C" NOT NULL,
    object_type text NOT NULL,
    object_id text COLLATE "C",
    utk text,
    tag text,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL,
    doc json NOT NULL
) PARTITION BY RANGE (occurred_at);
CREATE TABLE completions_default PARTITION OF completions DEFAULT;
-- A record's timeline, newest first, paged by (occurred_at, id).
CREATE INDEX completions_timeline
    ON completions (object_type, object_id, occurred_at DESC, id DESC);
-- Every completion, newest first (the app's list of all completions).
CREATE INDEX completions_newest ON completions (occurred_at DESC, id DESC);
-- Counts per event and interval; an event's completions.
CREATE INDEX completions_counts ON completions (event_name, occurred_at);
-- A trace's lookup by id or uuid.
CREATE INDEX completions_id ON completions (id);
CREATE INDEX completions_uuid ON completions (uuid);
-- A test run's completions; an anonymous visitor's, to give them to a contact.
CREATE INDEX completions_tag ON completions (tag) WHERE tag IS NOT NULL;
CREATE INDEX completions_visitor ON completions (utk) WHERE object_id IS NULL;

CREATE TABLE completion_uuids (
    event_name text COLLATE "C" NOT NULL,
    uuid text COLLATE "C" NOT NULL,
    PRIMARY KEY (event_name, uuid)
);

CREATE TABLE workflows (
    id text COLLATE "C" PRIMARY KEY,
    doc json NOT NULL
);

CREATE TABLE enrollments (
    seq bigserial PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    workflow_id text COLLATE "C" NOT NULL,
    active boolean NOT NULL,
    doc json NOT NULL
);
CREATE INDEX enrollments_by_workflow ON enrollments (workflow_id);

CREATE TABLE tasks (
    seq bigserial PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    object_type text NOT NULL,
    object_id text COLLATE "C" NOT NULL,
    doc json NOT NULL
);
CREATE INDEX tasks_by_record ON tasks (object_type, object_id);

CREATE TABLE rejections (
    seq bigserial PRIMARY KEY,
    id text COLLATE "C" NOT NULL,
    doc text NOT NULL      -- a body as it came may be JSON that json refuses (storage.rejections)
);

CREATE TABLE outbox (
    seq bigserial PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    body json NOT NULL,
    refused text
);
""",
    # Each event's count of completions, kept by the database as completions are inserted,
    # deleted or renamed, so that the first screen's numbers do not grow with the table (a
    # count(*) over ten million rows takes seconds). Rows are deltas, summed when read:
    # writers only ever insert here, so writers in several processes never wait for one
    # another, and a delta commits (or not) with the completions it counts. Statement-level
    # triggers see every change, whichever statement made it. (Folded together from time
    # to time: storage.postgres.completions.)
    2: """
CREATE TABLE completion_counts (
    event_name text COLLATE "C" NOT NULL,
    count bigint NOT NULL
);
INSERT INTO completion_counts (event_name, count)
    SELECT event_name, count(*) FROM completions GROUP BY 1;

CREATE OR REPLACE FUNCTION cbe_count_completions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO completion_counts (event_name, count)
            SELECT event_name, count(*) FROM new_rows GROUP BY 1;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO completion_counts (event_name, count)
            SELECT event_name, -count(*) FROM old_rows GROUP BY 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER completions_counted_in AFTER INSERT ON completions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cbe_count_completions();
CREATE TRIGGER completions_counted_out AFTER DELETE ON completions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cbe_count_completions();
CREATE TRIGGER completions_counted_moved AFTER UPDATE ON completions
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION cbe_count_completions();

-- Counts per event and interval, and the records among them, from the index alone (an
-- index-only scan: a third of the time of reading each row's record from the table).
CREATE INDEX completions_counted
    ON completions (event_name, occurred_at) INCLUDE (object_type, object_id);
DROP INDEX completions_counts;
""",
    # Each event's completions per UTC day, and which records completed it on each day, kept
    # by the same triggers, so that the analyze numbers of a period are a sum over its days and
    # a count of the distinct records of its days: they grow with days and records, not with
    # completions (the part of a day that a period begins or ends within is counted from the
    # table: storage.postgres.completions).
    #
    # ``completion_days`` is written as ``completion_counts`` is: deltas, folded from time to
    # time. ``record_days`` says which (event, day, record) have a completion. A statement that
    # stores completions adds the ones not there yet (without a unique key: it never waits for
    # another writer; two writers racing may both add one, which a count of distinct records
    # does not mind). A statement that deletes or moves completions (a rewrite, which holds
    # the database's lock) does not remove rows there: it notes the (event, day, record) it
    # took completions from or gave them to in ``record_days_unsure``, whose rows readers check
    # against the completions themselves, until a fold settles them (see ``fold_counts``). So a
    # rewrite never waits for a writer, which may itself be waiting for the database's lock.
    3: """
CREATE TABLE completion_days (
    event_name text COLLATE "C" NOT NULL,
    day date NOT NULL,       -- the UTC day of occurred_at
    count bigint NOT NULL
);
CREATE INDEX completion_days_by_event ON completion_days (event_name, day) INCLUDE (count);

CREATE TABLE record_days (
    event_name text COLLATE "C" NOT NULL,
    day date NOT NULL,
    object_type text NOT NULL,
    object_id text COLLATE "C" NOT NULL
);
CREATE INDEX record_days_by_event ON record_days (event_name, day, object_type, object_id);

CREATE TABLE record_days_unsure (
    event_name text COLLATE "C" NOT NULL,
    day date NOT NULL,
    object_type text NOT NULL,
    object_id text COLLATE "C" NOT NULL
);
CREATE INDEX record_days_unsure_by_event
    ON record_days_unsure (event_name, day, object_type, object_id);
"""
    + FILL_DAYS
    + """
ANALYZE completion_days, record_days;  -- the planner's statistics, before the first count

CREATE OR REPLACE FUNCTION cbe_count_completions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        INSERT INTO completion_counts (event_name, count)
            SELECT event_name, -count(*) FROM old_rows GROUP BY 1;
        INSERT INTO completion_days (event_name, day, count)
            SELECT event_name, (occurred_at AT TIME ZONE 'UTC')::date, -count(*)
            FROM old_rows GROUP BY 1, 2;
        INSERT INTO record_days_unsure (event_name, day, object_type, object_id)
            SELECT DISTINCT event_name, (occurred_at AT TIME ZONE 'UTC')::date,
                object_type, object_id
            FROM old_rows WHERE object_id IS NOT NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO completion_counts (event_name, count)
            SELECT event_name, count(*) FROM new_rows GROUP BY 1;
        INSERT INTO completion_days (event_name, day, count)
            SELECT event_name, (occurred_at AT TIME ZONE 'UTC')::date, count(*)
            FROM new_rows GROUP BY 1, 2;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO record_days_unsure (event_name, day, object_type, object_id)
            SELECT DISTINCT event_name, (occurred_at AT TIME ZONE 'UTC')::date,
                object_type, object_id
            FROM new_rows WHERE object_id IS NOT NULL;
    ELSIF TG_OP = 'INSERT' THEN
        -- The table's lock first, in a statement of its own: the next statement's snapshot
        -- is then taken after a fold settling record_days (which holds a lock this one waits
        -- for) has committed, and sees what it removed.
        LOCK TABLE record_days IN ROW EXCLUSIVE MODE;
        INSERT INTO record_days (event_name, day, object_type, object_id)
            SELECT n.event_name, n.day, n.object_type, n.object_id FROM (
                SELECT DISTINCT event_name, (occurred_at AT TIME ZONE 'UTC')::date AS day,
                    object_type, object_id
                FROM new_rows WHERE object_id IS NOT NULL
            ) n
            WHERE NOT EXISTS (
                SELECT 1 FROM record_days r
                WHERE r.event_name = n.event_name AND r.day = n.day
                    AND r.object_type = n.object_type AND r.object_id = n.object_id
            );
    END IF;
    RETURN NULL;
END
$$;
""",
    4: """
-- The definitions' version, raised by every write of a definition: units read definitions
-- from a process's cache while it is unchanged (storage.postgres.repositories).
INSERT INTO changes (what, version) VALUES ('definitions', 0) ON CONFLICT (what) DO NOTHING;
""",
}
"""Each schema version's DDL, applied in order, each in the transaction that records it."""

FUNCTIONS = ("cbe_count_completions()",)
"""Every function cbe makes (dropped with its tables)."""


TABLES = (
    "changes",
    "portal",
    "settings",
    "definitions",
    "deleted_definitions",
    "records",
    "associations",
    "completions",
    "completion_uuids",
    "completion_counts",
    "completion_days",
    "record_days",
    "record_days_unsure",
    "workflows",
    "enrollments",
    "tasks",
    "rejections",
    "outbox",
    "cbe_schema",
)
"""Every table cbe makes (the partitions of ``completions`` go with it)."""


def installed_version(conn: Conn) -> int | None:
    """The schema version recorded in the database; None when it holds no cbe schema."""
    found = conn.execute("SELECT to_regclass('cbe_schema') IS NOT NULL").fetchone()
    if not found or not found[0]:
        return None
    row = conn.execute("SELECT max(version) FROM cbe_schema").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def foreign_tables(conn: Conn) -> list[str]:
    """Tables in the schema cbe would create its own in (the first of ``search_path``), which
    a database never given to cbe may hold."""
    rows = conn.execute(
        "SELECT table_schema || '.' || table_name FROM information_schema.tables"
        " WHERE table_schema = current_schema() ORDER BY 1 LIMIT 6"
    ).fetchall()
    return [str(r[0]) for r in rows]


def migrate(conn: Conn, found: int | None, to: int = SCHEMA_VERSION) -> None:
    """Bring the schema from version ``found`` (None: none yet) to ``to`` (an older version
    only for tests of the migrations), in the caller's transaction (which holds the
    database's lock)."""
    if found is None:
        conn.execute(
            "CREATE TABLE cbe_schema ("
            " version integer PRIMARY KEY,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        found = 0
    for version in range(found + 1, to + 1):
        conn.execute(MIGRATIONS[version])  # our own constant text
        conn.execute("INSERT INTO cbe_schema (version) VALUES (%s)", [version])


def month_start(moment: datetime) -> datetime:
    """The first instant of ``moment``'s month, in UTC."""
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def _next_month(start: datetime) -> datetime:
    return datetime(start.year + start.month // 12, start.month % 12 + 1, 1, tzinfo=UTC)


def partition_name(start: datetime) -> str:
    """``completions_2026_12`` for December 2026."""
    return f"completions_{start.year:04d}_{start.month:02d}"


def existing_months(conn: Conn) -> set[str]:
    """The names of the monthly partitions that exist."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'completions'::regclass"
    ).fetchall()
    return {str(r[0]) for r in rows}


def ensure_month(conn: Conn, start: datetime) -> bool | None:
    """Make the partition of the month beginning at ``start``, on ``conn`` in autocommit (a
    transaction of its own), unless the default partition holds rows of that month. True: the
    month has its own partition; False: the default partition keeps the month; None: the
    table's lock was not granted within a fifth of a second (try again later)."""
    name = partition_name(start)
    end = _next_month(start)
    try:
        with conn.transaction():
            conn.execute("SET LOCAL lock_timeout = '200ms'")
            exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [name]).fetchone()
            if exists and exists[0]:
                return True
            held = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM completions_default"
                " WHERE occurred_at >= %s AND occurred_at < %s)",
                [start, end],
            ).fetchone()
            if held and held[0]:
                return False
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} PARTITION OF completions"
                    " FOR VALUES FROM ({}) TO ({})"
                ).format(sql.Identifier(name), sql.Literal(start), sql.Literal(end))
            )
    except psycopg.errors.LockNotAvailable:
        return None  # the table is busy: the default partition takes the rows meanwhile
    except (psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
        return True  # another process made it at the same moment
    return True
