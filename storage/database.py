"""A cbe database folder on TinyDB: one folder per portal.

```
portal.json          portal id and access token (0600)
cbe.json             TinyDB: schema version, event definitions, deleted names, workflows
records/             CRM records, associations, enrollments, tasks: a snapshot and a log
                     (see storage.tables)
completions/         completions: a journal and segments (see storage.completions)
.lock                the inter-process lock
```

Every file is written atomically (storage.atomic) and every read-modify-write holds the folder's
lock (storage.locking), so the TUI, ``cbe serve`` and ``cbe send`` can share one database.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import sys
import threading
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
from tinydb.table import Document, Table

from core.clock import Clock, SystemClock
from core.errors import CbeError, Conflict
from core.models import Association, CrmRecord, EventDefinition, ObjectType, Portal
from core.ports import RecordPage, Topic
from core.records import search_needle
from core.rules import name_taken
from core.workflow_models import Enrollment, Task, Workflow, enrollment_id
from storage.atomic import AtomicJSONStorage, CorruptFile, fsync_dir, write_atomically
from storage.completions.damage import damage_message
from storage.completions.journal import JOURNAL_NAME
from storage.completions.store import CompletionStore
from storage.locking import LOCK_FILE, DatabaseLock
from storage.manifest import MANIFEST_FILE, DamagedDatabase
from storage.outbox import OUTBOX_FILE, TinyOutboxRepository
from storage.record_index import (
    ASSOCIATIONS,
    ENROLLMENTS,
    RECORD_COLUMNS,
    TASKS,
    RecordIndex,
    WorkflowIndex,
    association_key,
    flip,
)
from storage.rejections import REJECTIONS_FILE, RejectionStore
from storage.schema import SCHEMA_VERSION, read_version, upgrade
from storage.tables import LOG_NAME, TABLES_DIR, Folding, LoggedTables, TableView
from storage.watch import Appended, FolderWatcher

MAIN_FILE = "cbe.json"
PORTAL_FILE = "portal.json"
COMPLETIONS_DIR = "completions"

DEFINITIONS = "definitions"
DELETED_DEFINITIONS = "deletedDefinitions"


class NotADatabase(CbeError):
    """The folder is missing or holds something other than a cbe database."""


class _Cached:
    """Something derived from the main file, rebuilt only when the file changes."""

    def __init__(self, storage: AtomicJSONStorage) -> None:
        self._storage = storage
        self._values: dict[str, tuple[object, Any]] = {}

    def get(self, key: str, build: Any) -> Any:
        version = self._storage.version()
        hit = self._values.get(key)
        if hit is not None and hit[0] == version:
            return hit[1]
        value = build()
        self._values[key] = (version, value)
        return value


def _table(storage: AtomicJSONStorage, name: str) -> Table:
    # A fresh Table per use: TinyDB caches query results and the next id per Table object,
    # and another process may have written since.
    return Table(storage, name, cache_size=0)


class TinyDefinitionRepository:
    """Event definitions in ``cbe.json``; a definition's id is its TinyDB document id."""

    def __init__(self, storage: AtomicJSONStorage, lock: DatabaseLock, cache: _Cached) -> None:
        self._storage = storage
        self._lock = lock
        self._cache = cache

    def _by_name(self) -> dict[str, EventDefinition]:
        def build() -> dict[str, EventDefinition]:
            docs = sorted(_table(self._storage, DEFINITIONS), key=lambda d: d.doc_id)
            return {d["name"]: EventDefinition.model_validate(d) for d in docs}

        with self._lock.reading():
            result: dict[str, EventDefinition] = self._cache.get(DEFINITIONS, build)
        return result

    def list_all(self) -> list[EventDefinition]:
        return list(self._by_name().values())

    def get(self, name: str) -> EventDefinition | None:
        return self._by_name().get(name)

    def next_id(self) -> str:
        with self._lock:
            used = [d.doc_id for d in _table(self._storage, DEFINITIONS)]
            used += [int(d["id"]) for d in _table(self._storage, DELETED_DEFINITIONS)]
            return str(max(used, default=0) + 1)

    def insert(self, definition: EventDefinition) -> None:
        with self._lock:
            if self.get(definition.name) is not None:
                taken = name_taken(definition.name)
                raise Conflict(taken.message, [taken])
            doc = Document(definition.to_json(), doc_id=int(definition.id))
            _table(self._storage, DEFINITIONS).insert(doc)

    def replace(self, definition: EventDefinition) -> None:
        with self._lock:
            doc = Document(definition.to_json(), doc_id=int(definition.id))
            _table(self._storage, DEFINITIONS).upsert(doc)

    def delete(self, name: str) -> None:
        with self._lock:
            definition = self.get(name)
            if definition is None:
                return
            _table(self._storage, DELETED_DEFINITIONS).insert({"name": name, "id": definition.id})
            _table(self._storage, DEFINITIONS).remove(doc_ids=[int(definition.id)])

    def deleted_names(self) -> set[str]:
        with self._lock.reading():
            return {d["name"] for d in _table(self._storage, DELETED_DEFINITIONS)}

    def deleted_ids(self) -> dict[str, str]:
        with self._lock.reading():
            docs = sorted(_table(self._storage, DELETED_DEFINITIONS), key=lambda d: d.doc_id)
        return {d["name"]: str(d["id"]) for d in docs}


class TinyRecordRepository:
    """Contacts, companies, deals and tickets, one table each keyed by id, and associations, in
    the folder's logged tables (storage.tables); indexes kept as changes arrive."""

    def __init__(self, tables: LoggedTables, lock: DatabaseLock) -> None:
        self._tables = tables
        self._lock = lock
        self._index = RecordIndex()
        tables.listen(self._index.changed, self._index.reset)

    def _by_id(self, object_type: ObjectType) -> TableView:
        return self._tables.table(object_type.plural)

    def get(self, object_type: ObjectType, record_id: str) -> CrmRecord | None:
        with self._lock.reading():
            doc = self._by_id(object_type).get(record_id)
            return None if doc is None else self._index.record(object_type, record_id, doc)

    def list_records(self, object_type: ObjectType) -> list[CrmRecord]:
        return self.page(object_type, include_archived=True).records

    def page(
        self,
        object_type: ObjectType,
        text: str | None = None,
        include_archived: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> RecordPage:
        needle = search_needle(text)
        end = None if limit is None else offset + limit
        with self._lock.reading():
            docs = self._by_id(object_type)
            index = self._index
            keys: Iterable[str]
            if needle:
                keys = [
                    k
                    for k in index.search(object_type, docs, needle)
                    if include_archived or not docs.is_archived(k)
                ]
                total = len(keys)
            else:  # counted by the view: only the page's records are read
                total = len(docs) if include_archived else docs.live_count()
                keys = docs.ordered(live_only=not include_archived)
            chosen = list(itertools.islice(keys, offset, end))
            found = [index.record(object_type, k, docs[k]) for k in chosen]
        return RecordPage(found, total)

    def _contact(self, ids: Collection[str] | None) -> CrmRecord | None:
        if not ids:
            return None
        with self._lock.reading():
            docs = self._by_id(ObjectType.CONTACT)
            # Active contacts first: an archived contact's email or utk belongs to the active
            # contact that took it over, and only falls back to the archived one.
            best = min(ids, key=lambda i: (docs.is_archived(i), len(i), i))
            return self._index.record(ObjectType.CONTACT, best, docs[best])

    def find_contact_by_email(self, email: str) -> CrmRecord | None:
        with self._lock.reading():
            self._tables.refresh()
            contacts = self._by_id(ObjectType.CONTACT)
            return self._contact(contacts.lookup("email", email.lower()))

    def find_contact_by_utk(self, utk: str) -> CrmRecord | None:
        with self._lock.reading():
            self._tables.refresh()
            contacts = self._by_id(ObjectType.CONTACT)
            return self._contact(contacts.lookup("utk", utk))

    def next_id(self, object_type: ObjectType) -> str:
        with self._lock:
            return str(self._tables.highest(object_type.plural) + 1)

    def insert(self, record: CrmRecord) -> None:
        with self._lock:
            self._tables.put(record.object_type.plural, record.id, record.to_json())

    def replace(self, record: CrmRecord) -> None:
        self.insert(record)

    def associate(self, association: Association) -> None:
        doc = association.to_json()
        with self._lock:
            table = self._tables.table(ASSOCIATIONS)
            if association_key(doc) not in table and association_key(flip(doc)) not in table:
                self._tables.put(ASSOCIATIONS, association_key(doc), doc)

    def associations(self, object_type: ObjectType, record_id: str) -> list[Association]:
        found = []
        with self._lock.reading():
            table = self._tables.table(ASSOCIATIONS)
            links = self._index.links(table).get((object_type, record_id), ())
            docs = [table[k] for k in links]
        for doc in docs:
            if doc["fromType"] == object_type and doc["fromId"] == record_id:
                found.append(Association.model_validate(doc))
            else:
                found.append(Association.model_validate(flip(doc)))
        return found

    def all_associations(self) -> list[Association]:
        with self._lock.reading():  # in the order they were made
            docs = list(self._tables.table(ASSOCIATIONS).values())
        return [Association.model_validate(d) for d in docs]


WORKFLOWS = "workflows"


class TinyWorkflowRepository:
    """Workflows (document id = workflow id) in ``cbe.json``; enrollments and tasks, keyed by
    their ids, in the folder's logged tables."""

    def __init__(
        self,
        storage: AtomicJSONStorage,
        tables: LoggedTables,
        lock: DatabaseLock,
        cache: _Cached,
    ) -> None:
        self._storage = storage
        self._tables = tables
        self._lock = lock
        self._cache = cache
        self._index = WorkflowIndex()
        tables.listen(self._index.changed, self._index.reset)

    def list_workflows(self) -> list[Workflow]:
        def build() -> list[Workflow]:
            docs = sorted(_table(self._storage, WORKFLOWS), key=lambda d: d.doc_id)
            return [Workflow.model_validate(d) for d in docs]

        with self._lock.reading():
            result: list[Workflow] = self._cache.get(WORKFLOWS, build)
        return list(result)

    def get_workflow(self, workflow_id: str) -> Workflow | None:
        return next((w for w in self.list_workflows() if w.id == workflow_id), None)

    def next_workflow_id(self) -> str:
        with self._lock:
            ids = [d.doc_id for d in _table(self._storage, WORKFLOWS)]
            return str(max(ids, default=0) + 1)

    def save_workflow(self, workflow: Workflow) -> None:
        with self._lock:
            doc = Document(workflow.to_json(), doc_id=int(workflow.id))
            _table(self._storage, WORKFLOWS).upsert(doc)

    def delete_workflow(self, workflow_id: str) -> None:
        with self._lock:
            _table(self._storage, WORKFLOWS).remove(doc_ids=[int(workflow_id)])
            gone = [
                key
                for key, doc in self._tables.table(ENROLLMENTS).items()
                if doc["workflowId"] == workflow_id
            ]
            for key in gone:
                self._tables.put(ENROLLMENTS, key, None)

    def get_enrollment(self, enrollment_id: str) -> Enrollment | None:
        with self._lock.reading():
            doc = self._tables.table(ENROLLMENTS).get(enrollment_id)
            return None if doc is None else self._index.enrollment(enrollment_id, doc)

    def save_enrollment(self, enrollment: Enrollment) -> None:
        with self._lock:
            self._tables.put(ENROLLMENTS, enrollment.id, enrollment.to_json())

    def list_enrollments(
        self, workflow_id: str | None, active_only: bool = False
    ) -> list[Enrollment]:
        with self._lock.reading():
            table = self._tables.table(ENROLLMENTS)
            found = [
                self._index.enrollment(key, doc)
                for key, doc in table.items()
                if (workflow_id is None or doc["workflowId"] == workflow_id)
            ]
        return [e for e in found if e.active] if active_only else found

    def waiting_at(
        self,
        actions: Collection[tuple[str, int]],
        records: Collection[tuple[ObjectType, str]],
    ) -> list[Enrollment]:
        # A record is enrolled in a workflow once, under a key made of both: a lookup each.
        found: list[tuple[int, Enrollment]] = []
        with self._lock.reading():
            table = self._tables.table(ENROLLMENTS)
            order = self._index.enrollment_order(table)
            for workflow_id, index in actions:
                for object_type, object_id in records:
                    key = enrollment_id(workflow_id, object_type, object_id)
                    doc = table.get(key)
                    if doc is None:
                        continue
                    enrollment = self._index.enrollment(key, doc)
                    if enrollment.action_index == index and enrollment.active:
                        found.append((order[key], enrollment))
        return [e for _, e in sorted(found, key=lambda pair: pair[0])]

    def save_task(self, task: Task) -> None:
        with self._lock:
            self._tables.put(TASKS, task.id, task.to_json())

    def tasks_for(self, object_type: ObjectType, object_id: str) -> list[Task]:
        with self._lock.reading():
            table = self._tables.table(TASKS)
            keys = self._index.tasks(table).get((object_type, object_id), ())
            docs = [table[k] for k in keys]
        return [Task.model_validate(d) for d in docs]

    def all_tasks(self) -> list[Task]:
        with self._lock.reading():  # in the order they were first stored
            docs = list(self._tables.table(TASKS).values())
        return [Task.model_validate(d) for d in docs]


class _Unit:
    """A unit of work on the database folder (core.ports.UnitOfWork).

    Writes to the logged tables (records, associations, enrollments, tasks: storage.tables)
    are held in memory and appended at commit as one line of the tables' log; writes to
    ``cbe.json`` (definitions, workflows, settings) are held too and written at commit as one
    atomic replace, not one per write; completions are held too and appended to the journal
    at commit as one line. Left without a commit, no file is touched and memory is put back.

    **The order at commit** is the tables' log line (appended, fsynced), then ``cbe.json``
    (written, fsynced, renamed) when the unit changed it, then the forwarding outbox's line
    (``outbox.jsonl``, appended and fsynced: what the completions owe a remote, see
    storage.outbox), then the journal line and its fsync, all under the lock, before
    ``commit`` returns: what is acknowledged is durable.

    The tables and ``cbe.json`` go first because they are what the completions point at:
    contacts the lenient path created for them, enrollments they moved. A crash between them
    and the journal leaves what the request made for its completions without the completions,
    and the request unanswered (a sender sends it again, and finds the contact made); the
    other order could leave completions of a contact id that was never kept, which the next
    contact would be given. (A crash between the log line and ``cbe.json`` keeps a unit's
    records without its ``cbe.json`` changes, as a crash between two units would.) A write the
    disk refuses cuts the log line back and puts the replaced ``cbe.json`` back (best effort:
    it is kept open until the unit ends) and raises, nothing of the unit kept.
    """

    def __init__(self, database: TinyDatabase, outermost: bool = True) -> None:
        self._database = database
        self._outermost = outermost
        self.portal: Portal | None = None
        """A new portal the unit holds, written last at its commit (``portal.json``)."""
        self.thread = threading.get_ident()
        """The thread in the unit (the one holding the lock): only it sees what the unit holds."""

    def joined(self) -> _Unit:
        """A unit opened inside this one: it joins it (its commit is this one's to make)."""
        return _Unit(self._database, outermost=False)

    def commit(self) -> None:
        if not self._outermost:
            return  # a unit inside another: the outermost one commits
        database = self._database
        database._tables.commit()
        try:
            database._main.commit()
        except BaseException:
            database._tables.undo()
            raise
        try:
            database._outbox.commit()  # what the completions owe, before them (storage.outbox)
            database._completions.commit()
        except BaseException:
            database._outbox.undo()
            database._main.undo()
            database._tables.undo()
            raise
        if self.portal is not None:  # last: what holds the old id is renamed by then
            database._write_portal(self.portal)
            self.portal = None


FOLD_SWITCH_INTERVAL = 0.0005
"""How long (seconds) a thread runs Python, while a fold is made in a thread, before one waiting
for the interpreter takes it (``sys.setswitchinterval``; Python's default is 5 ms). A write
beside the fold lets go of the interpreter at each system call (the log's open, write, fsync)
and, each time, waited for the fold's thread to run its share: up to 5 ms a call, 10 to 50 ms
a write. Switching more often costs the fold little (measured: bench/README.md, records)."""


class _Interpreter:
    """The interpreter while any fold is being made in a thread (as it was when the last one
    ends): it switches threads more often (FOLD_SWITCH_INTERVAL), and, while a snapshot is
    made in this process (``collect`` False), its cycle collector waits. That fold's own
    allocations (the old index's columns, the new one's parts: freed when it ends) made
    Python run a full collection mid-fold, 70 to 90 ms at 100,000 contacts, during which no
    other thread (a write beside it) runs. A fold made in a process of its own allocates
    little here (the lines written meanwhile, applied); the collector then runs as usual: held
    back, its first collection after the fold had every object made meanwhile to go through
    (75 to 100 ms measured)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._waiting = 0
        self._interval = 0.0
        self._collecting = True

    @contextmanager
    def folding(self, collect: bool = False) -> Iterator[None]:
        with self._lock:
            if not self._users:
                self._interval = sys.getswitchinterval()
                sys.setswitchinterval(min(FOLD_SWITCH_INTERVAL, self._interval))
            if not collect:
                if not self._waiting:
                    self._collecting = gc.isenabled()
                    gc.disable()
                self._waiting += 1
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if not self._users:
                    sys.setswitchinterval(self._interval)
                if not collect:
                    self._waiting -= 1
                    if not self._waiting and self._collecting:
                        gc.enable()

    @staticmethod
    def settle() -> None:
        """Take what stands as a fold begins out of the cycle collector's full collections
        (``gc.freeze``): the modules, the snapshot read, the changes held until the swap, all
        long-lived. A full collection of a writer's heap once thousands of changed documents
        were held took 100 to 330 ms, a write beside it waiting; one now goes through what was
        made since the fold began only. Frozen objects are still freed when let go of (their
        count of references); garbage in cycles among them stays, so the young generations
        are collected first (0.7 ms measured; what reached the oldest since the last fold and
        is garbage in cycles then is kept: none was, after 40 folds of a writer at 100,000
        contacts, bench/fold_memory.py; the frozen count stays flat, 64,000 to 85,000). A
        fold made in the thread (its process failed) then has the collector running beside
        it, as one made in a process does."""
        gc.collect(1)
        gc.freeze()


_INTERPRETER = _Interpreter()


class TinyDatabase:
    """One portal's database folder; implements :class:`core.ports.Database`."""

    def __init__(self, folder: Path, portal: Portal, lock: DatabaseLock) -> None:
        self.folder = folder
        self._portal = portal
        self._lock = lock
        self._main = AtomicJSONStorage(folder / MAIN_FILE, lock=lock)
        self._tables = LoggedTables(
            folder / TABLES_DIR,
            lock,
            columns=RECORD_COLUMNS,
            columns_at="storage.record_index:RECORD_COLUMNS",  # a fold's own process
        )
        cache = _Cached(self._main)
        self._definitions = TinyDefinitionRepository(self._main, lock, cache)
        self._records = TinyRecordRepository(self._tables, lock)
        self._workflows = TinyWorkflowRepository(self._main, self._tables, lock, cache)
        self._completions = CompletionStore(
            folder / COMPLETIONS_DIR,
            lock,
            manifest=folder / MANIFEST_FILE,
            read_only=lock.refusal is not None,
        )
        self._rejections = RejectionStore(folder, lock, self._main)
        self._outbox = TinyOutboxRepository(folder, lock, self._completions.stored_ids, self._main)
        self._unit: _Unit | None = None
        """The open unit of work (only the thread holding the lock can be in it)."""
        self._folder: threading.Thread | None = None

    @property
    def portal(self) -> Portal:
        unit = self._unit
        if unit is not None and unit.portal is not None and unit.thread == threading.get_ident():
            return unit.portal
        return self._portal

    def replace_portal(self, portal: Portal) -> None:
        with self._lock:
            if self._unit is not None:  # written at the unit's commit, after cbe.json
                self._unit.portal = portal
                return
            self._write_portal(portal)

    def _write_portal(self, portal: Portal) -> None:
        _write_portal(self.folder, portal)
        self._portal = portal

    @property
    def name(self) -> str:
        return self.folder.name

    @property
    def refusal(self) -> str | None:
        """Why writes are refused (a read-only copy, or damage found), or None."""
        return self._lock.refusal

    @property
    def definitions(self) -> TinyDefinitionRepository:
        return self._definitions

    @property
    def completions(self) -> CompletionStore:
        return self._completions

    @property
    def records(self) -> TinyRecordRepository:
        return self._records

    @property
    def workflows(self) -> TinyWorkflowRepository:
        return self._workflows

    @property
    def rejections(self) -> RejectionStore:
        return self._rejections

    @property
    def outbox(self) -> TinyOutboxRepository:
        return self._outbox

    @contextmanager
    def transaction(self) -> Iterator[_Unit]:
        with self._lock:
            if self._unit is not None:  # this thread's unit: join it
                yield self._unit.joined()
                return
            unit = self._unit = _Unit(self)
            self._tables.begin()
            self._main.begin()
            self._completions.begin()
            self._outbox.begin()
            committed = False
            try:
                yield unit
                committed = True
            finally:
                self._unit = None
                self._completions.rollback()  # what was not committed
                self._outbox.rollback()
                self._main.rollback()
                self._tables.rollback()
            if committed:
                self._tables.when_written()  # once in a while a fold: a write of every table

    @property
    def background_folds(self) -> bool:
        """Whether the records' log is folded in a thread, the new snapshot made without the
        lock, rather than by the write that makes it due (every ``cbe`` command, the app and
        ``cbe serve`` among them: no write waits for a fold; storage.tables' start_fold,
        build_fold and finish_fold). :meth:`close` waits for a fold under way: one whose
        process hangs no longer than that process's deadline (storage.tables' FOLD_DEADLINE;
        then it is made in the thread). Not killed at once by close: a run of short commands,
        each closing right after the write that made a fold due, would then never fold."""
        return self._tables.when_written == self._fold_soon

    @background_folds.setter
    def background_folds(self, on: bool) -> None:
        self._tables.when_written = self._fold_soon if on else self._tables.fold_if_due

    def _fold_soon(self) -> None:
        """Start folding the records' log in a thread when it is due and none is under way
        (the caller holds the lock): the write that made it due returns at once."""
        if not self._tables.fold_due() or (self._folder is not None and self._folder.is_alive()):
            return
        folding = self._tables.start_fold()
        self._folder = threading.Thread(
            target=self._fold_outside, args=(folding,), name="cbe records fold", daemon=True
        )
        self._folder.start()

    def _fold_outside(self, folding: Folding | None) -> None:
        """Make ``folding`` (started under the lock) in this thread; then, when what was written
        meanwhile makes the log due already (a fold that lagged behind the writes), the next at
        once rather than at the next write: a fresh process reads the log whole when it opens
        the folder (6 MB after a fold of 15,000 writes: 160 to 410 ms)."""
        while folding is not None and self._fold_once(folding):
            folding = self._next_fold()

    def _fold_once(self, folding: Folding) -> bool:
        """True: the new snapshot stands."""
        _INTERPRETER.settle()
        # Through the swap and the freeing after it too: a write waiting for the interpreter
        # then (the first after the swap reads the new snapshot's index) waited for 5 ms turns.
        with _INTERPRETER.folding(collect=self._tables.columns_at is not None):
            if not self._tables.build_fold(folding):
                return False
            self._tables.stage_fold(folding)
            folding.close_replaced = False
            placed = False
            with contextlib.suppress(OSError, CbeError), self._lock:  # the log holds it all
                placed = self._tables.finish_fold(folding)
            if folding.replaced is not None:  # its maps let go of without the lock
                folding.replaced.close()
            self._tables.let_go()  # and the changes now in the snapshot
            return placed

    def _next_fold(self) -> Folding | None:
        """The next fold, started, when the log is due and the database not being closed."""
        try:
            with self._lock:
                if self._folder is not threading.current_thread() or not self._tables.fold_due():
                    return None
                return self._tables.start_fold()
        except (OSError, CbeError):
            return None

    def watch(self) -> FolderWatcher:
        """A watcher of this folder (core.ports.Watchable): the stat of its files."""
        folder = self.folder
        return FolderWatcher(
            {
                folder / MAIN_FILE: frozenset({Topic.DEFINITIONS, Topic.WORKFLOWS}),
                folder / PORTAL_FILE: frozenset({Topic.DEFINITIONS}),
                folder / OUTBOX_FILE: frozenset({Topic.OUTBOX}),
                folder / REJECTIONS_FILE: frozenset({Topic.REJECTIONS}),
            },
            {
                folder / COMPLETIONS_DIR: Appended(JOURNAL_NAME, frozenset({Topic.COMPLETIONS})),
                # The log holds records, associations, enrollments and tasks.
                folder / TABLES_DIR: Appended(
                    LOG_NAME, frozenset({Topic.RECORDS, Topic.WORKFLOWS})
                ),
            },
        )

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Many writes in a row (``cbe demo``, ``cbe copy``): the records' log is folded once
        when the scope ends, rather than each time it holds a sixteenth of the snapshot (see
        LoggedTables.folds_deferred). Stopped by an error, nothing is folded: the next write
        folds what is due."""
        with self._tables.folds_deferred():
            yield
        with self._lock:
            self._tables.fold_if_due()

    def close(self) -> None:
        folder, self._folder = self._folder, None
        if folder is not None and self._lock.held_epoch() is None:
            folder.join()  # a fold under way ends first (else it is let go: finish_fold)
        with self._lock.reading():
            self._main.close()
            self._tables.close()
        self._completions.close()


def open_database(
    folder: str | os.PathLike[str],
    *,
    create: bool = True,
    portal_id: int | None = None,
    clock: Clock | None = None,
    read_only: bool | None = False,
    allow_damage: bool = False,
) -> TinyDatabase:
    """Open the database in ``folder``, creating it (with a new portal) when ``create``.

    Upgrades an older schema, refuses a newer one, and finishes any batch a crashed writer left
    in the journal. Damage found (see storage.manifest) is refused with every problem named
    (DamagedDatabase), or with ``allow_damage`` opens the database for reading only.

    ``read_only``: open without the lock or any write (a read-only copy); every write is
    refused. None: so when the folder cannot be written to.
    """
    path = Path(folder).expanduser().resolve()
    if not path.exists():
        if not create:
            raise NotADatabase(f"There is no cbe database at {path}.")
        path.mkdir(parents=True, mode=0o700)
    elif not path.is_dir():
        raise NotADatabase(f"{path} is a file, not a cbe database folder.")
    else:
        check_folder(path, create)
    if read_only is None:
        read_only = not os.access(path, os.W_OK)
    if read_only:
        return _open_read_only(path, allow_damage)
    lock = DatabaseLock(path)
    with lock:
        _remove_leftover_temp_files(path)
        main = AtomicJSONStorage(path / MAIN_FILE)
        try:
            upgrade(path, main)
        finally:
            main.close()  # also when refused: the storage holds the file open
        portal = _load_or_create_portal(path, create, portal_id, clock or SystemClock())
        database = TinyDatabase(path, portal, lock)
        try:
            database.completions.recover()
            database._tables.index_if_missing()
            problems = database.completions.damage
        except BaseException:
            database.close()
            raise
    return _with_damage(database, lock, path, problems, allow_damage)


def _with_damage(
    database: TinyDatabase,
    lock: DatabaseLock,
    path: Path,
    problems: list[str],
    allow_damage: bool,
) -> TinyDatabase:
    """``database`` as opened: refused (DamagedDatabase) when damage was found, unless
    ``allow_damage``, which opens it for reading only."""
    if problems:
        message = damage_message(path, problems)
        if not allow_damage:
            database.close()
            raise DamagedDatabase(message)
        lock.refusal = message
    return database


def _open_read_only(path: Path, allow_damage: bool) -> TinyDatabase:
    """A database opened for reading only: no lock file, nothing written or upgraded."""
    if not (path / PORTAL_FILE).exists():
        raise NotADatabase(f"There is no cbe database at {path} (and it is read-only).")
    lock = DatabaseLock(path)
    lock.refusal = f"The database at {path} is open read-only: cbe will not write to it."
    main = AtomicJSONStorage(path / MAIN_FILE, lock=lock)
    try:
        found = read_version(main)
    finally:
        main.close()
    if found != SCHEMA_VERSION:
        raise NotADatabase(
            f"The database at {path} has schema version {found}; this cbe reads version "
            f"{SCHEMA_VERSION} read-only. Open a writable copy to upgrade it."
        )
    portal = _load_or_create_portal(path, False, None, SystemClock())
    database = TinyDatabase(path, portal, lock)
    problems = database.completions.verify()
    return _with_damage(database, lock, path, problems, allow_damage)


CHOOSE_FOLDER = (
    "pass --db (or set $CBE_DB to) a new or empty folder for a new database, or the folder of "
    "an existing one"
)


def check_folder(path: Path, create: bool) -> None:
    """Refuse, before locking or writing anything, a folder that is not a cbe database: one
    holding other files (a home directory has dotfiles), another program's ``cbe.json``, or
    cbe's data without its ``portal.json`` (never given a new portal: run ``cbe doctor``)."""
    names = sorted(os.listdir(path))
    ours = {LOCK_FILE}  # a creation that stopped before anything else was written
    present = [n for n in names if n not in ours and not _is_temp_file(n)]
    if PORTAL_FILE not in present:
        if not present:
            if create:
                return
            raise NotADatabase(f"There is no cbe database at {path}.")
        data = [n for n in present if n in DATA_FILES]
        if MAIN_FILE in data and not _is_cbe_main_file(path / MAIN_FILE):
            data.remove(MAIN_FILE)
            if not data:
                raise NotADatabase(
                    f"{path} is not empty and holds no cbe database: its {MAIN_FILE} is not "
                    f"cbe's (another program's file?); {CHOOSE_FOLDER}."
                )
        if data:
            raise DamagedDatabase(
                f"{path} holds a cbe database ({', '.join(data)}) but its {PORTAL_FILE} is "
                f"missing; cbe will not give it a new portal. Restore {PORTAL_FILE} from a "
                f"backup, or run `cbe doctor --db {path} --repair` to give it a new one."
            )
        shown = ", ".join(present[:5]) + (
            f" and {len(present) - 5} more" if len(present) > 5 else ""
        )
        raise NotADatabase(
            f"{path} is not empty and holds no cbe database (found {shown}); {CHOOSE_FOLDER}."
        )
    main = path / MAIN_FILE
    if main.exists() and not _is_cbe_main_file(main, corrupt_ok=True):
        raise NotADatabase(
            f"{main} is not cbe's (another program's file?), so {path} is not a cbe database; "
            f"{CHOOSE_FOLDER}."
        )


DATA_FILES = {MAIN_FILE, COMPLETIONS_DIR, MANIFEST_FILE, REJECTIONS_FILE, TABLES_DIR, OUTBOX_FILE}
"""What a cbe database folder holds besides its portal file."""


def _is_temp_file(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _is_cbe_main_file(path: Path, corrupt_ok: bool = False) -> bool:
    """Whether ``path`` is a TinyDB file of cbe's: an object of tables, its schema version in
    the ``meta`` table. A file that does not parse is cbe's when ``corrupt_ok`` (then opening
    names it as damaged)."""
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return corrupt_ok
    except OSError:
        return corrupt_ok
    if data is None or data == {}:
        return True  # TinyDB's empty file
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        return False
    meta = data.get("meta", {}).get("1")
    return isinstance(meta, dict) and isinstance(meta.get("schemaVersion"), int)


def _remove_leftover_temp_files(folder: Path) -> None:
    """Delete temporary files that a process killed mid-write left; the caller holds the lock,
    so no write is under way and every such file is garbage (its target was never replaced),
    but for a snapshot another process is making outside the lock (storage.tables'
    build_fold): that fold finds its file gone and is let go, its log still whole."""
    for where in (folder, folder / COMPLETIONS_DIR, folder / TABLES_DIR):
        for leftover in where.glob(".*.tmp"):
            leftover.unlink(missing_ok=True)


def _load_or_create_portal(
    folder: Path, create: bool, portal_id: int | None, clock: Clock
) -> Portal:
    portal_file = folder / PORTAL_FILE
    try:
        return Portal.model_validate(orjson.loads(portal_file.read_bytes()))
    except FileNotFoundError:
        pass
    except (orjson.JSONDecodeError, ValueError) as error:
        raise CorruptFile(f"{portal_file} is not a valid portal file: {error}") from error
    if not create:
        raise NotADatabase(f"There is no cbe database at {folder}.")
    portal = Portal.new(clock.now(), portal_id)
    _write_portal(folder, portal)
    return portal


def _write_portal(folder: Path, portal: Portal) -> None:
    # The access token must stay the owner's: the file is written 0600 (mkstemp's mode).
    write_atomically(
        folder / PORTAL_FILE, orjson.dumps(portal.to_json(), option=orjson.OPT_INDENT_2)
    )
    fsync_dir(folder)
