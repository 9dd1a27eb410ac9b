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

import bisect
import itertools
import mmap
import os
import re
import sys
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Concatenate, ParamSpec, Protocol, TypeVar

import orjson

from storage.atomic import CorruptFile

SNAPSHOT_FILE = "snapshot.json"
INDEX_FILE = "snapshot.idx"
_MAGIC = b"CBE-TABLES-INDEX 1"
_HEAD = re.compile(rb'\{"log":(\d+),"token":"([0-9a-f]+)","tables":\{')

Doc = dict[str, Any]


TEXT_SEPARATOR = "\x01"
"""Between the values of a text column (see :class:`Column`)."""
PIECE = 1 << 20
"""At most how many bytes (or characters, or entries) a fold copies, encodes or indexes in one
call: a fold made in a thread lets the interpreter go between pieces, so a write beside it
waits for no long step (one 40 MB copy held it for tens of milliseconds)."""


@dataclass(frozen=True)
class Column:
    """A value made from each document (a str, or None), kept in the index: as one text of
    every document's value in id order (each value's start beside it: to search them all at
    once), or (``lookup``) sorted, with each value's document, to find documents by value."""

    make: Callable[[Doc], str | None]
    lookup: bool = False


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
    def count(self, name: str) -> int:
        """How many documents table ``name`` holds (none of them read)."""
        ...

    def keys(self, name: str) -> Sequence[str]: ...
    def contains(self, name: str, key: str) -> bool: ...
    def get(self, name: str, key: str) -> Doc | None: ...
    def raw_at(self, name: str, at: int) -> bytes: ...
    def is_archived(self, name: str, key: str) -> bool: ...
    def archived_at(self, name: str, at: int) -> bool: ...
    def archived_count(self, name: str) -> int: ...
    def id_positions(self, name: str) -> Sequence[int] | None:
        """The positions of the keys in id order (None: they are in id order)."""
        ...

    def highest(self, name: str) -> int: ...
    def values(self, name: str, column: str) -> Sequence[str | None]:
        """A column's values, in the table's order."""
        ...

    def lookup(self, name: str, column: str, value: str) -> list[str]:
        """The keys whose column ``column`` holds ``value``."""
        ...

    def text(self, name: str, column: str) -> Text:
        """The keys in id order, their values of a text column joined by TEXT_SEPARATOR, and
        where each value starts in it."""
        ...

    def sorted_column(self, name: str, column: str) -> tuple[list[str], Sequence[int]] | None:
        """A lookup column as the index keeps it: its values sorted (empty ones left out) and
        each one's position, or None when no index keeps it."""
        ...

    def text_column(self, name: str, column: str) -> tuple[str, Sequence[int]] | None:
        """A text column as the index keeps it (the values in id order joined, and where each
        starts), or None when no index keeps it."""
        ...

    def copier(self, name: str) -> Copier:
        """For a new snapshot: each document's JSON by position (as it is), the checksums
        (None: to be made) and the archived flags, of table ``name``."""
        ...

    def span(self, name: str) -> Span: ...
    def position(self, name: str, key: str) -> int | None: ...

    def close(self) -> None: ...


Text = tuple[Sequence[str], str, Sequence[int]]
Copier = tuple[Callable[[int], bytes], Sequence[int] | None, Sequence[int]]
Span = Callable[[int, int], tuple[Iterator[bytes], int, Sequence[int], Sequence[int]]] | None
"""The bytes of documents ``a`` to ``b - 1`` of a table as the snapshot holds them (with the
keys between them) in pieces of at most PIECE bytes, how many, their places in it and their
lengths (None: not kept as bytes)."""


def join_text(values: Iterable[str | None]) -> tuple[str, list[int]]:
    """Values as one text (TEXT_SEPARATOR between them), and where each starts."""
    texts = [v or "" for v in values]
    starts = list(itertools.accumulate((len(t) + 1 for t in texts[:-1]), initial=0))
    return TEXT_SEPARATOR.join(texts), starts if texts else []


def _highest(keys: Iterable[str]) -> int:
    return max((int(k) for k in keys if k.isdigit()), default=0)


def _id_positions(keys: Sequence[str]) -> list[int] | None:
    if all(id_order(a) < id_order(b) for a, b in itertools.pairwise(keys)):
        return None
    return sorted(range(len(keys)), key=lambda i: id_order(keys[i]))


class ParsedBase:
    """A snapshot parsed whole (one without a usable index, or none)."""

    def __init__(self, log: int, tables: dict[str, dict[str, Doc]], columns: Columns) -> None:
        self.log = log
        self._tables = tables
        self._columns = columns
        self._keys: dict[str, list[str]] = {}
        self._values: dict[tuple[str, str], list[str | None]] = {}
        self._lookups: dict[tuple[str, str], dict[str, list[str]]] = {}
        self._orders: dict[str, list[int] | None] = {}
        self._positions: dict[str, dict[str, int]] = {}

    def names(self) -> list[str]:
        return list(self._tables)

    def count(self, name: str) -> int:
        return len(self._tables.get(name, {}))

    def keys(self, name: str) -> Sequence[str]:
        found = self._keys.get(name)
        if found is None:
            found = self._keys[name] = list(self._tables.get(name, {}))
        return found

    def contains(self, name: str, key: str) -> bool:
        return key in self._tables.get(name, {})

    def get(self, name: str, key: str) -> Doc | None:
        return self._tables.get(name, {}).get(key)

    def raw_at(self, name: str, at: int) -> bytes:
        return orjson.dumps(self._tables[name][self.keys(name)[at]])

    def is_archived(self, name: str, key: str) -> bool:
        return archived(self._tables[name][key])

    def archived_at(self, name: str, at: int) -> bool:
        return self.is_archived(name, self.keys(name)[at])

    def archived_count(self, name: str) -> int:
        return sum(archived(d) for d in self._tables.get(name, {}).values())

    def id_positions(self, name: str) -> Sequence[int] | None:
        if name not in self._orders:
            self._orders[name] = _id_positions(self.keys(name))
        return self._orders[name]

    def highest(self, name: str) -> int:
        return _highest(self._tables.get(name, {}))

    def values(self, name: str, column: str) -> Sequence[str | None]:
        made = self._values.get((name, column))
        if made is None:
            make = self._columns[name][column].make
            docs = self._tables.get(name, {})
            made = self._values[(name, column)] = [make(d) for d in docs.values()]
        return made

    def lookup(self, name: str, column: str, value: str) -> list[str]:
        found = self._lookups.get((name, column))
        if found is None:
            found = self._lookups[(name, column)] = {}
            for key, made in zip(self.keys(name), self.values(name, column), strict=True):
                if made:
                    found.setdefault(made, []).append(key)
        return found.get(value, [])

    def text(self, name: str, column: str) -> Text:
        keys, values = self.keys(name), self.values(name, column)
        order = self.id_positions(name)
        if order is not None:
            keys, values = [keys[at] for at in order], [values[at] for at in order]
        return (keys, *join_text(values))

    def sorted_column(self, name: str, column: str) -> tuple[list[str], Sequence[int]] | None:
        return None

    def text_column(self, name: str, column: str) -> tuple[str, Sequence[int]] | None:
        return None

    def copier(self, name: str) -> Copier:
        keys, docs = self.keys(name), self._tables.get(name, {})
        return (
            lambda at: orjson.dumps(docs[keys[at]]),
            None,
            [archived(docs[k]) for k in keys],
        )

    def span(self, name: str) -> Span:
        return None

    def position(self, name: str, key: str) -> int | None:
        found = self._positions.get(name)
        if found is None:
            found = self._positions[name] = {k: i for i, k in enumerate(self.keys(name))}
        return found.get(key)

    def close(self) -> None:
        self._tables = {}


@dataclass
class Made:
    """What a fold made of a table's index and still holds (its keys, its sorted lookup
    columns): given to the new snapshot's reader, which then parses none of it again."""

    keys: list[str]
    sorted: dict[str, tuple[list[str], array[int]]]


class _Table:
    """One table of a mapped snapshot, read from the index when first asked for."""

    def __init__(
        self, about: dict[str, Any], read: Callable[[list[int]], bytes], made: Made | None = None
    ) -> None:
        self._parts: dict[str, list[int]] = about["parts"]
        self._read = read
        self.count: int = about["count"]
        self.highest: int = about["highest"]
        self.archived: int = about["archived"]
        self.keys: list[str] = orjson.loads(self.part("keys")) if made is None else made.keys
        self.starts = _numbers("Q", self.part("starts"))
        self.lengths = _numbers("I", self.part("lengths"))
        self.crcs = _numbers("I", self.part("crcs"))
        self.flags = self.part("flags")
        self.order = _numbers("I", self.part("order")) if "order" in self._parts else None
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
        self.by_key: dict[str, Doc] = {}
        """The documents read by key (found again without looking for their place)."""
        self.values: dict[str, list[str | None]] = {}
        self.sorted: dict[str, tuple[list[str], array[int]]] = (
            {} if made is None else dict(made.sorted)
        )

    def part(self, name: str) -> bytes:
        return self._read(self._parts[name])

    def has(self, name: str) -> bool:
        return name in self._parts

    def position(self, key: str) -> int | None:
        if self.order is None:  # keys in id order: found by halving, no dict of them made
            at = bisect.bisect_left(self.keys, id_order(key), key=id_order)
            return at if at < self.count and self.keys[at] == key else None
        if self._positions is None:
            positions: dict[str, int] = {}
            for start in range(0, self.count, PIECE // 64):  # see PIECE
                end = min(start + PIECE // 64, self.count)
                positions.update(zip(self.keys[start:end], range(start, end), strict=True))
            self._positions = positions
        return self._positions.get(key)

    def id_keys(self) -> list[str]:
        return self.keys if self.order is None else [self.keys[at] for at in self.order]

    def text(self, column: str) -> tuple[str, array[int]]:
        text = self.part(f"text:{column}").decode()
        starts = _numbers("Q", self.part(f"text-at:{column}"))
        if len(starts) != self.count or (starts and starts[-1] > len(text)):
            raise ValueError(f"its column {column} does not match its documents")
        return text, starts

    def sorted_column(self, column: str) -> tuple[list[str], array[int]]:
        found = self.sorted.get(column)
        if found is None:
            values: list[str] = orjson.loads(self.part(f"sorted:{column}"))
            positions = _numbers("I", self.part(f"sorted-at:{column}"))
            if len(values) != len(positions) or any(at >= self.count for at in positions):
                raise ValueError(f"its column {column} does not match its documents")
            found = self.sorted[column] = (values, positions)
        return found


class _Damaged(Exception):
    """A part of the index does not match its checksum."""


P = ParamSpec("P")
R = TypeVar("R")


def _or_whole(
    method: Callable[Concatenate[MappedBase, P], R],
) -> Callable[Concatenate[MappedBase, P], R]:
    """A read of a mapped snapshot, or of the snapshot parsed whole once its index is found
    damaged (then every read is of that)."""

    def read(self: MappedBase, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._whole is None:
            try:
                return method(self, *args, **kwargs)
            except _Damaged:
                self._parse_whole()
        whole: R = getattr(self._parse_whole(), method.__name__)(*args, **kwargs)
        return whole

    read.__name__ = read.__qualname__ = method.__name__
    read.__doc__ = method.__doc__
    return read


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
        self._whole: ParsedBase | None = None
        self._made: Mapping[str, Made] = {}

    @classmethod
    def open(
        cls, folder: Path, handle: BinaryIO, columns: Columns, index_path: Path | None = None
    ) -> MappedBase | None:
        """The snapshot open in ``handle`` with its index (``folder``'s, or ``index_path``: one
        written beside it, not yet in place), or None when the index is missing, damaged or
        another snapshot's (then the snapshot is parsed whole)."""
        head = os.pread(handle.fileno(), 200, 0)
        match = _HEAD.match(head)
        if match is None:
            return None  # written before snapshots had an index
        log, token = int(match.group(1)), match.group(2).decode()
        try:
            index = (index_path or folder / INDEX_FILE).open("rb")
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

    def _parse_whole(self) -> ParsedBase:
        """The snapshot parsed whole: what is read once a part of the index is found damaged
        (its checksum), the documents being good."""
        if self._whole is None:
            raw = b"" if self._map is None else self._map[:]
            try:
                data = orjson.loads(raw)
                tables = data["tables"]
            except (orjson.JSONDecodeError, KeyError, TypeError) as error:
                raise CorruptFile(f"{self._path} is not a valid database file: {error}") from error
            self._whole = ParsedBase(self.log, tables, self._columns)
        return self._whole

    def _table(self, name: str) -> _Table | None:
        table = self._tables.get(name)
        if table is None:
            about = self._about.get(name)
            if about is None:
                return None
            try:
                made = self._made.get(name)
                table = self._tables[name] = _Table(about, self._read_part, made)
            except (ValueError, KeyError, TypeError, orjson.JSONDecodeError) as error:
                raise _Damaged(str(error)) from error
        return table

    def names(self) -> list[str]:
        return list(self._about)

    def take_made(self, made: Mapping[str, Made]) -> None:
        """What the fold that wrote this snapshot made of its tables (see Made): used when a
        table is first read, instead of parsing those parts."""
        self._made = made

    def count(self, name: str) -> int:
        """From the index's header (its checksum checked): no part of the table read."""
        if self._whole is not None:
            return self._whole.count(name)
        about = self._about.get(name)
        return 0 if about is None else int(about["count"])

    @_or_whole
    def keys(self, name: str) -> Sequence[str]:
        table = self._table(name)
        return [] if table is None else table.keys

    @_or_whole
    def contains(self, name: str, key: str) -> bool:
        table = self._table(name)
        return table is not None and table.position(key) is not None

    def _raw(self, table: _Table, at: int) -> bytes:
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
                doc = table.docs[at] = orjson.loads(self._raw(table, at))
            except orjson.JSONDecodeError as error:
                raise CorruptFile(f"{self._path} is damaged: {error}") from error
        return doc

    @_or_whole
    def get(self, name: str, key: str) -> Doc | None:
        table = self._table(name)
        if table is None:
            return None
        doc = table.by_key.get(key)
        if doc is None:
            at = table.position(key)
            if at is None:
                return None
            doc = table.by_key[key] = self._doc_at(table, at)
        return doc

    @_or_whole
    def raw_at(self, name: str, at: int) -> bytes:
        table = self._table(name)
        assert table is not None
        return self._raw(table, at)

    @_or_whole
    def is_archived(self, name: str, key: str) -> bool:
        table = self._table(name)
        at = None if table is None else table.position(key)
        return table is not None and at is not None and bool(table.flags[at])

    @_or_whole
    def archived_at(self, name: str, at: int) -> bool:
        table = self._table(name)
        assert table is not None
        return bool(table.flags[at])

    @_or_whole
    def archived_count(self, name: str) -> int:
        table = self._table(name)
        return 0 if table is None else table.archived

    @_or_whole
    def id_positions(self, name: str) -> Sequence[int] | None:
        table = self._table(name)
        return None if table is None else table.order

    @_or_whole
    def highest(self, name: str) -> int:
        table = self._table(name)
        return 0 if table is None else table.highest

    @_or_whole
    def values(self, name: str, column: str) -> Sequence[str | None]:
        table = self._table(name)
        if table is None:
            return []
        made = table.values.get(column)
        if made is not None:
            return made
        try:
            if table.has(f"text:{column}"):
                text, starts = table.text(column)
                ends = [*starts[1:], len(text) + 1]
                in_order = [text[a : b - 1] for a, b in zip(starts, ends, strict=True)]
                made = [None] * table.count
                for at, value in zip(table.order or range(table.count), in_order, strict=True):
                    made[at] = value
            elif table.has(f"sorted:{column}"):
                made = [None] * table.count
                for value, at in zip(*table.sorted_column(column), strict=True):
                    made[at] = value
            else:  # written before the column was kept
                make = self._columns[name][column].make
                made = [make(self._doc_at(table, at)) for at in range(table.count)]
        except (ValueError, orjson.JSONDecodeError) as error:
            raise _Damaged(str(error)) from error
        table.values[column] = made
        return made

    @_or_whole
    def lookup(self, name: str, column: str, value: str) -> list[str]:
        table = self._table(name)
        if table is None:
            return []
        if not table.has(f"sorted:{column}"):
            keys = table.keys
            return [keys[at] for at, made in enumerate(self.values(name, column)) if made == value]
        try:
            values, positions = table.sorted_column(column)
        except (ValueError, orjson.JSONDecodeError) as error:
            raise _Damaged(str(error)) from error
        at = bisect.bisect_left(values, value)
        found = []
        while at < len(values) and values[at] == value:
            found.append(table.keys[positions[at]])
            at += 1
        return found

    @_or_whole
    def text(self, name: str, column: str) -> Text:
        table = self._table(name)
        if table is None:
            return [], "", []
        if not table.has(f"text:{column}"):
            values = self.values(name, column)
            if table.order is not None:
                values = [values[at] for at in table.order]
            return (table.id_keys(), *join_text(values))
        try:
            return (table.id_keys(), *table.text(column))
        except (ValueError, UnicodeDecodeError) as error:
            raise _Damaged(str(error)) from error

    @_or_whole
    def sorted_column(self, name: str, column: str) -> tuple[list[str], Sequence[int]] | None:
        table = self._table(name)
        if table is None:
            return [], []
        if not table.has(f"sorted:{column}"):
            return None
        try:
            return table.sorted_column(column)
        except (ValueError, orjson.JSONDecodeError) as error:
            raise _Damaged(str(error)) from error

    @_or_whole
    def text_column(self, name: str, column: str) -> tuple[str, Sequence[int]] | None:
        table = self._table(name)
        if table is None:
            return "", []
        if not table.has(f"text:{column}"):
            return None
        try:
            return table.text(column)
        except (ValueError, UnicodeDecodeError) as error:
            raise _Damaged(str(error)) from error

    @_or_whole
    def copier(self, name: str) -> Copier:
        table = self._table(name)
        if table is None:
            return (lambda at: b"", None, b"")
        mapped, starts, lengths = self._map, table.starts, table.lengths
        assert mapped is not None or not table.count

        def read(at: int) -> bytes:
            start = starts[at]
            return mapped[start : start + lengths[at]]  # type: ignore[index]

        return read, table.crcs, table.flags

    @_or_whole
    def span(self, name: str) -> Span:
        table = self._table(name)
        if table is None or self._map is None:
            return None
        mapped, starts, lengths = self._map, table.starts, table.lengths

        def read(a: int, b: int) -> tuple[Iterator[bytes], int, Sequence[int], Sequence[int]]:
            start, end = starts[a], starts[b - 1] + lengths[b - 1]
            pieces = (mapped[at : min(at + PIECE, end)] for at in range(start, end, PIECE))
            return pieces, end - start, starts[a:b], lengths[a:b]

        return read

    @_or_whole
    def position(self, name: str, key: str) -> int | None:
        table = self._table(name)
        return None if table is None else table.position(key)

    def verify(self) -> None:
        """Check every document's checksum (``cbe doctor``); CorruptFile names the first bad."""
        for name in self._about:
            try:
                table = self._table(name)
            except _Damaged as error:
                raise CorruptFile(
                    f"{self._path.with_name(INDEX_FILE)} is damaged ({error}): the snapshot is "
                    "read whole, and indexed again at the next fold"
                ) from error
            assert table is not None
            for at in range(table.count):
                self._raw(table, at)

    def close(self) -> None:
        self._tables = {}
        if self._map is not None:
            self._map.close()
        self._index.close()
        for handle in self._handles:
            handle.close()


Document = tuple[str, bytes, Doc | None, int] | range
"""A document for a new snapshot: its key, its JSON, the document (None: unchanged, then what
the old index keeps of it is copied) and its place in the old snapshot (-1: none, a key new to
the table or moved to its end), or a run of unchanged documents (their places in the old
snapshot)."""


@dataclass
class _Layout:
    """Where the documents of a new snapshot's table come from: runs of the old snapshot's
    (copied unchanged) and changed documents. What the index keeps of the table is made from
    the old index's parts and the changed documents alone (merged, not sorted again), so a
    fold's work besides copying bytes grows with what changed."""

    old_count: int
    runs: list[tuple[int, int, int]]
    """(new position, old position, how many) of each run of unchanged documents."""
    fresh: list[tuple[int, int, Doc]]
    """(new position, old position or -1, document) of each changed document."""

    def add_run(self, new: int, old: int, count: int) -> None:
        if self.runs:
            last_new, last_old, last_count = self.runs[-1]
            if last_new + last_count == new and last_old + last_count == old:
                self.runs[-1] = (last_new, last_old, last_count + count)
                return
        self.runs.append((new, old, count))

    def dropped(self) -> set[int]:
        """The old positions whose document did not stay as it was (changed or gone)."""
        found: set[int] = set()
        begun = 0
        for _, old, count in self.runs:
            found.update(range(begun, old))
            begun = old + count
        found.update(range(begun, self.old_count))
        return found

    def removed(self, dropped: set[int]) -> list[int]:
        """The old positions not in the new table (gone, or moved to its end), in order."""
        in_place = {old for _, old, _ in self.fresh if old >= 0}
        return sorted(dropped - in_place)


def _shifted(positions: Iterable[int], removed: list[int]) -> Iterator[int]:
    """Old positions (none of them removed) as new ones: less the removed ones before each."""
    for at in positions:
        yield at - bisect.bisect_left(removed, at)


def _merged_order(
    keys: Sequence[str], old: Sequence[int] | None, layout: _Layout, removed: list[int]
) -> array[int] | None:
    """The new table's positions in id order (None: its keys are in id order), from the old
    table's order and the keys new to the table (inserted where they belong)."""
    kept = layout.old_count - len(removed)
    if old is None:
        base: Sequence[int] = range(kept)
    elif removed:
        gone = set(removed)
        base = array("I", _shifted((at for at in old if at not in gone), removed))
    else:
        base = old
    new = [at for at, old_at, _ in layout.fresh if old_at < 0]  # at the end, in write order
    new.sort(key=lambda i: id_order(keys[i]))
    if (
        old is None
        and new == list(range(kept, kept + len(new)))
        and (not base or not new or id_order(keys[base[-1]]) < id_order(keys[new[0]]))
    ):
        return None  # appended after the old keys, in id order: the keys stay in id order
    order, begun = array("I"), 0
    for at in new:
        place = bisect.bisect_left(
            base, id_order(keys[at]), lo=begun, key=lambda i: id_order(keys[i])
        )
        order.extend(base[begun:place])
        order.append(at)
        begun = place
    order.extend(base[begun:])
    if order == array("I", range(len(keys))):
        return None
    return order


def _merged_sorted(
    old: tuple[list[str], Sequence[int]],
    layout: _Layout,
    dropped: set[int],
    removed: list[int],
    make: Callable[[Doc], str | None],
) -> tuple[list[str], array[int]]:
    """A lookup column's (value, position) pairs in order: the old index's, less the dropped
    documents', positions shifted, with the changed documents' merged in."""
    values, positions = old
    if dropped:
        keep = [i for i, at in enumerate(positions) if at not in dropped]
        values = [values[i] for i in keep]
        positions = [positions[i] for i in keep]
    if removed:
        positions = list(_shifted(positions, removed))
    extra = sorted((v, at) for at, _, doc in layout.fresh if (v := make(doc)))
    out_values: list[str] = []
    out_positions = array("I")
    begun = 0
    for value, at in extra:
        place = bisect.bisect_left(values, value, lo=begun)
        while place < len(values) and values[place] == value and positions[place] < at:
            place += 1
        out_values.extend(values[begun:place])
        out_positions.extend(positions[begun:place])
        out_values.append(value)
        out_positions.append(at)
        begun = place
    out_values.extend(values[begun:])
    out_positions.extend(positions[begun:])
    return out_values, out_positions


def _merged_text(
    old: tuple[str, Sequence[int]],
    old_keys: Sequence[str],
    old_order: Sequence[int] | None,
    keys: Sequence[str],
    layout: _Layout,
    dropped: set[int],
    make: Callable[[Doc], str | None],
) -> tuple[list[str], array[int]]:
    """A text column (values in id order, see join_text) from the old index's, as the parts
    that TEXT_SEPARATOR joins: runs of its values copied as one slice each, the changed
    documents' values put in their place."""
    text, starts = old
    count = len(starts)
    ranks: Sequence[int] = range(count)  # of each old position, in the old text
    if old_order is not None and dropped:
        ranks = array("I", bytes(4 * count))
        for r, at in enumerate(old_order):
            ranks[at] = r
    fresh_at = {old_at: doc for _, old_at, doc in layout.fresh if old_at >= 0}
    edits: list[tuple[int, int, tuple[int, str], str | None]] = []
    for at in dropped:  # replaced in place, or gone (a key moved to the end comes back below)
        doc = fresh_at.get(at)
        edits.append((ranks[at], 1, (0, ""), None if doc is None else make(doc) or ""))

    def ranked(r: int) -> tuple[int, str]:
        return id_order(old_keys[r if old_order is None else old_order[r]])

    for at, old_at, doc in layout.fresh:
        if old_at < 0:
            where = id_order(keys[at])
            place = bisect.bisect_left(range(count), where, key=ranked)
            edits.append((place, 0, where, make(doc) or ""))
    edits.sort(key=lambda e: e[:3])
    parts: list[str] = []
    out = array("Q")
    written, begun = 0, 0

    def copy(a: int, b: int) -> None:
        nonlocal written
        if a >= b:
            return
        end = starts[b] - 1 if b < count else len(text)
        delta = written - starts[a]
        out.extend(starts[a:b] if not delta else (s + delta for s in starts[a:b]))
        parts.append(text[starts[a] : end])
        written += end - starts[a] + 1

    def put(value: str) -> None:
        nonlocal written
        out.append(written)
        parts.append(value)
        written += len(value) + 1

    for r, replaces, _, value in edits:
        copy(begun, r)
        if value is not None:
            put(value)
        begun = max(begun, r + replaces)
    copy(begun, count)
    return parts, out


def _encoded(parts: list[str]) -> Iterator[bytes]:
    """``TEXT_SEPARATOR.join(parts)`` encoded as UTF-8, in pieces (see PIECE)."""
    separator = TEXT_SEPARATOR.encode()
    for number, part in enumerate(parts):
        if number:
            yield separator
        for at in range(0, len(part), PIECE):
            yield part[at : at + PIECE].encode()


def _table_files(
    number: int,
    name: str,
    docs: Iterable[Document],
    base: Base | None,
    wanted: Mapping[str, Column],
    out: bytearray,
    at: int,
    add: Callable[[bytes | Iterable[bytes]], list[int]],
) -> tuple[int, dict[str, Any], Made]:
    """Table ``name`` appended to ``out`` (the snapshot, ``at`` bytes long so far), its index
    parts given to ``add``: the snapshot's new length, what the index's header says of it and
    what of it the fold made (Made)."""
    head = (b",\n" if number else b"\n") + orjson.dumps(name) + b":{"
    out.extend(head)
    at += len(head)
    keys: list[str] = []
    starts, lengths, crcs = array("Q"), array("I"), array("I")
    flags = bytearray()
    old_keys: Sequence[str] = [] if base is None else base.keys(name)
    layout = _Layout(len(old_keys), [], [])
    old: tuple[Copier, Span] | None = None

    def unchanged() -> tuple[Copier, Span]:
        nonlocal old
        if old is None:
            assert base is not None
            old = (base.copier(name), base.span(name))
        return old

    def one(key: str, data: bytes, doc: Doc | None, old_at: int) -> None:
        nonlocal at
        lead = (b",\n" if keys else b"\n") + orjson.dumps(key) + b":"
        out.extend(lead)
        out.extend(data)
        at += len(lead)
        if doc is None:  # unchanged: what the old index keeps of it, as it is
            (_, old_crcs, old_flags), _ = unchanged()
            crcs.append(zlib.crc32(data) if old_crcs is None else old_crcs[old_at])
            flags.append(old_flags[old_at])
            layout.add_run(len(keys), old_at, 1)
        else:
            crcs.append(zlib.crc32(data))
            flags.append(archived(doc))
            layout.fresh.append((len(keys), old_at, doc))
        keys.append(key)
        starts.append(at)
        lengths.append(len(data))
        at += len(data)

    for item in docs:
        if not isinstance(item, range):
            one(*item)
            continue
        if not item:
            continue
        (read, old_crcs, old_flags), span = unchanged()
        if span is None or old_crcs is None:
            for old_at in item:
                one(old_keys[old_at], read(old_at), None, old_at)
            continue
        # The first document's key written anew (what comes before it differs), the rest
        # copied as the old snapshot holds them, keys between them included.
        a, b = item.start, item.stop
        one(old_keys[a], read(a), None, a)
        if b - a > 1:
            pieces, size, old_starts, old_lengths = span(a + 1, b)
            first_lead = span_lead(old_keys[a + 1])
            delta = at + len(first_lead) - old_starts[0]
            out.extend(first_lead)
            for piece in pieces:
                out.extend(piece)
            layout.add_run(len(keys), a + 1, b - a - 1)
            starts.extend(s + delta for s in old_starts)
            lengths.extend(old_lengths)
            crcs.extend(old_crcs[a + 1 : b])
            flags.extend(old_flags[a + 1 : b])
            keys.extend(old_keys[a + 1 : b])
            at += len(first_lead) + size
    tail = b"}" if not keys else b"\n}"
    out.extend(tail)
    at += len(tail)
    parts = {
        "keys": add(orjson.dumps(keys)),
        "starts": add(_bytes_of(starts)),
        "lengths": add(_bytes_of(lengths)),
        "crcs": add(_bytes_of(crcs)),
        "flags": add(bytes(flags)),
    }
    dropped = layout.dropped()
    removed = layout.removed(dropped)
    old_order = None if base is None or not old_keys else base.id_positions(name)
    order = _merged_order(keys, old_order, layout, removed)
    if order is not None:
        parts["order"] = add(_bytes_of(order))

    def made(column: str) -> list[str | None]:
        """The column's value of every document (what the old index keeps, and the changed
        documents' made anew)."""
        values: list[str | None] = [None] * len(keys)
        if layout.runs:
            assert base is not None
            kept = base.values(name, column)
            for new, old_at, count in layout.runs:
                values[new : new + count] = kept[old_at : old_at + count]
        make = wanted[column].make
        for new, _, doc in layout.fresh:
            values[new] = make(doc)
        return values

    sorted_made: dict[str, tuple[list[str], array[int]]] = {}
    for column, spec in wanted.items():
        if spec.lookup:
            found = base.sorted_column(name, column) if base is not None else ([], [])
            if found is not None:
                values, positions = _merged_sorted(found, layout, dropped, removed, spec.make)
            else:  # not kept by the old index: sorted anew
                ranked = sorted((v, i) for i, v in enumerate(made(column)) if v)
                values, positions = [v for v, _ in ranked], array("I", (i for _, i in ranked))
            at_of = array("I", positions)
            parts[f"sorted:{column}"] = add(orjson.dumps(values))
            parts[f"sorted-at:{column}"] = add(_bytes_of(at_of))
            sorted_made[column] = (values, at_of)
        else:
            kept_text = base.text_column(name, column) if base is not None else ("", [])
            text_starts: Sequence[int]
            text: list[str]
            if kept_text is not None:
                text, text_starts = _merged_text(
                    kept_text, old_keys, old_order, keys, layout, dropped, spec.make
                )
            else:  # not kept by the old index: joined anew
                every = made(column)
                joined, text_starts = join_text(
                    every if order is None else (every[i] for i in order)
                )
                text = [joined]
            parts[f"text:{column}"] = add(_encoded(text))
            parts[f"text-at:{column}"] = add(_bytes_of(array("Q", text_starts)))
    highest = (
        max(base.highest(name), _highest(keys[at] for at, old_at, _ in layout.fresh if old_at < 0))
        if base is not None and not removed
        else _highest(keys)
    )
    about = {"count": len(keys), "highest": highest, "archived": sum(flags), "parts": parts}
    return at, about, Made(keys, sorted_made)


def span_lead(key: str) -> bytes:
    """What comes before a document (not a table's first) in a snapshot."""
    return b",\n" + orjson.dumps(key) + b":"


def snapshot_files(
    log: int,
    token: str,
    tables: Iterable[tuple[str, Iterable[Document]]],
    base: Base | None,
    columns: Columns,
) -> tuple[bytearray, list[bytes], dict[str, Made]]:
    """The bytes of a snapshot and of its index (in pieces, to be written one after the other),
    for ``tables`` in order, and what of each table's index was made (Made).

    The snapshot is made in one buffer rather than kept as pieces: each ``orjson.dumps`` holds
    a 4 KiB block whatever its length, so 100,000 documents kept as their own bytes took
    400 MB more than their size."""
    out = bytearray(b'{"log":%d,"token":"%s","tables":{' % (log, token.encode()))
    at = len(out)
    about: dict[str, Any] = {}
    made: dict[str, Made] = {}
    blob: list[bytes] = []
    blob_at = 0

    def add(data: bytes | Iterable[bytes]) -> list[int]:
        """A part of the index (bytes, or its pieces): where it starts, its length and CRC."""
        nonlocal blob_at
        began, crc = blob_at, 0
        for piece in [data] if isinstance(data, bytes) else data:
            blob.append(piece)
            blob_at += len(piece)
            crc = zlib.crc32(piece, crc)
        return [began, blob_at - began, crc]

    for number, (name, docs) in enumerate(tables):
        at, about[name], made[name] = _table_files(
            number, name, docs, base, columns.get(name, {}), out, at, add
        )
    out.extend(b"}}\n")
    at += 3
    header = orjson.dumps({"token": token, "size": at, "log": log, "tables": about})
    first = b"%s %d" % (_MAGIC, zlib.crc32(header))
    return out, [first, b"\n", header, b"\n", *blob], made


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
