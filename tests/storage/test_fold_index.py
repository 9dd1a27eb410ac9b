"""A fold keeps the snapshot's index up to date from the old index and what changed (sorted
columns merged, text runs copied, the id order merged): what it writes must be what sorting and
joining every document afresh gives, whatever was inserted, updated, archived or removed."""

from __future__ import annotations

import itertools
import tempfile
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import storage.table_snapshot
import storage.tables
from storage.locking import DatabaseLock
from storage.table_snapshot import INDEX_FILE, Column, id_order, join_text
from storage.tables import Folding, LoggedTables
from tests.storage.helpers import Killed, killed_at_step

Doc = dict[str, Any]


def _email(doc: Doc) -> str | None:
    email = doc.get("email")
    return email.lower() if email else None


def _search(doc: Doc) -> str | None:
    return f"{doc.get('email') or ''}\x00{doc['name']}".casefold()


COLUMNS = {
    "people": {"email": Column(_email, lookup=True), "search": Column(_search)},
    "links": {"search": Column(_search)},
}

# Numeric ids (in and out of id order) and a few that are not numbers.
KEYS = st.one_of(st.integers(1, 60).map(str), st.sampled_from(["a:1", "a:2", "b:10", "z"]))
EMAILS = st.one_of(st.none(), st.sampled_from(["x@e.com", "Y@e.com", "y@e.com", "", "w@e.com"]))
OPS = st.tuples(
    st.sampled_from(["put", "put", "put", "archive", "remove"]),
    st.sampled_from(["people", "links"]),
    KEYS,
    EMAILS,
    st.sampled_from(["ann", "Bob", "cé", "d\x01e", ""]),
)


def _parts(index: bytes) -> dict[tuple[str, str], bytes]:
    """Every part of an index file by (table, part name)."""
    _, header, blob = index.split(b"\n", 2)
    about = orjson.loads(header)
    return {
        (table, part): blob[start : start + length]
        for table, info in about["tables"].items()
        for part, (start, length, _) in info["parts"].items()
    }


def _expected(name: str, table: Mapping[str, Doc]) -> dict[tuple[str, str], Any]:
    """What a fresh index holds of a table: sorted and joined from every document."""
    keys = list(table)
    docs = [table[k] for k in keys]
    order = sorted(range(len(keys)), key=lambda i: id_order(keys[i]))
    found: dict[tuple[str, str], Any] = {(name, "keys"): keys}
    if order != list(range(len(keys))):
        found[(name, "order")] = order
    for column, spec in COLUMNS[name].items():
        values = [spec.make(d) for d in docs]
        if spec.lookup:
            ranked = sorted((v, i) for i, v in enumerate(values) if v)
            found[(name, f"sorted:{column}")] = [v for v, _ in ranked]
            found[(name, f"sorted-at:{column}")] = [i for _, i in ranked]
        else:
            text, starts = join_text(values[i] for i in order)
            found[(name, f"text:{column}")] = text
            found[(name, f"text-at:{column}")] = starts
    return found


def _read(parts: dict[tuple[str, str], bytes], name: str) -> dict[tuple[str, str], Any]:
    """The parts of the index that :func:`_expected` makes, decoded."""

    def numbers(kind: str, data: bytes) -> list[int]:
        values = array(kind)
        values.frombytes(data)
        return values.tolist()

    found: dict[tuple[str, str], Any] = {}
    for (table, part), data in parts.items():
        if table != name:
            continue
        if part in {"keys"} or part.startswith("sorted:"):
            found[(table, part)] = orjson.loads(data)
        elif part == "order" or part.startswith("sorted-at:"):
            found[(table, part)] = numbers("I", data)
        elif part.startswith("text:"):
            found[(table, part)] = data.decode()
        elif part.startswith("text-at:"):
            found[(table, part)] = numbers("Q", data)
    return found


def _apply(tables: LoggedTables, model: dict[str, dict[str, Doc]], op: tuple[Any, ...]) -> None:
    kind, name, key, email, text = op
    held = model.setdefault(name, {})
    if kind == "remove":
        if key in held:
            del held[key]
            tables.put(name, key, None)
        return
    doc: Doc = {"id": key, "email": email, "name": text, "archived": False}
    if kind == "archive":
        if key not in held:
            return
        doc = {**held[key], "archived": True}
    held[key] = doc
    tables.put(name, key, doc)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(st.tuples(st.lists(OPS, max_size=25), st.booleans()), min_size=1, max_size=5))
def test_a_fold_writes_the_index_a_fresh_sort_would(batches: list[tuple[list[Any], bool]]) -> None:
    """Each batch one unit of work then a fold; after some, the index is lost (the next fold
    reads the snapshot whole and makes every column anew from its documents)."""
    with tempfile.TemporaryDirectory(prefix="cbe-fold-") as tmp:
        folder = Path(tmp)
        lock = DatabaseLock(folder)
        tables = LoggedTables(folder / "records", lock, columns=COLUMNS)
        model: dict[str, dict[str, Doc]] = {}
        with lock:
            for batch, lose_index in batches:
                if lose_index and (folder / "records" / INDEX_FILE).exists():
                    (folder / "records" / INDEX_FILE).unlink()
                    tables.close()
                    tables = LoggedTables(folder / "records", lock, columns=COLUMNS)
                    assert not tables.mapped
                tables.begin()
                try:
                    for op in batch:
                        _apply(tables, model, op)
                    tables.commit()
                finally:
                    tables.rollback()
                tables.fold()
                assert tables.mapped  # the index just written is the one read
                parts = _parts((folder / "records" / INDEX_FILE).read_bytes())
                for name in COLUMNS:
                    view = tables.table(name)
                    assert list(view) == list(model.get(name, {}))
                    assert {k: view[k] for k in view} == model.get(name, {})
                    if name in {t for t, _ in parts}:
                        assert _read(parts, name) == _expected(name, model.get(name, {}))
            tables.close()


@pytest.mark.parametrize("piece", [storage.table_snapshot.PIECE, 192])
def test_the_merged_index_answers_lookups_and_searches_as_every_document_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece: int
) -> None:
    """A larger run through the same paths: 2,000 documents over ten folds, each fold a mix of
    new keys (some below the highest), updates, archives and removals. Also with the fold's
    copies, encodings and lookups made in pieces smaller than a document (PIECE)."""
    monkeypatch.setattr(storage.table_snapshot, "PIECE", piece)
    lock = DatabaseLock(tmp_path)
    tables = LoggedTables(tmp_path / "records", lock, columns=COLUMNS)
    model: dict[str, dict[str, Doc]] = {}
    counter = itertools.count(1)
    with lock:
        for fold in range(10):
            tables.begin()
            for n in range(200):
                i = next(counter)
                key = str(i * 7 % 2003 + 1)
                email = None if i % 11 == 0 else f"p{i % 97}@e.com"
                kind = "put" if n % 5 else ("remove" if fold % 2 else "archive")
                old_key = str((i * 13) % 2003 + 1)
                _apply(tables, model, ("put", "people", key, email, f"n{i}"))
                _apply(tables, model, (kind, "people", old_key, email, f"m{i}"))
            tables.commit()
            tables.rollback()
            tables.fold()
            parts = _parts((tmp_path / "records" / INDEX_FILE).read_bytes())
            assert _read(parts, "people") == _expected("people", model["people"])
        view = tables.table("people")
        for email in ["p1@e.com", "p50@e.com", "nobody@e.com"]:
            want = sorted(k for k, d in model["people"].items() if _email(d) == email)
            assert sorted(view.lookup("email", email)) == want
        (keys, text, _), changed = view.text("search", whole=False)
        assert not changed  # everything folded
        assert list(keys) == sorted(model["people"], key=id_order)
        assert text.split("\x01") == [_search(model["people"][k]) for k in keys]
        tables.close()


# -- a fold made outside the lock (LoggedTables.start_fold, build_fold, finish_fold) ---------


def _unit(tables: LoggedTables, model: dict[str, dict[str, Doc]], start: int, count: int) -> None:
    """One unit of work: ``count`` new people, one updated, one removed."""
    tables.begin()
    for i in range(start, start + count):
        _apply(tables, model, ("put", "people", str(i), f"p{i}@e.com", f"n{i}"))
    _apply(tables, model, ("put", "people", str(start // 2 + 1), "moved@e.com", "again"))
    _apply(tables, model, ("remove", "people", str(start // 3 + 1), None, ""))
    tables.commit()
    tables.rollback()


def _reads(folder: Path) -> dict[str, Doc]:
    """What a process opening ``folder`` now reads of the people."""
    lock = DatabaseLock(folder)
    fresh = LoggedTables(folder / "records", lock, columns=COLUMNS)
    with lock:
        assert fresh.damage == []
        found = dict(fresh.table("people").items())
        fresh.close()
    return found


def _logs(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "records").glob("log-*.jsonl"))


def _fold_started(
    folder: Path, first: int, then: int, columns_at: str | None = None
) -> tuple[DatabaseLock, LoggedTables, dict[str, dict[str, Doc]], Folding]:
    """Tables in ``folder`` holding ``first`` people folded and ``then`` more in the log, and a
    fold of them started under the lock (``columns_at``: its folds made in a process)."""
    lock = DatabaseLock(folder)
    tables = LoggedTables(folder / "records", lock, columns=COLUMNS, columns_at=columns_at)
    model: dict[str, dict[str, Doc]] = {}
    with lock:
        _unit(tables, model, 1, first)
        tables.fold()
        _unit(tables, model, first + 1, then)
        folding = tables.start_fold()
    return lock, tables, model, folding


def _folded_outside(
    folder: Path, first: int, then: int
) -> tuple[DatabaseLock, LoggedTables, dict[str, dict[str, Doc]], Folding]:
    """:func:`_fold_started`, the fold built without the lock (what finish_fold puts in place)."""
    lock, tables, model, folding = _fold_started(folder, first, then)
    assert tables.build_fold(folding)
    return lock, tables, model, folding


def test_a_fold_made_outside_the_lock_keeps_what_was_written_meanwhile(tmp_path: Path) -> None:
    lock = DatabaseLock(tmp_path)
    tables = LoggedTables(tmp_path / "records", lock, columns=COLUMNS)
    model: dict[str, dict[str, Doc]] = {}
    with lock:
        _unit(tables, model, 1, 40)
        tables.fold()
        _unit(tables, model, 41, 40)
        folding = tables.start_fold()  # as of now
        as_started = {k: dict(v) for k, v in model["people"].items()}
    assert tables.build_fold(folding)  # without the lock
    with lock:
        _unit(tables, model, 81, 40)  # written meanwhile
        assert tables.finish_fold(folding)
        assert _logs(tmp_path) == ["log-000003.jsonl"]  # holding what was written meanwhile
    _swapped_as_written(tmp_path, lock, tables, model, as_started, 121)


def _swapped_as_written(
    tmp_path: Path,
    lock: DatabaseLock,
    tables: LoggedTables,
    model: dict[str, dict[str, Doc]],
    as_started: dict[str, Doc],
    next_key: int,
) -> None:
    """After a fold's swap: its index holds the documents as the fold started, the table reads
    as written since (order and lookups), another process reads the same, and the next fold
    (of 5 more, from ``next_key``) indexes everything."""
    with lock:
        parts = _parts((tmp_path / "records" / INDEX_FILE).read_bytes())
        assert _read(parts, "people") == _expected("people", as_started)
        view = tables.table("people")
        assert list(view) == list(model["people"])
        assert dict(view.items()) == model["people"]
        assert sorted(view.lookup("email", "moved@e.com")) == sorted(
            k for k, d in model["people"].items() if d["email"] == "moved@e.com"
        )
    assert _reads(tmp_path) == model["people"]
    with lock:
        _unit(tables, model, next_key, 5)
        tables.fold()
        parts = _parts((tmp_path / "records" / INDEX_FILE).read_bytes())
        assert _read(parts, "people") == _expected("people", model["people"])
        tables.close()
    assert _reads(tmp_path) == model["people"]


def test_a_fold_made_outside_the_lock_is_let_go_when_the_snapshot_changed_meanwhile(
    tmp_path: Path,
) -> None:
    lock, tables, model, folding = _folded_outside(tmp_path, 40, 40)
    with lock:
        tables.fold()  # another fold first (this process's or another's)
        _unit(tables, model, 81, 10)
        assert not tables.finish_fold(folding)
        assert not list((tmp_path / "records").glob(".*.tmp"))  # its snapshot and index deleted
        assert _logs(tmp_path) == ["log-000003.jsonl"]
        tables.close()
    assert _reads(tmp_path) == model["people"]


FINISH_STEPS = 5
"""finish_fold's renames and folder fsyncs: the copy of the log (2), the snapshot, its index,
the folder's fsync."""


@pytest.mark.parametrize("kill_at", range(FINISH_STEPS + 1))
def test_a_fold_made_outside_the_lock_killed_at_any_step_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kill_at: int
) -> None:
    """Killed at any rename or folder fsync of its swap (``FINISH_STEPS``: done), every write
    acknowledged before is read by the next process, which folds and reads the same again with
    no log left but the one its snapshot names."""
    lock, tables, model, folding = _folded_outside(tmp_path, 30, 30)
    with lock:
        _unit(tables, model, 61, 30)
        killed_at_step(monkeypatch, kill_at, storage.tables)  # it imported fsync_dir itself
        try:
            assert tables.finish_fold(folding)
        except Killed:
            pass
        else:
            assert kill_at == FINISH_STEPS
        monkeypatch.undo()
    assert _reads(tmp_path) == model["people"]
    lock = DatabaseLock(tmp_path)
    again = LoggedTables(tmp_path / "records", lock, columns=COLUMNS)
    with lock:
        again.index_if_missing()  # as an open does: a log past the snapshot's is deleted
        assert set(_logs(tmp_path)) <= {f"log-{again._log:06d}.jsonl"}
        again.fold()
        parts = _parts((tmp_path / "records" / INDEX_FILE).read_bytes())
        assert _read(parts, "people") == _expected("people", model["people"])
        again.close()
    assert _reads(tmp_path) == model["people"]
