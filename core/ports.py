"""The repository protocols (ports) that storage adapters implement, and the unit of work.

Every method is safe to call from several processes at once. A use case that reads, decides and
writes does so in one unit of work (:meth:`Database.transaction`): what it writes is kept only
when it calls :meth:`UnitOfWork.commit`; leaving the unit without committing (an exception, a
refusal) leaves the database as it was. What must survive a refusal (the quarantine of refused
requests) is written in a unit of its own, after the refused one has ended.

A repository's write outside any unit is a unit of its own (committed when it returns).

A store may also tell when it changed (:class:`Watchable`, an optional capability): the app
refreshes what it shows when any process stored something, instead of reading again on a timer.

Adapters (``storage``): the embedded TinyDB folder, the default, and one in memory; where and
how a database is kept (a folder, its warm-ups) is theirs and the composition root's
(``cli.bootstrap``), not core's. Every adapter passes one contract suite (``tests/contract``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from core.models import (
    Association,
    Completion,
    CrmRecord,
    EventDefinition,
    ObjectType,
    Portal,
)
from core.outbox import OutboxRepository
from core.rejections import RejectionRepository
from core.workflow_models import Enrollment, Task, Workflow


class DefinitionRepository(Protocol):
    """Event definitions, and the names of deleted ones (which are never used again)."""

    def list_all(self) -> list[EventDefinition]:
        """Every definition, archived ones included, oldest first."""
        ...

    def get(self, name: str) -> EventDefinition | None:
        """The definition with internal name ``name``."""
        ...

    def next_id(self) -> str:
        """A new definition id, never handed out before."""
        ...

    def insert(self, definition: EventDefinition) -> None:
        """Store a new definition; raises :class:`core.errors.Conflict` if the name exists."""
        ...

    def replace(self, definition: EventDefinition) -> None:
        """Overwrite the stored definition with the same name."""
        ...

    def delete(self, name: str) -> None:
        """Remove a definition and remember its name as used."""
        ...

    def deleted_names(self) -> set[str]:
        """Names of deleted definitions."""
        ...

    def deleted_ids(self) -> dict[str, str]:
        """Each deleted definition's name with the id it had (what :meth:`next_id` never
        hands out again), in the order they were deleted: what a copy of the portal keeps."""
        ...


@dataclass(frozen=True)
class CompletionSelection:
    """What a scan of completions covers; the parts an index can serve.

    ``occurred_after`` is inclusive and ``occurred_before`` exclusive. ``start_after`` is the sort
    key ``(occurred_at, id)`` of the last completion already seen: the scan continues beyond it.
    """

    object_type: ObjectType | None = None
    object_id: str | None = None
    event_names: frozenset[str] | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None
    tag: str | None = None
    """Only completions a test run sent with this tag (a store may narrow by an index; the
    caller checks each completion's tag too)."""
    newest_first: bool = True
    start_after: tuple[datetime, str] | None = None


@dataclass(frozen=True)
class EventSummary:
    """How often an event was completed and when last."""

    count: int
    last_occurred_at: datetime | None


@dataclass(frozen=True)
class EventTally:
    """One event's completions per interval, and how many distinct records made them."""

    series: list[int]
    records: int
    """Distinct records over all the intervals; anonymous visitors are not counted."""


# -- sent values, counted (issue 18: the event report without reading documents) -----------

ValueCounts = dict[str, dict[tuple[str, tuple[str, ...]], int]]
"""Per property name: how many completions sent each value, keyed by the value as the JSON it
was stored as (``"a"``, ``3``, ``3.0`` and ``true`` apart) and which of its values were
unusable (``()``: none)."""


@dataclass(frozen=True)
class EventCounts:
    """An event's completions in a period, counted by a store."""

    completions: int
    records: int
    """Distinct records (anonymous visitors aside)."""
    values: ValueCounts


@dataclass(frozen=True)
class Conversion:
    """A record's first completion of an event in a period, as attribution sees it: its first
    and last touch up to that completion (itself included), both None when it had none."""

    first_touch: Completion | None
    last_touch: Completion | None


class CompletionRepository(Protocol):
    """The append-only store of completions."""

    def append(self, completions: Sequence[Completion]) -> None:
        """Store all of ``completions`` or none of them; durable when this returns.

        Raises :class:`core.errors.Conflict` when an ``(event_name, uuid)`` is already stored.
        """
        ...

    def find(self, key: str) -> list[Completion]:
        """The completions whose uuid or id is ``key``, oldest first (a trace's lookup)."""
        ...

    def existing_uuids(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which ``(event_name, uuid)`` pairs are already stored."""
        ...

    def begin_existing_uuids(
        self, keys: Collection[tuple[str, str]]
    ) -> Callable[[], set[tuple[str, str]]]:
        """:meth:`existing_uuids`, begun now and answered when the result is called: a store
        whose lookup waits for a server may let the caller go on meanwhile (ingest validates
        the inputs while PostgreSQL claims their uuids). The answer is the one
        :meth:`existing_uuids` would give now; the caller calls it before anything else of
        its unit of work writes."""
        ...

    def scan(self, selection: CompletionSelection) -> Iterator[Completion]:
        """Completions in ``selection``, ordered by ``(occurred_at, id)`` as it asks."""
        ...

    def tally(
        self, event_names: Collection[str], boundaries: Sequence[datetime]
    ) -> dict[str, EventTally]:
        """For each event: completions in each interval ``[boundaries[i], boundaries[i+1])``
        and distinct records over ``[boundaries[0], boundaries[-1])``; counts only, which a
        store serves from its indexes without reading documents."""
        ...

    def summaries(self) -> dict[str, EventSummary]:
        """Count and last completion per event (fully qualified) name."""
        ...

    def event_counts(
        self, event_name: str, occurred_after: datetime, occurred_before: datetime
    ) -> EventCounts | None:
        """The event's completions in ``[occurred_after, occurred_before)``, its distinct
        records and the values of each property sent with them (see :data:`ValueCounts`), from
        counts a store keeps rather than by reading documents; None when it cannot tell (a
        bound that is not a UTC midnight): the caller then reads the completions."""
        ...

    def conversions(
        self,
        event_name: str,
        occurred_after: datetime,
        occurred_before: datetime,
        touch_properties: Collection[str],
    ) -> list[Conversion] | None:
        """One :class:`Conversion` per record (anonymous visitors aside) with a completion of
        the event in ``[occurred_after, occurred_before)``; a touch is a completion of any
        event, ordered by ``(occurred_at, id)``, where one of ``touch_properties`` has a value
        that is not empty (true in Python). None when the store cannot tell (as
        :meth:`event_counts`)."""
        ...

    def record_summaries(self) -> dict[tuple[ObjectType, str], EventSummary]:
        """Count and last completion per record ``(object type, id)``."""
        ...

    def delete_event(self, event_name: str) -> int:
        """Remove every completion of an event; returns how many there were."""
        ...

    def attach_visitor(self, utk: str, object_id: str) -> int:
        """Give an anonymous visitor's completions (by ``utk``) to contact ``object_id``.

        Called outside a unit of work, an adapter may do most of the rewrite before it takes
        the lock (the embedded store writes the new files first, then swaps them in)."""
        ...

    def delete_tagged(self, tag: str) -> int:
        """Remove the completions a test run sent with ``tag``; returns how many there were."""
        ...

    def rename_events(self, names: Mapping[str, str]) -> int:
        """Give every completion of event ``old`` (fully qualified) the name ``names[old]``, as
        one change under the lock (a portal's new id); returns how many were renamed."""
        ...


@dataclass(frozen=True)
class RecordPage:
    """Some of the records that match a search, and how many match in all."""

    records: list[CrmRecord]
    total: int


class RecordRepository(Protocol):
    """CRM records and their associations."""

    def get(self, object_type: ObjectType, record_id: str) -> CrmRecord | None: ...

    def list_records(self, object_type: ObjectType) -> list[CrmRecord]:
        """All records of a type, archived ones included, by id."""
        ...

    def page(
        self,
        object_type: ObjectType,
        text: str | None = None,
        include_archived: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> RecordPage:
        """The records of a type by id (archived ones only when ``include_archived``) that
        match ``text`` as :func:`core.records.matches_search` says (every one when it is
        empty or None): the ``offset``-th match on, at most ``limit`` of them (None: all), and
        how many match in all. A store answers without making a record of every match (the
        Records list's first screen and its search at 100,000 contacts)."""
        ...

    def find_contact_by_email(self, email: str) -> CrmRecord | None:
        """The contact with this email, compared case-insensitively."""
        ...

    def find_contact_by_utk(self, utk: str) -> CrmRecord | None: ...

    def next_id(self, object_type: ObjectType) -> str: ...

    def insert(self, record: CrmRecord) -> None: ...

    def replace(self, record: CrmRecord) -> None: ...

    def associate(self, association: Association) -> None: ...

    def associations(self, object_type: ObjectType, record_id: str) -> list[Association]:
        """Associations from or to a record, as seen from that record."""
        ...

    def all_associations(self) -> list[Association]:
        """Every association once, as it was made (from the record it was made from), oldest
        first: what a copy of the portal reads."""
        ...


class WorkflowRepository(Protocol):
    """Workflows, their enrollments and the tasks they created."""

    def list_workflows(self) -> list[Workflow]: ...

    def get_workflow(self, workflow_id: str) -> Workflow | None: ...

    def next_workflow_id(self) -> str: ...

    def save_workflow(self, workflow: Workflow) -> None: ...

    def delete_workflow(self, workflow_id: str) -> None:
        """Remove a workflow with its enrollments (tasks already created stay)."""
        ...

    def get_enrollment(self, enrollment_id: str) -> Enrollment | None: ...

    def save_enrollment(self, enrollment: Enrollment) -> None: ...

    def list_enrollments(
        self, workflow_id: str | None, active_only: bool = False
    ) -> list[Enrollment]: ...

    def waiting_at(
        self,
        actions: Collection[tuple[str, int]],
        records: Collection[tuple[ObjectType, str]],
    ) -> list[Enrollment]:
        """The active enrollments of ``records`` whose current action is one of ``actions``
        (a workflow's id and the action's index), in the order they were first saved.

        Ingestion asks for the records it stored completions of, at the "delay until event
        happens" actions that await those events: its cost follows what it finds, never how
        many enrollments are stored (an adapter keeps them indexed by workflow, action and
        record)."""
        ...

    def save_task(self, task: Task) -> None:
        """Store a task; a task with the same id is replaced, never doubled."""
        ...

    def tasks_for(self, object_type: ObjectType, object_id: str) -> list[Task]: ...

    def all_tasks(self) -> list[Task]:
        """Every task, of every record, oldest first: what a copy of the portal reads."""
        ...


class Preferences(Protocol):
    """What one person chose and wants remembered (a timeline's filter, say)."""

    def load(self, key: str) -> dict[str, Any] | None:
        """The value saved under ``key``, if any."""
        ...

    def save(self, key: str, value: dict[str, Any]) -> None:
        """Remember ``value`` under ``key``."""
        ...


class MemoryPreferences:
    """Preferences kept for the life of the process (tests, and when nothing else is set)."""

    def __init__(self) -> None:
        self._values: dict[str, dict[str, Any]] = {}

    def load(self, key: str) -> dict[str, Any] | None:
        return self._values.get(key)

    def save(self, key: str, value: dict[str, Any]) -> None:
        self._values[key] = value


class UnitOfWork(Protocol):
    """One change to the database: all of it, or (without :meth:`commit`) none of it."""

    def commit(self) -> None:
        """Keep what the unit wrote: durable once the unit's ``with`` block has ended.

        Raises :class:`core.errors.StorageUnavailable` (nothing kept) when it cannot be written.
        """
        ...


class Database(Protocol):
    """One portal's data, as a use case sees it."""

    @property
    def portal(self) -> Portal: ...

    def replace_portal(self, portal: Portal) -> None:
        """Store ``portal`` (a new portal id) durably; the caller holds the transaction."""
        ...

    @property
    def name(self) -> str:
        """What people call this database (a title shows it): a folder's name, say."""
        ...

    @property
    def definitions(self) -> DefinitionRepository: ...

    @property
    def completions(self) -> CompletionRepository: ...

    @property
    def records(self) -> RecordRepository: ...

    @property
    def workflows(self) -> WorkflowRepository: ...

    @property
    def rejections(self) -> RejectionRepository: ...

    @property
    def outbox(self) -> OutboxRepository:
        """What ``cbe serve --forward`` owes a remote portal (core.forwarding)."""
        ...

    def transaction(self) -> AbstractContextManager[UnitOfWork]:
        """A unit of work: what is written inside is kept only when the unit is committed;
        leaving it without :meth:`UnitOfWork.commit` (an exception included) rolls it back.

        The unit holds the database's lock, so no other process or thread writes between its
        reads and its writes. A unit opened inside another (by the same thread) joins it: only
        the outermost one commits or rolls back, so a use case may call another.

        Rewrites of stored completions (:meth:`CompletionRepository.delete_event`,
        ``attach_visitor``, ``delete_tagged``, ``rename_events``) and the quarantine's writes
        may be durable when they return, in a unit or not, and outlast its rollback (the
        embedded store rewrites those files at once): a use case does them after every check
        that may refuse.
        """
        ...

    def close(self) -> None:
        """Release files and caches."""
        ...


# -- the store changed (an optional capability: the app's live updates) -----------------------


class Topic(StrEnum):
    """What a change to the store touched, as a :class:`StoreWatcher` reports it."""

    COMPLETIONS = "completions"
    RECORDS = "records"
    """Records and their associations."""
    WORKFLOWS = "workflows"
    """Workflows, their enrollments and the tasks they created."""
    DEFINITIONS = "definitions"
    """Event definitions, the portal and its settings."""
    OUTBOX = "outbox"
    """What ``cbe serve --forward`` owes a remote portal, and how its relay stands."""
    REJECTIONS = "rejections"
    """The quarantine of refused requests."""


EVERYTHING: frozenset[Topic] = frozenset(Topic)
"""What a watcher reports when it cannot tell what changed (it may have missed changes)."""


class StoreWatcher(Protocol):
    """Tells when any process (this one included) changed the store.

    Used by one thread, which closes it once it stops waiting.
    """

    def wait(self, timeout: float) -> frozenset[Topic]:
        """Block up to ``timeout`` seconds until the store changes; return what changed since
        the watcher was made or the last call returned, or an empty set when nothing did in
        time. :data:`EVERYTHING` when changes may have been missed (a watcher that lost its
        connection reports it once it is back), so a reader reads everything again."""
        ...

    def close(self) -> None:
        """Stop watching and release what the watcher holds (a connection)."""
        ...


@runtime_checkable
class Watchable(Protocol):
    """A :class:`Database` that can tell when it changed; one without this capability is read
    again on a timer."""

    def watch(self) -> StoreWatcher:
        """A new watcher of this database: changes committed after this call are reported."""
        ...
