"""What the record and workflow repositories keep beside the logged tables (storage.tables),
updated change by change: contacts by email and visitor token, associations and tasks by
record, and the models and search texts made from documents (made when first asked for,
forgotten when their document changes). Records in id order, and how many are archived, come
from the tables' views; the email, visitor token and search text of each record are columns
the snapshot's index keeps (:data:`RECORD_COLUMNS`), so none of these reads every record."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

from core.models import CrmRecord, ObjectType
from core.records import SEARCH_SEPARATOR, matches_search, search_haystack
from core.workflow_models import Enrollment
from storage.table_snapshot import TEXT_SEPARATOR, Column, Columns, Text, id_order
from storage.tables import Old, TableView

ASSOCIATIONS = "associations"
ENROLLMENTS = "enrollments"
TASKS = "tasks"

_RECORD_TABLES = {kind.plural: kind for kind in ObjectType}

Doc = dict[str, Any]


def association_key(doc: Mapping[str, Any]) -> str:
    return f"{doc['fromType']}:{doc['fromId']}:{doc['toType']}:{doc['toId']}"


def flip(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "fromType": doc["toType"],
        "fromId": doc["toId"],
        "toType": doc["fromType"],
        "toId": doc["fromId"],
    }


_id_order = id_order


def _email(doc: Doc) -> str | None:
    email = doc.get("properties", {}).get("email")
    return email.lower() if email else None


def _utk(doc: Doc) -> str | None:
    return doc.get("properties", {}).get("hubspotutk") or None


def _search(doc: Doc) -> str:
    return search_haystack(doc.get("properties", {}))


RECORD_COLUMNS: Columns = {
    kind.plural: (
        {
            "email": Column(_email, lookup=True),
            "utk": Column(_utk, lookup=True),
            "search": Column(_search),
        }
        if kind is ObjectType.CONTACT
        else {"search": Column(_search)}
    )
    for kind in ObjectType
}
"""What the snapshot's index keeps of each record: a contact's email (lowercased) and visitor
token, to find contacts by them, and every record's search text (search_haystack)."""


RECORD_SEPARATOR = TEXT_SEPARATOR


class _Corpus:
    """Every record's search text (core.records.search_haystack) in one string, for one
    ``str.find`` pass per match rather than a test per record."""

    def __init__(self, text: Text, changed: set[str]) -> None:
        self.keys, self.text, self.starts = text
        self.changed = changed
        """Keys changed (or added) since the text was made: searched on their own."""

    def find(self, needle: str) -> Iterator[str]:
        text, starts, keys = self.text, self.starts, self.keys
        at = text.find(needle)
        while at >= 0:
            i = bisect.bisect_right(starts, at) - 1
            yield keys[i]
            if i + 1 >= len(starts):
                return
            at = text.find(needle, starts[i + 1])


class RecordIndex:
    """Built lazily: reading the tables (100,000 contacts) indexes nothing until asked."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._links: dict[tuple[ObjectType, str], dict[str, None]] | None = None
        self._records: dict[tuple[ObjectType, str], CrmRecord] = {}
        self._haystacks: dict[tuple[ObjectType, str], str] = {}
        self._corpora: dict[ObjectType, _Corpus] = {}

    def changed(self, table: str, key: str, old: Old, new: Doc | None) -> None:
        kind = _RECORD_TABLES.get(table)
        if kind is not None:
            self._records.pop((kind, key), None)
            self._haystacks.pop((kind, key), None)
            corpus = self._corpora.get(kind)
            if corpus is not None:
                corpus.changed.add(key)
        elif table == ASSOCIATIONS and self._links is not None:
            self._link(self._links, key, old() if new is None else None, new)

    @staticmethod
    def _link(
        links: dict[tuple[ObjectType, str], dict[str, None]],
        key: str,
        old: Doc | None,
        new: Doc | None,
    ) -> None:
        doc = new if new is not None else old
        assert doc is not None
        for kind_text, record_id in (
            (doc["fromType"], doc["fromId"]),
            (doc["toType"], doc["toId"]),
        ):
            held = links.setdefault((ObjectType(kind_text), record_id), {})
            if new is None:
                held.pop(key, None)
            else:
                held[key] = None

    def links(
        self, associations: Mapping[str, Doc]
    ) -> dict[tuple[ObjectType, str], dict[str, None]]:
        if self._links is None:
            links: dict[tuple[ObjectType, str], dict[str, None]] = {}
            for key, doc in associations.items():
                self._link(links, key, None, doc)
            self._links = links
        return self._links

    def record(self, kind: ObjectType, key: str, doc: Doc) -> CrmRecord:
        found = self._records.get((kind, key))
        if found is None:
            found = self._records[(kind, key)] = CrmRecord.model_validate(doc)
        return found

    def search(self, kind: ObjectType, docs: TableView, needle: str) -> list[str]:
        """The keys of ``docs`` (the records of ``kind``) that match ``needle``, in id order:
        one ``str.find`` pass over every record's text, then the records changed since that
        text was made, each on its own."""
        if RECORD_SEPARATOR in needle or SEARCH_SEPARATOR in needle:
            return [k for k in docs.ordered() if self.matches(kind, k, docs[k], needle)]
        corpus = self._corpora.get(kind)
        most = max(1000, len(docs) // 20)
        if corpus is None or len(corpus.changed) > most:
            # The snapshot's texts as they are, the records changed since searched one by one
            # (or, when they are many, a text of every record as it stands).
            whole = corpus is not None or len(docs.changes) > most
            corpus = self._corpora[kind] = _Corpus(*docs.text("search", whole))
        changed = corpus.changed
        found = [k for k in corpus.find(needle) if k not in changed]
        extra = [k for k in changed if k in docs and self.matches(kind, k, docs[k], needle)]
        if extra:
            found = sorted([*found, *extra], key=_id_order)
        return found

    def matches(self, kind: ObjectType, key: str, doc: Doc, needle: str | None) -> bool:
        if not needle:
            return True
        if SEARCH_SEPARATOR in needle:
            return matches_search(doc.get("properties", {}), needle)
        haystack = self._haystacks.get((kind, key))
        if haystack is None:
            haystack = self._haystacks[(kind, key)] = search_haystack(doc.get("properties", {}))
        return needle in haystack


class WorkflowIndex:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._tasks: dict[tuple[ObjectType, str], dict[str, None]] | None = None
        self._enrollments: dict[str, Enrollment] = {}
        self._order: dict[str, int] | None = None
        self._next = itertools.count()

    @staticmethod
    def _task(
        tasks: dict[tuple[ObjectType, str], dict[str, None]],
        key: str,
        old: Doc | None,
        new: Doc | None,
    ) -> None:
        if old is not None:
            where = (ObjectType(old["objectType"]), old["objectId"])
            if new is None or (new["objectType"], new["objectId"]) != where:
                tasks.get(where, {}).pop(key, None)
        if new is not None:
            tasks.setdefault((ObjectType(new["objectType"]), new["objectId"]), {})[key] = None

    def changed(self, table: str, key: str, old: Old, new: Doc | None) -> None:
        if table == ENROLLMENTS:
            self._enrollments.pop(key, None)
            if self._order is not None:
                if new is None:
                    self._order.pop(key, None)
                elif key not in self._order:  # the table keeps a key where first written
                    self._order[key] = next(self._next)
        elif table == TASKS and self._tasks is not None:
            self._task(self._tasks, key, old(), new)

    def tasks(self, docs: Mapping[str, Doc]) -> dict[tuple[ObjectType, str], dict[str, None]]:
        """Task keys by record (built from ``docs``, the tasks table, when first asked)."""
        if self._tasks is None:
            tasks: dict[tuple[ObjectType, str], dict[str, None]] = {}
            for key, doc in docs.items():
                self._task(tasks, key, None, doc)
            self._tasks = tasks
        return self._tasks

    def enrollment_order(self, docs: Mapping[str, Doc]) -> dict[str, int]:
        """Each enrollment key's place in ``docs`` (the enrollments table, in the order keys
        were first written): built when first asked, then kept change by change."""
        if self._order is None:
            self._order = {key: next(self._next) for key in docs}
        return self._order

    def enrollment(self, key: str, doc: Doc) -> Enrollment:
        found = self._enrollments.get(key)
        if found is None:
            found = self._enrollments[key] = Enrollment.model_validate(doc)
        return found
