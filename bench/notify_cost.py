"""What announcing changes costs PostgreSQL's writers: commits per second of one-row insert
transactions from 1 and 8 threads, three ways:

- **plain**: nothing announced;
- **NOTIFY inside**: a statement trigger calls ``pg_notify`` in every writing transaction (the
  textbook way; PostgreSQL then serialises the commits of all such transactions: a lock on the
  notification queue is held until each commit is flushed);
- **announced after**: cbe's way (storage.postgres.watch.Announcer): the writers only note that
  they wrote; a thread sends one NOTIFY every 50 ms from a connection of its own.

    uv run python bench/notify_cost.py URL [SECONDS]

URL must reach a server whose ``fsync`` is on (the tests' throwaway cluster turns it off), e.g.
one made with ``initdb`` and started with ``pg_ctl`` as README's "A shared database" shows. It
creates and drops three tables of its own.
"""

from __future__ import annotations

import sys
import threading
import time

import psycopg

from storage.postgres.watch import ANNOUNCE_EVERY

SETUP = """
DROP TABLE IF EXISTS notify_cost_plain, notify_cost_inside, notify_cost_after;
CREATE TABLE notify_cost_plain (id bigserial, v text);
CREATE TABLE notify_cost_inside (id bigserial, v text);
CREATE TABLE notify_cost_after (id bigserial, v text);
CREATE OR REPLACE FUNCTION notify_cost() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('notify cost', TG_TABLE_NAME); RETURN NULL; END $$;
CREATE TRIGGER notify_cost AFTER INSERT ON notify_cost_inside
    FOR EACH STATEMENT EXECUTE FUNCTION notify_cost();
"""


def _commits(url: str, table: str, threads: int, seconds: float) -> float:
    counts = [0] * threads
    wrote = threading.Event()
    stop = time.monotonic() + seconds

    def write(i: int) -> None:
        with psycopg.connect(url) as conn:
            while time.monotonic() < stop:
                conn.execute(f"INSERT INTO {table} (v) VALUES ('x')")  # our own constant
                conn.commit()
                counts[i] += 1
                wrote.set()

    def announce() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET synchronous_commit = off")
            while time.monotonic() < stop:
                if wrote.wait(0.1):
                    wrote.clear()
                    conn.execute("SELECT pg_notify('notify cost', 'completions')")
                    time.sleep(ANNOUNCE_EVERY)

    workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
    if table == "notify_cost_after":
        workers.append(threading.Thread(target=announce))
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(counts) / seconds


def main(url: str, seconds: float) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SETUP)
        fsync = conn.execute("SHOW fsync").fetchone()
    listener = psycopg.connect(url, autocommit=True)
    listener.execute('LISTEN "notify cost"')

    def drain() -> None:  # someone listens, as the app does
        while True:
            try:
                for _ in listener.notifies(timeout=1.0):
                    pass
            except psycopg.Error:
                return

    threading.Thread(target=drain, daemon=True).start()
    print(f"fsync {fsync[0] if fsync else '?'}, {seconds:.0f} s each")
    print("| writers | plain | NOTIFY inside | announced after |")
    print("| --- | --- | --- | --- |")
    for threads in (1, 8):
        plain, inside, after = (
            _commits(url, f"notify_cost_{way}", threads, seconds)
            for way in ("plain", "inside", "after")
        )
        print(
            f"| {threads} | {plain:,.0f}/s | {inside:,.0f}/s ({inside / plain:.2f}x) "
            f"| {after:,.0f}/s ({after / plain:.2f}x) |"
        )
    listener.close()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE notify_cost_plain, notify_cost_inside, notify_cost_after")
        conn.execute("DROP FUNCTION notify_cost()")


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else 10.0)
