"""A fold made in a process of its own (storage.fold_process): the same snapshot and index as one
made in a thread, what was written meanwhile kept (most of it copied and applied before the
swap's lock), and the process killed at any step, or left by its starter, loses nothing and
leaves no file behind."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import orjson
import pytest

import storage.tables
from core.models import ObjectType
from storage.database import open_database
from storage.locking import DatabaseLock
from storage.table_snapshot import INDEX_FILE
from storage.tables import Folding, LoggedTables, log_name
from tests.storage.test_fold_index import (
    Doc,
    _expected,
    _fold_started,
    _logs,
    _parts,
    _read,
    _reads,
    _swapped_as_written,
    _unit,
)
from tests.storage.test_tables import _add

COLUMNS_AT = "tests.storage.test_fold_index:COLUMNS"


def _started(
    folder: Path, first: int, then: int
) -> tuple[DatabaseLock, LoggedTables, dict[str, dict[str, Doc]], Folding]:
    """Tables whose folds are made in a process: ``first`` people folded (in this one) and
    ``then`` more in the log, and a fold of them started under the lock."""
    return _fold_started(folder, first, then, COLUMNS_AT)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "records").glob(".*.tmp"))


def test_a_fold_made_in_its_own_process_keeps_what_was_written_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock, tables, model, folding = _started(tmp_path, 40, 40)
    as_started = {k: dict(v) for k, v in model["people"].items()}

    def here(*args: object) -> None:
        raise AssertionError("the snapshot was made in this process")

    monkeypatch.setattr(LoggedTables, "_fold_files", here)
    assert tables.build_fold(folding)  # without the lock, in the fold's process
    assert folding.written is not None and folding.index is not None
    with lock:
        _unit(tables, model, 81, 40)  # written meanwhile, copied and applied before the swap
    tables.stage_fold(folding)
    assert folding.staged is not None and folding.staged.data
    with lock:
        _unit(tables, model, 121, 10)  # and after: copied and applied by the swap
        assert tables.finish_fold(folding)
        assert _logs(tmp_path) == ["log-000003.jsonl"]
        assert _leftovers(tmp_path) == []
        assert tables.highest("people") == 130
    monkeypatch.undo()
    _swapped_as_written(tmp_path, lock, tables, model, as_started, 131)


def test_lines_staged_then_cut_back_are_copied_and_applied_from_the_log_as_it_stands(
    tmp_path: Path,
) -> None:
    """A line staged before the swap that a failed commit then cut back (undo) is not kept."""
    lock, tables, model, folding = _started(tmp_path, 20, 20)
    assert tables.build_fold(folding)
    with lock:
        kept = {k: dict(v) for k, v in model["people"].items()}
        _unit(tables, model, 41, 5)
        tables.stage_fold(folding)  # holds the unit's line
        assert folding.staged is not None and folding.staged.data
        tables._unit = storage.tables._Unit()  # the unit's commit failed after its line
        tables._unit.appended_at = (tmp_path / "records" / log_name(2), folding.offset)
        tables.undo()
        tables._unit = None
        tables._checked_in = None
        assert tables.finish_fold(folding)
        assert dict(tables.table("people").items()) == kept
        assert _leftovers(tmp_path) == []
        tables.close()
    assert _reads(tmp_path) == kept


KILL_STEPS = ["start", "snapshot", "index", "answer", "done"]


def _failed(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "fold's process failed" in r.getMessage()]


@pytest.mark.parametrize("kill_at", KILL_STEPS)
def test_the_folds_process_killed_at_any_step_loses_nothing_and_the_thread_folds(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    kill_at: str,
) -> None:
    monkeypatch.setattr(storage.tables, "FOLD_PROCESS", "tests.storage.fold_killer")
    monkeypatch.setenv("CBE_TEST_FOLD_KILL_AT", kill_at)
    lock, tables, model, folding = _started(tmp_path, 30, 30)
    as_started = {k: dict(v) for k, v in model["people"].items()}
    assert tables.build_fold(folding)  # the process killed: made in this thread instead
    assert folding.written is not None and folding.index is not None
    assert _leftovers(tmp_path) == sorted([folding.written.name, folding.index.name])
    assert len(_failed(caplog)) == 1 and "exit status -9" in _failed(caplog)[0]
    assert _logs(tmp_path) == ["log-000002.jsonl"]  # the old snapshot and its log stand
    assert _reads(tmp_path) == model["people"]
    with lock:
        _unit(tables, model, 61, 5)
        assert tables.finish_fold(folding)
        parts = _parts((tmp_path / "records" / INDEX_FILE).read_bytes())
        assert _read(parts, "people") == _expected("people", as_started)
    assert _logs(tmp_path) == ["log-000003.jsonl"]
    assert _leftovers(tmp_path) == []
    assert _reads(tmp_path) == model["people"]
    monkeypatch.undo()

    def here(*args: object) -> None:
        raise AssertionError("the snapshot was made in this process")

    monkeypatch.setattr(LoggedTables, "_fold_files", here)
    with lock:
        _unit(tables, model, 66, 5)
        folding = tables.start_fold()
    assert tables.build_fold(folding)  # the next fold is made in its process
    with lock:
        assert tables.finish_fold(folding)
        parts = _parts((tmp_path / "records" / INDEX_FILE).read_bytes())
        assert _read(parts, "people") == _expected("people", model["people"])
        tables.close()
    assert _logs(tmp_path) == ["log-000004.jsonl"]
    assert _reads(tmp_path) == model["people"]


@pytest.mark.parametrize("broken", ["no interpreter", "no module"])
def test_a_fold_whose_process_cannot_start_is_made_in_the_thread_with_one_warning(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    broken: str,
) -> None:
    if broken == "no interpreter":
        monkeypatch.setattr(sys, "executable", str(tmp_path / "no-python"))
    else:
        monkeypatch.setattr(storage.tables, "FOLD_PROCESS", "storage.no_such_module")
    lock, tables, model, folding = _started(tmp_path, 30, 30)
    for number in (3, 4):  # two folds, each made in the thread
        assert tables.build_fold(folding)
        with lock:
            assert tables.finish_fold(folding)
            assert _logs(tmp_path) == [f"log-{number:06d}.jsonl"]
            parts = _parts((tmp_path / "records" / INDEX_FILE).read_bytes())
            assert _read(parts, "people") == _expected("people", model["people"])
            _unit(tables, model, 30 * number, 5)
            folding = tables.start_fold()
    assert _leftovers(tmp_path) == []
    assert _reads(tmp_path) == model["people"]
    said = _failed(caplog)
    assert len(said) == 1  # once
    assert ("FileNotFoundError" if broken == "no interpreter" else "No module named") in said[0]
    with lock:
        tables.close()


def test_a_fold_whose_snapshot_was_replaced_meanwhile_is_let_go_not_made_in_the_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    lock, tables, model, folding = _started(tmp_path, 20, 20)
    with lock:
        tables.fold()  # another fold put its snapshot in place first

    def here(*args: object) -> None:
        raise AssertionError("the fold was made in this thread")

    monkeypatch.setattr(LoggedTables, "_fold_files", here)
    assert not tables.build_fold(folding)
    assert folding.written is None and folding.index is None
    assert _failed(caplog) == []
    assert _leftovers(tmp_path) == []
    with lock:
        tables.close()
    assert _reads(tmp_path) == model["people"]


def test_the_folds_process_left_by_its_starter_deletes_what_it_wrote(tmp_path: Path) -> None:
    lock, tables, model, folding = _started(tmp_path, 30, 30)
    request = {
        "folder": str(tmp_path / "records"),
        "log": folding.log,
        "offset": folding.offset,
        "snapshot": folding.snapshot_key,
        "columns": COLUMNS_AT,
        "tag": "gone-",
    }
    root = str(Path(storage.tables.__file__).resolve().parent.parent)
    read, write = os.pipe()
    os.close(read)  # its starter gone before it answers
    try:
        done = subprocess.run(
            [sys.executable, "-m", storage.tables.FOLD_PROCESS],
            input=orjson.dumps(request),
            stdout=write,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": root},
            timeout=60,
            check=False,
        )
    finally:
        os.close(write)
    assert done.returncode == 1, done.stderr
    assert _leftovers(tmp_path) == []
    assert _logs(tmp_path) == ["log-000002.jsonl"]
    with lock:
        tables.close()
    assert _reads(tmp_path) == model["people"]


def _hung(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deadline: float) -> Path:
    """Every fold's process stops itself (SIGSTOP) once its files are written and one line of
    its answer sent, and is taken for hung after ``deadline`` seconds; where its id is put."""
    monkeypatch.setattr(storage.tables, "FOLD_PROCESS", "tests.storage.fold_killer")
    monkeypatch.setenv("CBE_TEST_FOLD_KILL_AT", "stop")
    monkeypatch.setenv("CBE_TEST_FOLD_PID", str(tmp_path / "pid"))
    monkeypatch.setattr(storage.tables, "FOLD_DEADLINE", deadline)
    monkeypatch.setattr(storage.tables, "FOLD_DEADLINE_PER_MB", 0.0)
    return tmp_path / "pid"


def _gone(pid_file: Path) -> bool:
    """Whether the process whose id ``pid_file`` holds has ended and been waited for."""
    return not Path(f"/proc/{int(pid_file.read_text())}").exists()


def test_a_hung_folds_process_is_killed_at_its_deadline_and_the_thread_folds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    pid_file = _hung(tmp_path, monkeypatch, 3.0)
    lock, tables, model, folding = _started(tmp_path, 30, 30)
    as_started = {k: dict(v) for k, v in model["people"].items()}
    assert tables.build_fold(folding)  # the process stopped, then killed: made here instead
    assert _gone(pid_file)
    assert folding.written is not None and folding.index is not None
    assert _leftovers(tmp_path) == sorted([folding.written.name, folding.index.name])
    said = _failed(caplog)
    assert len(said) == 1 and "no whole answer within 3 s: killed" in said[0]
    with lock:
        _unit(tables, model, 61, 5)
        assert tables.finish_fold(folding)
        parts = _parts((tmp_path / "records" / INDEX_FILE).read_bytes())
        assert _read(parts, "people") == _expected("people", as_started)
        tables.close()
    assert _logs(tmp_path) == ["log-000003.jsonl"]
    assert _leftovers(tmp_path) == []
    assert _reads(tmp_path) == model["people"]


def test_closing_a_database_whose_folds_process_hangs_waits_for_its_deadline_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The database's close waits for a background fold under way: one whose process hangs
    ends at the process's deadline (made in the thread), and close returns then."""
    pid_file = _hung(tmp_path, monkeypatch, 3.0)
    monkeypatch.setattr(storage.tables, "FOLD_FLOOR", 2_000)
    folder = tmp_path / "db"
    db = open_database(folder, portal_id=12345678)
    db.background_folds = True
    fold = None
    while fold is None and db.records.next_id(ObjectType.CONTACT) != "200":
        _add(db, 1)  # until one makes the log due: a fold in a thread, its process hung
        fold = db._folder
    assert fold is not None
    count = int(db.records.next_id(ObjectType.CONTACT)) - 1
    closing = threading.Thread(target=db.close)
    closing.start()
    closing.join(timeout=60)  # not forever
    assert not closing.is_alive() and not fold.is_alive()
    assert _gone(pid_file)
    said = _failed(caplog)
    assert len(said) == 1 and "no whole answer within 3 s: killed" in said[0]
    assert sorted(p.name for p in (folder / "records").glob(".*.tmp")) == []
    assert [p.name for p in (folder / "records").glob("log-*.jsonl")] == ["log-000002.jsonl"]
    reopened = open_database(folder)  # the fold made in the thread: its snapshot read
    try:
        listed = reopened.records.list_records(ObjectType.CONTACT)
        assert [r.id for r in listed] == [str(n) for n in range(1, count + 1)]
    finally:
        reopened.close()
