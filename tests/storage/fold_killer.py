"""storage.fold_process killed (SIGKILL, really) at the step named by ``CBE_TEST_FOLD_KILL_AT``:
``start`` (nothing read yet), ``snapshot`` (halfway through writing the new snapshot),
``index`` (the snapshot written, the index not), ``answer`` (both written, one line of its
answer sent), ``done`` (its whole answer sent, not yet exited). Run as the fold's process by
tests/storage/test_fold_process.py (``storage.tables.FOLD_PROCESS`` pointed here)."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import storage.fold_process as fold_process
from storage.atomic import write_beside as _write_beside
from storage.table_snapshot import Made

STEP = os.environ["CBE_TEST_FOLD_KILL_AT"]
_answers = fold_process.answers
_written = [0]


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _stop() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGSTOP)


def _halfway(payload: bytes | bytearray | Iterable[bytes]) -> Iterator[bytes]:
    data = bytes(payload) if isinstance(payload, bytes | bytearray) else b"".join(payload)
    yield data[: len(data) // 2]
    _die()


def write_beside(path: Path, payload: bytes | bytearray | Iterable[bytes], tag: str = "") -> Path:
    _written[0] += 1
    if STEP == "snapshot" and _written[0] == 1:
        return _write_beside(path, _halfway(payload), tag)
    if STEP == "index" and _written[0] == 2:
        _die()
    return _write_beside(path, payload, tag)


def answers(made: Mapping[str, Made]) -> Iterator[bytes]:
    for number, line in enumerate(_answers(made)):
        if STEP == "answer" and number == 1:
            _die()
        if STEP == "stop" and number == 1:
            _stop()
        yield line


vars(fold_process)["write_beside"] = write_beside  # what it imported by name
fold_process.answers = answers

if __name__ == "__main__":
    if os.environ.get("CBE_TEST_FOLD_PID"):
        Path(os.environ["CBE_TEST_FOLD_PID"]).write_text(str(os.getpid()))
    if STEP == "start":
        _die()
    fold_process.main()
    if STEP == "done":
        _die()
