"""The snapshot of the logged tables (storage.tables), read without parsing it whole.

```
records/snapshot.json   {"log":7,"token":"9f..","tables":{
                        "contacts":{
                        "1":{...},          one document a line, in the table's order
                        "2":{...}
                        },
                        ...}}
records/snapshot.idx    where each document is, and what a list needs of it
```

``snapshot.json`` is one JSON document (any reader can parse it whole, as earlier versions of
cbe do); ``snapshot.idx`` names the snapshot it belongs to (its token and size) and holds, per
table: the keys in order, each document's place, length and checksum, whether it is archived,
the order of the keys by id, and some columns made from the documents (a contact's email,
visitor token and search text). With both, a reader maps the snapshot and parses a document
when it is asked for: the Records list's first page parses its 200 rows, not 100,000.

The index is written after its snapshot (each atomically): an index that is missing, damaged
(its checksums) or names another snapshot is not used, and the snapshot is parsed whole
instead, as before. A document whose checksum does not match is damage (CorruptFile).
"""

from __future__ import annotations

import mmap
import os
import re
import sys
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

from storage.atomic import CorruptFile

SNAPSHOT_FILE = "snapshot.json"
INDEX_FILE = "snapshot.idx"
_MAGIC = b"CBE-TABLES-INDEX 1"
_HEAD = re.compile(rb'\{"log":(\d+),"token":"([0-9a-f]+)","tables":\{')

Doc = dict[str, Any]
Column = Callable[[Doc], Any]
"""A value made from a document (JSON: a str, or None), kept in the index per document."""
Columns = Mapping[str, Mapping[str, Column]]
"""Per table, the columns the index keeps by name."""


def id_order(key: str) -> tuple[int, str]:
    """Keys in id order: numeric ids in number order."""
    return (len(key), key)


def archived(doc: Doc) -> bool:
    return bool(doc.get("archived"))


def _numbers(kind: str, data: bytes | memoryview) -> array[int]:
    values = array(kind)
    values.frombytes(data)
    if sys.byteorder == "big":
        values.byteswap()  # the index is little-endian
    return values


def _bytes_of(values: array[int]) -> bytes:
    if sys.byteorder == "big":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


class Base(Protocol):
    """What a snapshot holds, by table: documents under keys in the table's order."""

    log: int

    def names(self) -> list[str]: ...
    def keys(self, name: str) -> Sequence[str]: ...
    def contains(self, name: str, key: str) -> bool: ...
    def get(self, name: str, key: str) -> Doc | None: ...
    def raw(self, name: str, key: str) -> bytes: ...
    def is_archived(self, name: str, key: str) -> bool: ...
    def archived_count(self, name: str) -> int: ...
    def id_ordered(self, name: str) -> Iterable[str]: ...
    def highest(self, name: str) -> int: ...
    def column(self, name: str, column: str) -> Mapping[str, Any]: ...
    def close(self) -> None: ...


def _highest(keys: Iterable[str]) -> int:
    return max((int(k) for k in keys if k.isdigit()), default=0)


class ParsedBase:
    """A snapshot parsed whole (one without a usable index, or none)."""

    def __init__(self, log: int, tables: dict[str, dict[str, Doc]], columns: Columns) -> None:
        self.log = log
        self._tables = tables
        self._columns = columns
        self._keys: dict[str, list[str]] = {}
        self._made: dict[tuple[str, str], dict[str, Any]] = {}

    def names(self) -> list[str]:
        return list(self._tables)

    def keys(self, name: str) -> Sequence[str]:
        found = self._keys.get(name)
        if found is None:
            found = self._keys[name] = list(self._tables.get(name, {}))
        return found

    def contains(self, name: str, key: str) -> bool:
        return key in self._tables.get(name, {})

    def get(self, name: str, key: str) -> Doc | None:
        return self._tables.get(name, {}).get(key)

    def raw(self, name: str, key: str) -> bytes:
        return orjson.dumps(self._tables[name][key])

    def is_archived(self, name: str, key: str) -> bool:
        return archived(self._tables[name][key])

    def archived_count(self, name: str) -> int:
        return sum(archived(d) for d in self._tables.get(name, {}).values())

    def id_ordered(self, name: str) -> Iterable[str]:
        keys = self.keys(name)
        if all(id_order(a) < id_order(b) for a, b in zip(keys, keys[1:], strict=False)):
            return keys
        return sorted(keys, key=id_order)

    def highest(self, name: str) -> int:
        return _highest(self._tables.get(name, {}))

    def column(self, name: str, column: str) -> Mapping[str, Any]:
        made = self._made.get((name, column))
        if made is None:
            make = self._columns[name][column]
            docs = self._tables.get(name, {})
            made = self._made[(name, column)] = {k: make(d) for k, d in docs.items()}
        return made

    def close(self) -> None:
        self._tables = {}


class _Table:
    """One table of a mapped snapshot, read from the index when first asked for."""

    def __init__(self, about: dict[str, Any], read: Callable[[list[int]], bytes]) -> None:
        parts: dict[str, list[int]] = about["parts"]

        def part(name: str) -> bytes:
            return read(parts[name])

        self._part = part
        self.count: int = about["count"]
        self.highest: int = about["highest"]
        self.archived: int = about["archived"]
        self.keys: list[str] = orjson.loads(part("keys"))
        self.starts = _numbers("Q", part("starts"))
        self.lengths = _numbers("I", part("lengths"))
        self.crcs = _numbers("I", part("crcs"))
        self.flags = part("flags")
        self.order = _numbers("I", part("order")) if "order" in parts else None
        self.columns: list[str] = about.get("columns", [])
        if not (
            len(self.keys)
            == len(self.starts)
            == len(self.lengths)
            == len(self.crcs)
            == len(self.flags)
            == self.count
        ):
            raise ValueError("its parts disagree on the number of documents")
        self._positions: dict[str, int] | None = None
        self.docs: dict[int, Doc] = {}
        self.made: dict[str, dict[str, Any]] = {}

    def position(self, key: str) -> int | None:
        if self._positions is None:
            self._positions = dict(zip(self.keys, range(self.count), strict=True))
        return self._positions.get(key)

    def column(self, name: str) -> dict[str, Any]:
        made = self.made.get(name)
        if made is None:
            values = orjson.loads(self._part(f"column:{name}"))
            if len(values) != self.count:
                raise ValueError(f"its column {name} has {len(values)} values")
            made = self.made[name] = dict(zip(self.keys, values, strict=True))
        return made


class MappedBase:
    """A snapshot with its index: documents parsed one by one as they are asked for."""

    def __init__(
        self,
        path: Path,
        handles: tuple[BinaryIO, BinaryIO],
        maps: tuple[mmap.mmap | None, mmap.mmap],
        log: int,
        tables: dict[str, Any],
        blob_at: int,
        columns: Columns,
    ) -> None:
        self.log = log
        self._path = path
        self._handles = handles
        self._map, self._index = maps
        self._about = tables
        self._blob_at = blob_at
        self._columns = columns
        self._tables: dict[str, _Table] = {}

    @classmethod
    def open(cls, folder: Path, handle: BinaryIO, columns: Columns) -> MappedBase | None:
        """The snapshot open in ``handle`` with its index, or None when the index is missing,
        damaged or another snapshot's (then the snapshot is parsed whole)."""
        head = os.pread(handle.fileno(), 200, 0)
        match = _HEAD.match(head)
        if match is None:
            return None  # written before snapshots had an index
        log, token = int(match.group(1)), match.group(2).decode()
        try:
            index = (folder / INDEX_FILE).open("rb")
        except FileNotFoundError:
            return None
        try:
            size = os.fstat(index.fileno()).st_size
            if not size:
                index.close()
                return None
            mapped = mmap.mmap(index.fileno(), size, access=mmap.ACCESS_READ)
        except BaseException:
            index.close()
            raise
        found = cls._read_header(mapped)
        snapshot_size = os.fstat(handle.fileno()).st_size
        if (
            found is None
            or found[0].get("token") != token
            or found[0].get("size") != snapshot_size
            or found[0].get("log") != log
        ):
            mapped.close()
            index.close()
            return None
        about, blob_at = found
        data = (
            mmap.mmap(handle.fileno(), snapshot_size, access=mmap.ACCESS_READ)
            if snapshot_size
            else None
        )
        return cls(
            folder / SNAPSHOT_FILE,
            (handle, index),
            (data, mapped),
            log,
            about["tables"],
            blob_at,
            columns,
        )

    @staticmethod
    def _read_header(mapped: mmap.mmap) -> tuple[dict[str, Any], int] | None:
        first_end = mapped.find(b"\n")
        header_end = mapped.find(b"\n", first_end + 1)
        if first_end < 0 or header_end < 0:
            return None
        try:
            magic, crc = mapped[:first_end].rsplit(b" ", 1)
            header = mapped[first_end + 1 : header_end]
            if magic != _MAGIC or int(crc) != zlib.crc32(header):
                return None
            about = orjson.loads(header)
        except (ValueError, orjson.JSONDecodeError):
            return None
        return about, header_end + 1

    def _read_part(self, where: list[int]) -> bytes:
        start, length, crc = where
        at = self._blob_at + start
        data = self._index[at : at + length]
        if len(data) != length or zlib.crc32(data) != crc:
            raise ValueError(f"a part at byte {at} does not match its checksum")
        return data

    def _table(self, name: str) -> _Table | None:
        table = self._tables.get(name)
        if table is None:
            about = self._about.get(name)
            if about is None:
                return None
            try:
                table = self._tables[name] = _Table(about, self._read_part)
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as error:
                raise CorruptFile(
                    f"{self._path.with_name(INDEX_FILE)} is not a valid index: {error}"
                ) from error
        return table

    def names(self) -> list[str]:
        return list(self._about)

    def keys(self, name: str) -> Sequence[str]:
        table = self._table(name)
        return [] if table is None else table.keys

    def contains(self, name: str, key: str) -> bool:
        table = self._table(name)
        return table is not None and table.position(key) is not None

    def _raw_at(self, table: _Table, at: int) -> bytes:
        start, length = table.starts[at], table.lengths[at]
        assert self._map is not None
        data = self._map[start : start + length]
        if zlib.crc32(data) != table.crcs[at]:
            raise CorruptFile(
                f"{self._path} is damaged: the document of {table.keys[at]!r} at byte {start} "
                "does not match its checksum"
            )
        return data

    def _doc_at(self, table: _Table, at: int) -> Doc:
        doc = table.docs.get(at)
        if doc is None:
            try:
                doc = table.docs[at] = orjson.loads(self._raw_at(table, at))
            except orjson.JSONDecodeError as error:
                raise CorruptFile(f"{self._path} is damaged: {error}") from error
        return doc

    def get(self, name: str, key: str) -> Doc | None:
        table = self._table(name)
        if table is None:
            return None
        at = table.position(key)
        return None if at is None else self._doc_at(table, at)

    def raw(self, name: str, key: str) -> bytes:
        table = self._table(name)
        assert table is not None
        at = table.position(key)
        assert at is not None
        return self._raw_at(table, at)

    def is_archived(self, name: str, key: str) -> bool:
        table = self._table(name)
        assert table is not None
        at = table.position(key)
        return at is not None and bool(table.flags[at])

    def archived_count(self, name: str) -> int:
        table = self._table(name)
        return 0 if table is None else table.archived

    def id_ordered(self, name: str) -> Iterable[str]:
        table = self._table(name)
        if table is None:
            return ()
        if table.order is None:
            return table.keys
        keys = table.keys
        return (keys[at] for at in table.order)

    def highest(self, name: str) -> int:
        table = self._table(name)
        return 0 if table is None else table.highest

    def column(self, name: str, column: str) -> Mapping[str, Any]:
        table = self._table(name)
        if table is None:
            return {}
        if column not in table.columns:  # written before the column was kept
            made = table.made.get(column)
            if made is None:
                make = self._columns[name][column]
                made = table.made[column] = {
                    key: make(self._doc_at(table, at)) for at, key in enumerate(table.keys)
                }
            return made
        return table.column(column)

    def verify(self) -> None:
        """Check every document's checksum (``cbe doctor``); CorruptFile names the first bad."""
        for name in self._about:
            table = self._table(name)
            assert table is not None
            for at in range(table.count):
                self._raw_at(table, at)

    def close(self) -> None:
        self._tables = {}
        if self._map is not None:
            self._map.close()
        self._index.close()
        for handle in self._handles:
            handle.close()


def snapshot_files(
    log: int,
    token: str,
    tables: Iterable[tuple[str, Iterable[tuple[str, bytes, Doc | None]]]],
    base: Base | None,
    columns: Columns,
) -> tuple[list[bytes], bytes]:
    """The bytes of a snapshot (in chunks) and of its index, for ``tables``: per table, its
    keys in order with each document's JSON and the document (None: unchanged since ``base``,
    whose index gives what is kept of it)."""
    chunks: list[bytes] = [b'{"log":%d,"token":"%s","tables":{' % (log, token.encode())]
    at = len(chunks[0])
    about: dict[str, Any] = {}
    blob: list[bytes] = []
    blob_at = 0

    def add(data: bytes) -> list[int]:
        nonlocal blob_at
        blob.append(data)
        blob_at += len(data)
        return [blob_at - len(data), len(data), zlib.crc32(data)]

    for number, (name, docs) in enumerate(tables):
        head = (b",\n" if number else b"\n") + orjson.dumps(name) + b":{"
        chunks.append(head)
        at += len(head)
        keys: list[str] = []
        starts, lengths, crcs = array("Q"), array("I"), array("I")
        flags = bytearray()
        wanted = columns.get(name, {})
        values: dict[str, list[Any]] = {c: [] for c in wanted}
        for index, (key, data, doc) in enumerate(docs):
            lead = (b",\n" if index else b"\n") + orjson.dumps(key) + b":"
            chunks.append(lead)
            chunks.append(data)
            at += len(lead)
            keys.append(key)
            starts.append(at)
            lengths.append(len(data))
            crcs.append(zlib.crc32(data))
            at += len(data)
            if doc is None:  # unchanged: what the old index keeps of it
                assert base is not None
                flags.append(base.is_archived(name, key))
                for column, kept in values.items():
                    kept.append(base.column(name, column)[key])
            else:
                flags.append(archived(doc))
                for column, kept in values.items():
                    kept.append(wanted[column](doc))
        tail = b"}" if not keys else b"\n}"
        chunks.append(tail)
        at += len(tail)
        ordered = all(id_order(a) < id_order(b) for a, b in zip(keys, keys[1:], strict=False))
        parts = {
            "keys": add(orjson.dumps(keys)),
            "starts": add(_bytes_of(starts)),
            "lengths": add(_bytes_of(lengths)),
            "crcs": add(_bytes_of(crcs)),
            "flags": add(bytes(flags)),
        }
        if not ordered:
            order = sorted(range(len(keys)), key=lambda i: id_order(keys[i]))
            parts["order"] = add(_bytes_of(array("I", order)))
        for column, kept in values.items():
            parts[f"column:{column}"] = add(orjson.dumps(kept))
        about[name] = {
            "count": len(keys),
            "highest": _highest(keys),
            "archived": sum(flags),
            "parts": parts,
            "columns": list(values),
        }
    chunks.append(b"}}\n")
    at += 3
    header = orjson.dumps({"token": token, "size": at, "log": log, "tables": about})
    first = b"%s %d" % (_MAGIC, zlib.crc32(header))
    return chunks, b"".join([first, b"\n", header, b"\n", *blob])


def merge_in_id_order(first: Iterable[str], second: Sequence[str]) -> Iterator[str]:
    """Two key streams, each in id order, as one."""
    if not second:
        yield from first
        return
    rest = iter(second)
    pending = next(rest, None)
    for key in first:
        order = id_order(key)
        while pending is not None and id_order(pending) < order:
            yield pending
            pending = next(rest, None)
        yield key
    while pending is not None:
        yield pending
        pending = next(rest, None)
