"""A fold of the records' log made in a process of its own (``python -m storage.fold_process``,
started by storage.tables' :meth:`~storage.tables.LoggedTables.build_fold`).

The process that writes started the fold under its lock (the snapshot, its log and the log's
length then) and goes on writing; this one reads those files as of that length, writes the new
snapshot and index beside the current ones (temporary files, see storage.atomic.write_beside)
and says where, with what it made of each table's index (its keys, its sorted lookup columns,
in pieces), so that the writer's process need not parse them again. It takes no lock and
replaces nothing: the writer's process puts the files in place under its lock (finish_fold).
Killed at any point, it leaves temporary files that its starter (or the next open) deletes,
and the old snapshot and its whole log stand. Its starter gone, it deletes what it wrote.

Asked on standard input (one JSON object): ``folder``, ``log``, ``offset``, ``snapshot`` (the
snapshot's identity), ``columns`` (``module:name`` of the tables' Columns) and ``tag`` (what
its files' names begin with). Answers on standard output, a JSON array a line:
``["keys", table, [key, ...]]``, ``["sorted", table, column, [value, ...], [position, ...]]``
(each a piece of at most CHUNK entries, in order) and last ``["done", snapshot, index]``.
Its exit status is FOLD_STALE when the files it was to fold were replaced meanwhile; its
starter makes the fold in its own thread should it fail otherwise (storage.tables'
FoldProcessFailed).
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import orjson

from storage.atomic import write_beside
from storage.locking import DatabaseLock
from storage.table_snapshot import INDEX_FILE, SNAPSHOT_FILE, Columns, Made
from storage.tables import FOLD_STALE, LoggedTables, SnapshotReplaced

CHUNK = 8192
"""Entries per answered line: the writer's process parses one line at a time (a fraction of a
millisecond each), never holding its interpreter long (see storage.table_snapshot.PIECE)."""


def _columns(where: str) -> Columns:
    module, _, name = where.partition(":")
    columns: Columns = getattr(importlib.import_module(module), name)
    return columns


def answers(made: Mapping[str, Made]) -> Iterator[bytes]:
    """What the fold made of each table's index, as lines of at most CHUNK entries."""
    for name, table in made.items():
        keys = table.keys
        for at in range(0, max(len(keys), 1), CHUNK):
            yield orjson.dumps(["keys", name, keys[at : at + CHUNK]]) + b"\n"
        for column, (values, positions) in table.sorted.items():
            for at in range(0, max(len(values), 1), CHUNK):
                piece = ["sorted", name, column, values[at : at + CHUNK]]
                yield orjson.dumps([*piece, positions[at : at + CHUNK].tolist()]) + b"\n"


def fold(request: dict[str, object], out: BinaryIO) -> None:
    """Make the fold ``request`` names and answer on ``out`` (see the module docstring)."""
    folder = Path(str(request["folder"]))
    tag = str(request["tag"])
    snapshot = request["snapshot"]
    key = None
    if isinstance(snapshot, list):
        key = (int(snapshot[0]), int(snapshot[1]))
    columns = _columns(str(request["columns"]))
    tables = LoggedTables(folder, DatabaseLock(folder.parent), read_only=True, columns=columns)
    folding = tables.as_folded_by_another(
        int(str(request["log"])), int(str(request["offset"])), key
    )
    snapshot_bytes, index_bytes, made = tables._fold_files(folding)
    written: list[Path] = []
    try:
        written.append(write_beside(folder / SNAPSHOT_FILE, snapshot_bytes, tag))
        del snapshot_bytes
        written.append(write_beside(folder / INDEX_FILE, index_bytes, tag))
        del index_bytes
        for line in answers(made):
            out.write(line)
        out.write(orjson.dumps(["done", *map(str, written)]) + b"\n")
        out.flush()
    except BaseException:  # its starter gone (a broken pipe), or the disk refused
        for path in written:
            path.unlink(missing_ok=True)
        raise
    finally:
        tables.close()


def main() -> int:
    gc.disable()  # a short life: what it makes is freed at its end
    request = orjson.loads(sys.stdin.buffer.read())
    try:
        fold(request, sys.stdout.buffer)
    except BrokenPipeError:
        return 1
    except SnapshotReplaced:  # the fold is let go, not made in its starter's thread
        return FOLD_STALE
    return 0


if __name__ == "__main__":
    sys.exit(main())
