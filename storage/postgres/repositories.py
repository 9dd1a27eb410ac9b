"""Event definitions, CRM records and workflows in PostgreSQL: a document per row (``json``),
with the columns it is found by. Ids are numbers kept as text, ordered as numbers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Hashable
from typing import Any, Generic, TypeVar

import orjson

from core.errors import Conflict
from core.models import Association, CrmRecord, EventDefinition, ObjectType
from core.ports import RecordPage, Topic
from core.records import SEARCH_SEPARATOR, page_of, search_haystack, search_needle
from core.rules import name_taken
from core.workflow_models import Enrollment, Task, Workflow, enrollment_id
from storage.postgres.connections import Connections

BY_NUMBER = "length(id), id"
"""Numeric ids kept as text, in number order."""


def dumps(model: Any) -> str:
    """A model's stored form, as JSON text."""
    return orjson.dumps(model.to_json()).decode()


def _next(ids: list[tuple[Any, ...]]) -> str:
    return str(max((int(r[0]) for r in ids), default=0) + 1)


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class VersionCache(Generic[K, V]):
    """What units of work read at one version of a table (its row in ``changes``), kept until
    a unit reads at another: a value read after the version was read is at least as new as it,
    so a unit at that version may take it (nothing committed since the version is missed).
    Emptied when it holds ``limit`` values."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._values: dict[K, V] = {}
        self._at: int | None = None
        self._lock = threading.Lock()

    def get(self, version: int, key: K, read: Callable[[], V]) -> V:
        """``key``'s value as cached at ``version``, else ``read()`` (and kept)."""
        with self._lock:
            if self._at != version:
                self._values.clear()
                self._at = version
            elif key in self._values:
                return self._values[key]
        value = read()  # at least as new as ``version``
        with self._lock:
            if self._at == version:
                if len(self._values) >= self._limit:
                    self._values.clear()
                self._values[key] = value
        return value


CACHED_DEFINITIONS = 10_000
"""Names a process keeps at most in its cache of definitions (a name sent that no definition
has is kept too, as None)."""


class PostgresDefinitionRepository:
    """Event definitions, and a cache of definitions read by name for units of work.

    Every send of ingest reads its event's definition: a query and a validation per unit
    were a tenth to a fifth of what a server spent. As with records (see
    :class:`PostgresRecordRepository`): every write of definitions raises their version
    (table ``changes``) in the writer's transaction; a unit reads it once, with the records'
    (:meth:`Connections.versions`), and reads a definition from the cache when it was cached
    at that same version. A unit that wrote definitions or holds the database's lock reads
    the table itself.
    """

    def __init__(self, connections: Connections) -> None:
        self._c = connections
        self._cache: VersionCache[str, EventDefinition | None] = VersionCache(CACHED_DEFINITIONS)

    def list_all(self) -> list[EventDefinition]:
        with self._c.connection() as conn:
            rows = conn.execute(f"SELECT doc FROM definitions ORDER BY {BY_NUMBER}").fetchall()
        return [EventDefinition.model_validate(r[0]) for r in rows]

    def get(self, name: str) -> EventDefinition | None:
        state = self._c.unit()
        if state is None or state.definitions_written or state.locked:
            return self._read(name)
        version = self._c.definitions_version(state)
        if version < 0:  # no version kept: nothing tells a cached definition is stale
            return self._read(name)
        return self._cache.get(version, name, lambda: self._read(name))

    def _read(self, name: str) -> EventDefinition | None:
        with self._c.connection() as conn:
            row = conn.execute("SELECT doc FROM definitions WHERE name = %s", [name]).fetchone()
        return None if row is None else EventDefinition.model_validate(row[0])

    def _written(self) -> None:
        """Note that the calling thread's unit writes definitions (before it does)."""
        state = self._c.unit()
        if state is not None:
            state.definitions_written = True

    def next_id(self) -> str:
        with self._c.connection(locking=True) as conn:
            rows = conn.execute(
                "(SELECT id FROM definitions ORDER BY length(id) DESC, id DESC LIMIT 1)"
                " UNION ALL"
                " (SELECT id FROM deleted_definitions ORDER BY length(id) DESC, id DESC LIMIT 1)"
            ).fetchall()
        return _next(rows)

    def insert(self, definition: EventDefinition) -> None:
        self._written()
        with self._c.connection(locking=True, writes=Topic.DEFINITIONS) as conn:
            taken = conn.execute(
                "SELECT 1 FROM definitions WHERE name = %s", [definition.name]
            ).fetchone()
            if taken is not None:
                violation = name_taken(definition.name)
                raise Conflict(violation.message, [violation])
            conn.execute(
                "INSERT INTO definitions (id, name, doc) VALUES (%s, %s, %s::json)",
                [definition.id, definition.name, dumps(definition)],
            )
            conn.execute("UPDATE changes SET version = version + 1 WHERE what = 'definitions'")

    def replace(self, definition: EventDefinition) -> None:
        self._written()
        with self._c.connection(locking=True, writes=Topic.DEFINITIONS) as conn:
            conn.execute(
                "INSERT INTO definitions (id, name, doc) VALUES (%s, %s, %s::json)"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name, doc = excluded.doc",
                [definition.id, definition.name, dumps(definition)],
            )
            conn.execute("UPDATE changes SET version = version + 1 WHERE what = 'definitions'")

    def delete(self, name: str) -> None:
        self._written()
        with self._c.connection(locking=True, writes=Topic.DEFINITIONS) as conn:
            row = conn.execute("DELETE FROM definitions WHERE name = %s RETURNING id", [name])
            found = row.fetchone()
            if found is not None:
                conn.execute(
                    "INSERT INTO deleted_definitions (name, id) VALUES (%s, %s)"
                    " ON CONFLICT (name) DO UPDATE SET id = excluded.id",
                    [name, found[0]],
                )
                conn.execute("UPDATE changes SET version = version + 1 WHERE what = 'definitions'")

    def deleted_names(self) -> set[str]:
        with self._c.connection() as conn:
            rows = conn.execute("SELECT name FROM deleted_definitions").fetchall()
        return {r[0] for r in rows}

    def deleted_ids(self) -> dict[str, str]:
        with self._c.connection() as conn:
            rows = conn.execute("SELECT name, id FROM deleted_definitions ORDER BY seq").fetchall()
        return {str(name): str(id_) for name, id_ in rows}


def _record_columns(record: CrmRecord) -> list[Any]:
    email = record.properties.get("email") or None
    utk = record.properties.get("hubspotutk") or None
    contact = record.object_type is ObjectType.CONTACT
    return [
        record.object_type.value,
        record.id,
        email.lower() if email and contact else None,
        utk if contact else None,
        record.archived,
        _haystack(record),
        dumps(record),
    ]


def _haystack(record: CrmRecord) -> str:
    """What a search looks in (core.records.search_haystack), with newlines for NULs, which
    PostgreSQL's text cannot hold; a needle holding either is searched in Python."""
    return search_haystack(record.properties).replace(SEARCH_SEPARATOR, SEPARATOR)


SEPARATOR = "\n"


CACHED_RECORDS = 100_000
"""Records a process keeps at most in its cache (see :class:`PostgresRecordRepository`)."""


class PostgresRecordRepository:
    """CRM records, and a cache of records read by id for units of work.

    A batch of sends names up to 500 records, each read by id: one query each was most of
    what a batch cost. Every write of records raises their version (table ``changes``, in the
    writer's transaction); a unit reads the version once, and reads a record from the cache
    when it was cached at that same version (so nothing any process committed since is
    missed). A unit that wrote records or holds the database's lock reads the table itself,
    so that it sees its own writes and, deciding under the lock, the newest of everyone's.
    """

    def __init__(self, connections: Connections) -> None:
        self._c = connections
        self._cache: VersionCache[tuple[str, str], CrmRecord | None] = VersionCache(CACHED_RECORDS)

    def get(self, object_type: ObjectType, record_id: str) -> CrmRecord | None:
        state = self._c.unit()
        if state is None or state.records_written or state.locked:
            return self._read(object_type, record_id)
        version = self._c.records_version(state)
        key = (object_type.value, record_id)
        return self._cache.get(version, key, lambda: self._read(object_type, record_id))

    def _read(self, object_type: ObjectType, record_id: str) -> CrmRecord | None:
        with self._c.connection() as conn:
            row = conn.execute(
                "SELECT doc FROM records WHERE object_type = %s AND id = %s",
                [object_type.value, record_id],
            ).fetchone()
        return None if row is None else CrmRecord.model_validate(row[0])

    def list_records(self, object_type: ObjectType) -> list[CrmRecord]:
        with self._c.connection(locking=True) as conn:
            rows = conn.execute(
                f"SELECT doc FROM records WHERE object_type = %s ORDER BY {BY_NUMBER}",
                [object_type.value],
            ).fetchall()
        return [CrmRecord.model_validate(r[0]) for r in rows]

    def page(
        self,
        object_type: ObjectType,
        text: str | None = None,
        include_archived: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> RecordPage:
        needle = search_needle(text)
        if needle and (SEPARATOR in needle or SEARCH_SEPARATOR in needle):
            return page_of(self.list_records(object_type), text, include_archived, offset, limit)
        where = "object_type = %s" + ("" if include_archived else " AND NOT archived")
        params: list[Any] = [object_type.value]
        if needle:
            where += " AND strpos(search, %s) > 0"
            params.append(needle)
        with self._c.connection() as conn:
            count = conn.execute(f"SELECT count(*) FROM records WHERE {where}", params).fetchone()
            rows = conn.execute(
                f"SELECT doc FROM records WHERE {where} ORDER BY {BY_NUMBER} OFFSET %s LIMIT %s",
                [*params, offset, limit],
            ).fetchall()
        total = int(count[0]) if count else 0
        return RecordPage([CrmRecord.model_validate(r[0]) for r in rows], total)

    def _contact_by(self, column: str, value: str) -> CrmRecord | None:
        # An active contact before an archived one, then by id (as the embedded store). Found,
        # it stays a right answer; not found, a contact may be made for it: under the lock.
        query = (
            f"SELECT doc FROM records WHERE {column} = %s AND object_type = 'CONTACT'"
            " ORDER BY archived, length(id), id LIMIT 1"
        )
        for locking in (False, True):
            with self._c.connection(locking=locking) as conn:
                row = conn.execute(query, [value]).fetchone()
            if row is not None:
                return CrmRecord.model_validate(row[0])
            if self._c.unit() is None or self._c.locked:
                return None
        return None

    def find_contact_by_email(self, email: str) -> CrmRecord | None:
        return self._contact_by("email", email.lower())

    def find_contact_by_utk(self, utk: str) -> CrmRecord | None:
        return self._contact_by("utk", utk)

    def next_id(self, object_type: ObjectType) -> str:
        with self._c.connection(locking=True) as conn:
            rows = conn.execute(
                "SELECT id FROM records WHERE object_type = %s"
                " ORDER BY length(id) DESC, id DESC LIMIT 1",
                [object_type.value],
            ).fetchall()
        return _next(rows)

    def insert(self, record: CrmRecord) -> None:
        self.replace(record)

    def replace(self, record: CrmRecord) -> None:
        state = self._c.unit()
        if state is not None:
            state.records_written = True
        with self._c.connection(locking=True, writes=Topic.RECORDS) as conn:
            conn.execute(
                "INSERT INTO records (object_type, id, email, utk, archived, search, doc)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s::json)"
                " ON CONFLICT (object_type, id) DO UPDATE SET email = excluded.email,"
                " utk = excluded.utk, archived = excluded.archived, search = excluded.search,"
                " doc = excluded.doc",
                _record_columns(record),
            )
            conn.execute("UPDATE changes SET version = version + 1 WHERE what = 'records'")

    def associate(self, association: Association) -> None:
        a = association
        ends = [a.from_type.value, a.from_id, a.to_type.value, a.to_id]
        with self._c.connection(locking=True, writes=Topic.RECORDS) as conn:
            known = conn.execute(
                "SELECT 1 FROM associations WHERE"
                " (from_type, from_id, to_type, to_id) = (%s, %s, %s, %s)"
                " OR (to_type, to_id, from_type, from_id) = (%s, %s, %s, %s)",
                ends + ends,
            ).fetchone()
            if known is None:
                conn.execute(
                    "INSERT INTO associations (from_type, from_id, to_type, to_id)"
                    " VALUES (%s, %s, %s, %s)",
                    ends,
                )

    def associations(self, object_type: ObjectType, record_id: str) -> list[Association]:
        with self._c.connection() as conn:
            rows = conn.execute(
                "SELECT from_type, from_id, to_type, to_id FROM associations"
                " WHERE (from_type = %s AND from_id = %s) OR (to_type = %s AND to_id = %s)"
                " ORDER BY seq",
                [object_type.value, record_id] * 2,
            ).fetchall()
        found = []
        for from_type, from_id, to_type, to_id in rows:
            if from_type == object_type.value and from_id == record_id:
                ends = (from_type, from_id, to_type, to_id)
            else:  # as seen from the record
                ends = (to_type, to_id, from_type, from_id)
            found.append(
                Association(
                    from_type=ObjectType(ends[0]),
                    from_id=ends[1],
                    to_type=ObjectType(ends[2]),
                    to_id=ends[3],
                )
            )
        return found

    def all_associations(self) -> list[Association]:
        with self._c.connection() as conn:
            rows = conn.execute(
                "SELECT from_type, from_id, to_type, to_id FROM associations ORDER BY seq"
            ).fetchall()
        return [
            Association(
                from_type=ObjectType(from_type),
                from_id=from_id,
                to_type=ObjectType(to_type),
                to_id=to_id,
            )
            for from_type, from_id, to_type, to_id in rows
        ]


class PostgresWorkflowRepository:
    def __init__(self, connections: Connections) -> None:
        self._c = connections

    def list_workflows(self) -> list[Workflow]:
        with self._c.connection() as conn:
            rows = conn.execute(f"SELECT doc FROM workflows ORDER BY {BY_NUMBER}").fetchall()
        return [Workflow.model_validate(r[0]) for r in rows]

    def get_workflow(self, workflow_id: str) -> Workflow | None:
        with self._c.connection() as conn:
            row = conn.execute("SELECT doc FROM workflows WHERE id = %s", [workflow_id]).fetchone()
        return None if row is None else Workflow.model_validate(row[0])

    def next_workflow_id(self) -> str:
        with self._c.connection(locking=True) as conn:
            rows = conn.execute(
                "SELECT id FROM workflows ORDER BY length(id) DESC, id DESC LIMIT 1"
            ).fetchall()
        return _next(rows)

    def save_workflow(self, workflow: Workflow) -> None:
        with self._c.connection(locking=True, writes=Topic.WORKFLOWS) as conn:
            conn.execute(
                "INSERT INTO workflows (id, doc) VALUES (%s, %s::json)"
                " ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                [workflow.id, dumps(workflow)],
            )

    def delete_workflow(self, workflow_id: str) -> None:
        with self._c.connection(locking=True, writes=Topic.WORKFLOWS) as conn:
            conn.execute("DELETE FROM workflows WHERE id = %s", [workflow_id])
            conn.execute("DELETE FROM enrollments WHERE workflow_id = %s", [workflow_id])

    def get_enrollment(self, enrollment_id: str) -> Enrollment | None:
        # What follows is a decision to enroll (or not): under the lock.
        with self._c.connection(locking=True) as conn:
            row = conn.execute(
                "SELECT doc FROM enrollments WHERE id = %s", [enrollment_id]
            ).fetchone()
        return None if row is None else Enrollment.model_validate(row[0])

    def save_enrollment(self, enrollment: Enrollment) -> None:
        with self._c.connection(locking=True, writes=Topic.WORKFLOWS) as conn:
            conn.execute(
                "INSERT INTO enrollments (id, workflow_id, active, doc)"
                " VALUES (%s, %s, %s, %s::json)"
                " ON CONFLICT (id) DO UPDATE SET workflow_id = excluded.workflow_id,"
                " active = excluded.active, doc = excluded.doc",
                [enrollment.id, enrollment.workflow_id, enrollment.active, dumps(enrollment)],
            )

    def list_enrollments(
        self, workflow_id: str | None, active_only: bool = False
    ) -> list[Enrollment]:
        query = "SELECT doc FROM enrollments WHERE (%s::text IS NULL OR workflow_id = %s)"
        if active_only:
            query += " AND active"
        query += " ORDER BY seq"
        # Enrollments found are moved on by what reads them: read again under the lock, so
        # that one process moves each. None found: nothing is decided on them (ingest, which
        # asks on every send, goes on without the lock).
        for locking in (False, True):
            with self._c.connection(locking=locking) as conn:
                rows = conn.execute(query, [workflow_id, workflow_id]).fetchall()
            if not rows or self._c.locked or self._c.unit() is None:
                break
        return [Enrollment.model_validate(r[0]) for r in rows]

    def waiting_at(
        self,
        actions: Collection[tuple[str, int]],
        records: Collection[tuple[ObjectType, str]],
    ) -> list[Enrollment]:
        # A record is enrolled in a workflow once, under an id made of both: found by id.
        steps = set(actions)
        ids = sorted(
            {enrollment_id(w, kind, object_id) for w, _ in steps for kind, object_id in records}
        )
        if not ids:
            return []
        query = "SELECT doc FROM enrollments WHERE id = ANY(%s) AND active ORDER BY seq"
        # As list_enrollments: what is found is moved on by the caller, so read under the lock.
        for locking in (False, True):
            with self._c.connection(locking=locking) as conn:
                rows = conn.execute(query, [ids]).fetchall()
            if not rows or self._c.locked or self._c.unit() is None:
                break
        found = [Enrollment.model_validate(r[0]) for r in rows]
        return [e for e in found if (e.workflow_id, e.action_index) in steps]

    def save_task(self, task: Task) -> None:
        with self._c.connection(locking=True, writes=Topic.WORKFLOWS) as conn:
            conn.execute(
                "INSERT INTO tasks (id, object_type, object_id, doc) VALUES (%s, %s, %s, %s::json)"
                " ON CONFLICT (id) DO UPDATE SET object_type = excluded.object_type,"
                " object_id = excluded.object_id, doc = excluded.doc",
                [task.id, task.object_type.value, task.object_id, dumps(task)],
            )

    def tasks_for(self, object_type: ObjectType, object_id: str) -> list[Task]:
        with self._c.connection() as conn:
            rows = conn.execute(
                "SELECT doc FROM tasks WHERE object_type = %s AND object_id = %s ORDER BY seq",
                [object_type.value, object_id],
            ).fetchall()
        return [Task.model_validate(r[0]) for r in rows]

    def all_tasks(self) -> list[Task]:
        with self._c.connection() as conn:
            rows = conn.execute("SELECT doc FROM tasks ORDER BY seq").fetchall()
        return [Task.model_validate(r[0]) for r in rows]
