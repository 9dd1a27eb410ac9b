"""The folder's lock between processes: ``flock`` on a lock file kept open."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from storage.locking import LOCK_FILE, DatabaseBusy, DatabaseLock

_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from storage.locking import DatabaseLock
    lock = DatabaseLock(Path(sys.argv[1]))
    with lock:
        print("HELD", flush=True)
        sys.stdin.readline()
    print("FREE", flush=True)
    sys.stdin.readline()
    """
)


def _holder(folder: Path) -> subprocess.Popen[str]:
    """Another process holding the lock of ``folder`` until told (a line on its stdin)."""
    child = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "HELD\n"
    return child


def _let_go(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write("\n")
    child.stdin.flush()
    assert child.stdout.readline() == "FREE\n"


def test_another_process_waits_for_the_lock_then_takes_it(tmp_path: Path) -> None:
    child = _holder(tmp_path)
    try:
        lock = DatabaseLock(tmp_path, timeout=0.05)
        with pytest.raises(DatabaseBusy, match="locked by another process"):
            lock.__enter__()
        assert lock.held_epoch() is None
        _let_go(child)
        with lock:
            assert lock.held_epoch() is not None
            with lock:  # re-entrant in the thread that holds it
                pass
            assert lock.held_epoch() is not None
        assert lock.held_epoch() is None
    finally:
        child.kill()
        child.wait()


def test_the_lock_is_let_go_between_holdings_and_by_a_killed_process(tmp_path: Path) -> None:
    lock = DatabaseLock(tmp_path, timeout=0.05)
    with lock:
        pass
    child = _holder(tmp_path)  # takes it: this process let go of it
    try:
        with pytest.raises(DatabaseBusy):
            lock.__enter__()
    finally:
        child.kill()
        child.wait()
    with lock:  # the kernel let go of the killed holder's
        pass


def test_a_lock_file_removed_while_open_is_opened_again(tmp_path: Path) -> None:
    lock = DatabaseLock(tmp_path, timeout=0.05)
    with lock:
        pass
    (tmp_path / LOCK_FILE).unlink()
    child = _holder(tmp_path)  # locks the new file
    try:
        with pytest.raises(DatabaseBusy):
            lock.__enter__()
        _let_go(child)
        with lock:
            assert os.stat(tmp_path / LOCK_FILE).st_ino == os.fstat(lock._file()).st_ino
    finally:
        child.kill()
        child.wait()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_share_its_parents_holding(tmp_path: Path) -> None:
    lock = DatabaseLock(tmp_path, timeout=0.05)
    with lock:
        pid = os.fork()
        if pid == 0:  # the child: its copy of the lock must not pass while the parent holds it
            try:
                lock._threads = type(lock._threads)()  # the parent's thread held it at the fork
                lock._depth = 0
                lock.__enter__()
            except DatabaseBusy:
                os._exit(0)
            os._exit(1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
