"""Every adapter tells when it changed (core.ports.Watchable): what the app's live updates
follow. Each write is reported with what it changed; a unit left without a commit never is."""

from __future__ import annotations

from time import monotonic

from core.ports import Database, StoreWatcher, Topic, Watchable
from tests.contract.conftest import completion, contact, definition
from tests.contract.test_repositories import _enrollment, _workflow

WITHIN = 60.0
"""Seconds a report may take on a busy machine before the test fails (it comes at once)."""


def _watch(db: Database) -> StoreWatcher:
    assert isinstance(db, Watchable)
    watcher = db.watch()
    while watcher.wait(0.2):  # what it reports on starting (PostgreSQL: it may have missed)
        pass
    return watcher


def _next_report(watcher: StoreWatcher) -> frozenset[Topic]:
    deadline = monotonic() + WITHIN
    while monotonic() < deadline:
        topics = watcher.wait(1.0)
        if topics:
            return topics
    raise AssertionError(f"nothing was reported within {WITHIN:.0f} s")


def test_each_write_is_reported_with_what_it_changed(db: Database) -> None:
    watcher = _watch(db)
    try:
        db.completions.append([completion(1)])
        assert Topic.COMPLETIONS in _next_report(watcher)
        db.records.insert(contact("1", "ann@example.com"))
        assert Topic.RECORDS in _next_report(watcher)
        db.definitions.insert(definition("1", "viewed"))
        assert Topic.DEFINITIONS in _next_report(watcher)
        db.workflows.save_workflow(_workflow("1"))
        assert Topic.WORKFLOWS in _next_report(watcher)
        db.workflows.save_enrollment(_enrollment("1", "1"))
        assert Topic.WORKFLOWS in _next_report(watcher)
        with db.transaction() as unit:
            db.completions.append([completion(2)])
            db.records.insert(contact("2", "bo@example.com"))
            unit.commit()
        assert {Topic.COMPLETIONS, Topic.RECORDS} <= _reports_until(watcher, Topic.RECORDS)
    finally:
        watcher.close()


def _reports_until(watcher: StoreWatcher, topic: Topic) -> set[Topic]:
    """Everything reported up to the report holding ``topic``."""
    seen: set[Topic] = set()
    while topic not in seen:
        seen |= _next_report(watcher)
    return seen


def test_a_unit_left_without_commit_is_never_reported(db: Database) -> None:
    watcher = _watch(db)
    try:
        with db.transaction():
            db.completions.append([completion(1)])  # and no commit: rolled back
        db.records.insert(contact("1", "ann@example.com"))  # a write that is kept, after it
        # Reports come in the order writes are kept: the rolled-back one would come first.
        assert Topic.COMPLETIONS not in _reports_until(watcher, Topic.RECORDS)
    finally:
        watcher.close()
