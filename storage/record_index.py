"""What the record and workflow repositories keep beside the logged tables (storage.tables),
updated change by change: contacts by email and visitor token, associations and tasks by
record, records in id order, and the models and search texts made from documents (made when
first asked for, forgotten when their document changes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.models import CrmRecord, ObjectType
from core.records import SEARCH_SEPARATOR, matches_search, search_haystack
from core.workflow_models import Enrollment

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


def _id_order(key: str) -> tuple[int, str]:
    return (len(key), key)  # numeric ids in number order


class RecordIndex:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.by_email: dict[str, set[str]] = {}
        self.by_utk: dict[str, set[str]] = {}
        self.links: dict[tuple[ObjectType, str], dict[str, None]] = {}
        self._records: dict[tuple[ObjectType, str], CrmRecord] = {}
        self._haystacks: dict[tuple[ObjectType, str], str] = {}
        self._last: dict[ObjectType, tuple[int, str]] = {}
        self._unordered: set[ObjectType] = set()
        """Tables with a key written after a higher one: listed sorted, not as written."""

    @staticmethod
    def _move(index: dict[str, set[str]], old: str | None, new: str | None, key: str) -> None:
        if old == new:
            return
        if old:
            held = index.get(old)
            if held is not None:
                held.discard(key)
                if not held:
                    del index[old]
        if new:
            index.setdefault(new, set()).add(key)

    def changed(self, table: str, key: str, old: Doc | None, new: Doc | None) -> None:
        kind = _RECORD_TABLES.get(table)
        if kind is not None:
            self._records.pop((kind, key), None)
            self._haystacks.pop((kind, key), None)
            if old is None and new is not None:
                order = _id_order(key)
                if order < self._last.get(kind, (0, "")):
                    self._unordered.add(kind)
                else:
                    self._last[kind] = order
            if kind is ObjectType.CONTACT:
                before = (old or {}).get("properties", {})
                after = (new or {}).get("properties", {})
                email, was = after.get("email"), before.get("email")
                self._move(self.by_email, was and was.lower(), email and email.lower(), key)
                self._move(self.by_utk, before.get("hubspotutk"), after.get("hubspotutk"), key)
        elif table == ASSOCIATIONS:
            doc = new if new is not None else old
            assert doc is not None
            ends = ((doc["fromType"], doc["fromId"]), (doc["toType"], doc["toId"]))
            for kind_text, record_id in ends:
                links = self.links.setdefault((ObjectType(kind_text), record_id), {})
                if new is None:
                    links.pop(key, None)
                else:
                    links[key] = None

    def ordered(self, kind: ObjectType, docs: Mapping[str, Doc]) -> list[str]:
        """The keys of ``docs`` (the records of ``kind``) in id order."""
        if kind in self._unordered:
            return sorted(docs, key=_id_order)
        return list(docs)

    def record(self, kind: ObjectType, key: str, doc: Doc) -> CrmRecord:
        found = self._records.get((kind, key))
        if found is None:
            found = self._records[(kind, key)] = CrmRecord.model_validate(doc)
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
        self.tasks: dict[tuple[ObjectType, str], dict[str, None]] = {}
        self._enrollments: dict[str, Enrollment] = {}

    def changed(self, table: str, key: str, old: Doc | None, new: Doc | None) -> None:
        if table == ENROLLMENTS:
            self._enrollments.pop(key, None)
        elif table == TASKS:
            for doc in (old, new):
                if doc is not None:
                    where = (ObjectType(doc["objectType"]), doc["objectId"])
                    tasks = self.tasks.setdefault(where, {})
                    if doc is new:
                        tasks[key] = None
                    elif new is None or (new["objectType"], new["objectId"]) != where:
                        tasks.pop(key, None)

    def enrollment(self, key: str, doc: Doc) -> Enrollment:
        found = self._enrollments.get(key)
        if found is None:
            found = self._enrollments[key] = Enrollment.model_validate(doc)
        return found
