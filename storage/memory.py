"""A database held in memory: every port of core.ports, for tests and throwaway runs.

It keeps core's models as they are (they are never changed in place), so a unit of work is a
copy of the containers taken when it begins and put back when it ends without a commit. One
re-entrant lock stands for the database's lock: a unit holds it from its first read to its
end, and a unit opened inside another joins it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from core.clock import to_epoch_millis
from core.errors import Conflict
from core.models import Association, Completion, CrmRecord, EventDefinition, ObjectType, Portal
from core.outbox import OutboxCounts, OutboxEntry
from core.ports import (
    EVERYTHING,
    CompletionSelection,
    Conversion,
    EventCounts,
    EventSummary,
    EventTally,
    RecordPage,
    Topic,
    ValueCounts,
)
from core.records import page_of
from core.rejections import DEFAULT_BOUND, QuarantineRoom, RejectedRequest
from core.rules import name_taken, uuids_taken
from core.workflow_models import Enrollment, Task, Workflow
from storage.completions.summaries import summarise


@dataclass
class _State:
    """Everything the database holds; copied whole when a unit of work begins."""

    portal: Portal
    definitions: dict[str, EventDefinition] = field(default_factory=dict)
    """By id, in id order."""
    deleted: dict[str, str] = field(default_factory=dict)
    """Deleted definitions' names, with their ids."""
    records: dict[tuple[ObjectType, str], CrmRecord] = field(default_factory=dict)
    associations: list[Association] = field(default_factory=list)
    completions: list[Completion] = field(default_factory=list)
    """In the order they were stored."""
    workflows: dict[str, Workflow] = field(default_factory=dict)
    enrollments: dict[str, Enrollment] = field(default_factory=dict)
    tasks: dict[str, Task] = field(default_factory=dict)
    rejections: list[RejectedRequest] = field(default_factory=list)
    """Oldest first."""
    bound: int = DEFAULT_BOUND
    outbox: dict[str, OutboxEntry] = field(default_factory=dict)
    """By completion id, oldest first."""
    forwarded: int = 0
    relay: tuple[str | None, str | None] = (None, None)
    """The relay's remote and last error."""

    def copy(self) -> _State:
        return replace(
            self,
            definitions=dict(self.definitions),
            deleted=dict(self.deleted),
            records=dict(self.records),
            associations=list(self.associations),
            completions=list(self.completions),
            workflows=dict(self.workflows),
            enrollments=dict(self.enrollments),
            tasks=dict(self.tasks),
            rejections=list(self.rejections),
            outbox=dict(self.outbox),
        )


class _Held:
    """What the repositories share: the state and the lock over it."""

    def __init__(self, portal: Portal) -> None:
        self.state = _State(portal)
        self.lock = threading.RLock()


def _next(ids: Collection[str]) -> str:
    return str(max((int(i) for i in ids), default=0) + 1)


class MemoryDefinitionRepository:
    def __init__(self, held: _Held) -> None:
        self._held = held

    def list_all(self) -> list[EventDefinition]:
        with self._held.lock:
            return sorted(self._held.state.definitions.values(), key=lambda d: int(d.id))

    def get(self, name: str) -> EventDefinition | None:
        with self._held.lock:
            return next((d for d in self._held.state.definitions.values() if d.name == name), None)

    def next_id(self) -> str:
        with self._held.lock:
            state = self._held.state
            return _next([*state.definitions, *state.deleted.values()])

    def insert(self, definition: EventDefinition) -> None:
        with self._held.lock:
            if self.get(definition.name) is not None:
                taken = name_taken(definition.name)
                raise Conflict(taken.message, [taken])
            self._held.state.definitions[definition.id] = definition

    def replace(self, definition: EventDefinition) -> None:
        with self._held.lock:
            self._held.state.definitions[definition.id] = definition

    def delete(self, name: str) -> None:
        with self._held.lock:
            definition = self.get(name)
            if definition is None:
                return
            self._held.state.deleted[name] = definition.id
            del self._held.state.definitions[definition.id]

    def deleted_names(self) -> set[str]:
        with self._held.lock:
            return set(self._held.state.deleted)

    def deleted_ids(self) -> dict[str, str]:
        with self._held.lock:
            return dict(self._held.state.deleted)


class MemoryRecordRepository:
    def __init__(self, held: _Held) -> None:
        self._held = held

    def get(self, object_type: ObjectType, record_id: str) -> CrmRecord | None:
        with self._held.lock:
            return self._held.state.records.get((object_type, record_id))

    def list_records(self, object_type: ObjectType) -> list[CrmRecord]:
        with self._held.lock:
            found = [r for r in self._held.state.records.values() if r.object_type is object_type]
        return sorted(found, key=lambda r: int(r.id))

    def page(
        self,
        object_type: ObjectType,
        text: str | None = None,
        include_archived: bool = False,
        offset: int = 0,
        limit: int | None = None,
    ) -> RecordPage:
        return page_of(self.list_records(object_type), text, include_archived, offset, limit)

    def _contact_by(self, key: str, value: str) -> CrmRecord | None:
        # As the embedded store: an active contact before an archived one, then by id.
        for contact in sorted(
            self.list_records(ObjectType.CONTACT), key=lambda r: (r.archived, int(r.id))
        ):
            held = contact.properties.get(key)
            if held and (held.lower() == value.lower() if key == "email" else held == value):
                return contact
        return None

    def find_contact_by_email(self, email: str) -> CrmRecord | None:
        return self._contact_by("email", email)

    def find_contact_by_utk(self, utk: str) -> CrmRecord | None:
        return self._contact_by("hubspotutk", utk)

    def next_id(self, object_type: ObjectType) -> str:
        with self._held.lock:
            return _next([i for kind, i in self._held.state.records if kind is object_type])

    def insert(self, record: CrmRecord) -> None:
        with self._held.lock:
            self._held.state.records[(record.object_type, record.id)] = record

    def replace(self, record: CrmRecord) -> None:
        self.insert(record)

    def associate(self, association: Association) -> None:
        flipped = _flip(association)
        with self._held.lock:
            known = self._held.state.associations
            if association not in known and flipped not in known:
                known.append(association)

    def associations(self, object_type: ObjectType, record_id: str) -> list[Association]:
        found = []
        with self._held.lock:
            known = list(self._held.state.associations)
        for association in known:
            if association.from_type is object_type and association.from_id == record_id:
                found.append(association)
            elif association.to_type is object_type and association.to_id == record_id:
                found.append(_flip(association))
        return found

    def all_associations(self) -> list[Association]:
        with self._held.lock:
            return list(self._held.state.associations)


def _flip(association: Association) -> Association:
    return Association(
        from_type=association.to_type,
        from_id=association.to_id,
        to_type=association.from_type,
        to_id=association.from_id,
    )


def _key(completion: Completion) -> tuple[int, str]:
    return (to_epoch_millis(completion.occurred_at), completion.id)


def _beyond(key: tuple[int, str], start: tuple[int, str], newest_first: bool) -> bool:
    """Whether a scan that has seen ``start`` goes on to ``key``."""
    return key < start if newest_first else key > start


class MemoryCompletionRepository:
    def __init__(self, held: _Held) -> None:
        self._held = held

    def _all(self) -> list[Completion]:
        with self._held.lock:
            return list(self._held.state.completions)

    def append(self, completions: Sequence[Completion]) -> None:
        with self._held.lock:
            stored = {(c.event_name, c.uuid) for c in self._held.state.completions}
            seen: set[tuple[str, str]] = set()
            taken: set[tuple[str, str]] = set()
            for c in completions:
                key = (c.event_name, c.uuid)
                if c.uuid != c.id and (key in stored or key in seen):
                    taken.add(key)
                seen.add(key)
            if taken:
                raise uuids_taken(taken)
            self._held.state.completions.extend(completions)

    def find(self, key: str) -> list[Completion]:
        found = [c for c in self._all() if key in (c.uuid, c.id)]
        return sorted(found, key=lambda c: (c.received_at, c.id))

    def existing_uuids(self, keys: Collection[tuple[str, str]]) -> set[tuple[str, str]]:
        stored = {(c.event_name, c.uuid) for c in self._all()}
        return {k for k in keys if k in stored}

    def begin_existing_uuids(
        self, keys: Collection[tuple[str, str]]
    ) -> Callable[[], set[tuple[str, str]]]:
        found = self.existing_uuids(keys)  # nothing to wait for
        return lambda: found

    def scan(self, selection: CompletionSelection) -> Iterator[Completion]:
        low = to_epoch_millis(selection.occurred_after) if selection.occurred_after else None
        high = to_epoch_millis(selection.occurred_before) if selection.occurred_before else None
        start = None
        if selection.start_after is not None:
            start = (to_epoch_millis(selection.start_after[0]), selection.start_after[1])
        found = []
        for c in self._all():
            key = _key(c)
            if (
                (selection.object_type is not None and c.object_type is not selection.object_type)
                or (selection.object_type is not None and c.object_id is None)
                or (selection.object_id is not None and c.object_id != selection.object_id)
                or (selection.event_names is not None and c.event_name not in selection.event_names)
                or (selection.tag is not None and c.tag != selection.tag)
                or (low is not None and key[0] < low)
                or (high is not None and key[0] >= high)
                or (
                    start is not None and (key >= start if selection.newest_first else key <= start)
                )
            ):
                continue
            found.append((key, c))
        found.sort(key=lambda pair: pair[0], reverse=selection.newest_first)
        return iter([c for _, c in found])

    def tally(
        self, event_names: Collection[str], boundaries: Sequence[datetime]
    ) -> dict[str, EventTally]:
        edges = [to_epoch_millis(b) for b in boundaries]
        series = {name: [0] * (len(edges) - 1) for name in event_names}
        records: dict[str, set[tuple[ObjectType, str]]] = {name: set() for name in event_names}
        for c in self._all():
            if c.event_name not in series:
                continue
            ms = to_epoch_millis(c.occurred_at)
            for i in range(len(edges) - 1):
                if edges[i] <= ms < edges[i + 1]:
                    series[c.event_name][i] += 1
                    if c.object_id is not None:
                        records[c.event_name].add((c.object_type, c.object_id))
                    break
        return {name: EventTally(series[name], len(records[name])) for name in event_names}

    def event_counts(
        self, event_name: str, occurred_after: datetime, occurred_before: datetime
    ) -> EventCounts | None:
        low, high = to_epoch_millis(occurred_after), to_epoch_millis(occurred_before)
        chosen = [
            (c, ms)
            for c in self._all()
            if c.event_name == event_name and low <= (ms := to_epoch_millis(c.occurred_at)) < high
        ]
        values: ValueCounts = {}
        # The same counting as the embedded store's segment summaries, over the documents.
        summary = summarise((c.to_json() for c, _ in chosen), (ms for _, ms in chosen))
        for days in summary.get(event_name, {}).values():
            for name, counts in days.items():
                target = values.setdefault(name, {})
                for key, n in counts.items():
                    target[key] = target.get(key, 0) + n
        records = {(c.object_type, c.object_id) for c, _ in chosen if c.object_id is not None}
        return EventCounts(completions=len(chosen), records=len(records), values=values)

    def conversions(
        self,
        event_name: str,
        occurred_after: datetime,
        occurred_before: datetime,
        touch_properties: Collection[str],
    ) -> list[Conversion] | None:
        by_record: dict[tuple[ObjectType, str], list[Completion]] = {}
        for c in sorted(self._all(), key=lambda c: (c.occurred_at, c.id)):
            if c.object_id is not None:
                by_record.setdefault((c.object_type, c.object_id), []).append(c)
        found: list[Conversion] = []
        for completions in by_record.values():
            converted = next(
                (
                    i
                    for i, c in enumerate(completions)
                    if c.event_name == event_name
                    and occurred_after <= c.occurred_at < occurred_before
                ),
                None,
            )
            if converted is None:
                continue
            touches = [
                c
                for c in completions[: converted + 1]
                if any(c.properties.get(name) for name in touch_properties)
            ]
            first, last = (touches[0], touches[-1]) if touches else (None, None)
            found.append(Conversion(first_touch=first, last_touch=last))
        return found

    @staticmethod
    def _summed(pairs: Iterator[tuple[Any, datetime]]) -> dict[Any, EventSummary]:
        counted: dict[Any, tuple[int, datetime]] = {}
        for key, at in pairs:
            count, last = counted.get(key, (0, at))
            counted[key] = (count + 1, max(last, at))
        return {key: EventSummary(count, last) for key, (count, last) in counted.items()}

    def summaries(self) -> dict[str, EventSummary]:
        return self._summed((c.event_name, c.occurred_at) for c in self._all())

    def record_summaries(self) -> dict[tuple[ObjectType, str], EventSummary]:
        return self._summed(
            ((c.object_type, c.object_id), c.occurred_at)
            for c in self._all()
            if c.object_id is not None
        )

    def _rewrite(self, change: Any) -> int:
        """Replace each completion by ``change(completion)`` (None: removed); how many changed."""
        with self._held.lock:
            kept: list[Completion] = []
            changed = 0
            for c in self._held.state.completions:
                new = change(c)
                changed += new is not c
                if new is not None:
                    kept.append(new)
            self._held.state.completions = kept
            return changed

    def delete_event(self, event_name: str) -> int:
        return self._rewrite(lambda c: None if c.event_name == event_name else c)

    def delete_tagged(self, tag: str) -> int:
        return self._rewrite(lambda c: None if c.tag == tag else c)

    def attach_visitor(self, utk: str, object_id: str) -> int:
        return self._rewrite(
            lambda c: (
                c.model_copy(update={"object_id": object_id})
                if c.object_id is None and c.utk == utk
                else c
            )
        )

    def rename_events(self, names: Mapping[str, str]) -> int:
        renames = {old: new for old, new in names.items() if old != new}
        return self._rewrite(
            lambda c: (
                c.model_copy(update={"event_name": renames[c.event_name]})
                if c.event_name in renames
                else c
            )
        )


class MemoryWorkflowRepository:
    def __init__(self, held: _Held) -> None:
        self._held = held

    def list_workflows(self) -> list[Workflow]:
        with self._held.lock:
            return sorted(self._held.state.workflows.values(), key=lambda w: int(w.id))

    def get_workflow(self, workflow_id: str) -> Workflow | None:
        with self._held.lock:
            return self._held.state.workflows.get(workflow_id)

    def next_workflow_id(self) -> str:
        with self._held.lock:
            return _next(self._held.state.workflows)

    def save_workflow(self, workflow: Workflow) -> None:
        with self._held.lock:
            self._held.state.workflows[workflow.id] = workflow

    def delete_workflow(self, workflow_id: str) -> None:
        with self._held.lock:
            state = self._held.state
            state.workflows.pop(workflow_id, None)
            state.enrollments = {
                k: e for k, e in state.enrollments.items() if e.workflow_id != workflow_id
            }

    def get_enrollment(self, enrollment_id: str) -> Enrollment | None:
        with self._held.lock:
            return self._held.state.enrollments.get(enrollment_id)

    def save_enrollment(self, enrollment: Enrollment) -> None:
        with self._held.lock:  # a dict keeps the first place of a key saved again
            self._held.state.enrollments[enrollment.id] = enrollment

    def list_enrollments(
        self, workflow_id: str | None, active_only: bool = False
    ) -> list[Enrollment]:
        with self._held.lock:
            found = list(self._held.state.enrollments.values())
        return [
            e
            for e in found
            if (workflow_id is None or e.workflow_id == workflow_id)
            and (e.active or not active_only)
        ]

    def waiting_at(
        self,
        actions: Collection[tuple[str, int]],
        records: Collection[tuple[ObjectType, str]],
    ) -> list[Enrollment]:
        # A scan: a unit of work copies every enrollment here anyway.
        steps, wanted = set(actions), set(records)
        with self._held.lock:
            found = list(self._held.state.enrollments.values())
        return [
            e
            for e in found
            if e.active
            and (e.workflow_id, e.action_index) in steps
            and (e.object_type, e.object_id) in wanted
        ]

    def save_task(self, task: Task) -> None:
        with self._held.lock:
            self._held.state.tasks[task.id] = task

    def tasks_for(self, object_type: ObjectType, object_id: str) -> list[Task]:
        with self._held.lock:
            found = list(self._held.state.tasks.values())
        return [t for t in found if t.object_type is object_type and t.object_id == object_id]

    def all_tasks(self) -> list[Task]:
        with self._held.lock:
            return list(self._held.state.tasks.values())


class MemoryRejectionRepository:
    def __init__(self, held: _Held) -> None:
        self._held = held

    @property
    def bound(self) -> int:
        return self._held.state.bound

    def set_bound(self, bound: int) -> None:
        with self._held.lock:
            self._held.state.bound = bound
            self._trim()

    def _trim(self) -> None:
        state = self._held.state
        if len(state.rejections) <= state.bound:
            return
        room = QuarantineRoom(state.bound)
        kept: list[RejectedRequest] = []
        for request in reversed(state.rejections):
            admitted = room.admit(request)
            if admitted is None:
                break
            if admitted:
                kept.append(request)
        state.rejections = kept[::-1]

    def add(self, requests: Sequence[RejectedRequest]) -> None:
        with self._held.lock:
            self._held.state.rejections.extend(requests)
            self._trim()

    def list_all(self) -> list[RejectedRequest]:
        with self._held.lock:
            return list(reversed(self._held.state.rejections))

    def remove(self, ids: Collection[str]) -> int:
        wanted = set(ids)
        with self._held.lock:
            state = self._held.state
            kept = [r for r in state.rejections if r.id not in wanted]
            gone = len(state.rejections) - len(kept)
            state.rejections = kept
            return gone


class MemoryOutboxRepository:
    def __init__(self, held: _Held) -> None:
        self._held = held

    def add(self, entries: Sequence[OutboxEntry]) -> None:
        with self._held.lock:
            outbox = self._held.state.outbox
            for entry in entries:
                outbox.setdefault(entry.id, entry)

    def owed(self, limit: int) -> list[OutboxEntry]:
        with self._held.lock:
            return [e for e in self._held.state.outbox.values() if e.refused is None][:limit]

    def settle(self, sent: Collection[str], refused: Mapping[str, str]) -> None:
        with self._held.lock:
            state = self._held.state
            for key in sent:
                if state.outbox.pop(key, None) is not None:
                    state.forwarded += 1
            for key, answer in refused.items():
                if key in state.outbox:
                    state.outbox[key] = replace(state.outbox[key], refused=answer)

    def refused(self) -> list[OutboxEntry]:
        with self._held.lock:
            return [e for e in self._held.state.outbox.values() if e.refused is not None]

    def requeue(self, ids: Collection[str] | None = None) -> int:
        with self._held.lock:
            outbox = self._held.state.outbox
            again = [
                k for k, e in outbox.items() if e.refused is not None and (ids is None or k in ids)
            ]
            for key in again:
                outbox[key] = replace(outbox[key], refused=None)
            return len(again)

    def counts(self) -> OutboxCounts:
        with self._held.lock:
            state = self._held.state
            refused = sum(1 for e in state.outbox.values() if e.refused is not None)
            return OutboxCounts(len(state.outbox) - refused, state.forwarded, refused, *state.relay)

    def note_relay(self, remote: str, last_error: str | None) -> None:
        with self._held.lock:
            self._held.state.relay = (remote, last_error)


class _Unit:
    """A unit of work on a memory database (core.ports.UnitOfWork)."""

    def __init__(self, database: MemoryDatabase, outermost: bool) -> None:
        self._database = database
        self._outermost = outermost

    def commit(self) -> None:
        if self._outermost:  # what is written from here on is a new change
            self._database._committed = self._database._held.state.copy()


def _identities(values: Any) -> tuple[int, ...]:
    """What a container holds, by identity: models are replaced, never changed in place."""
    items = values.values() if isinstance(values, dict) else values
    return tuple(map(id, items))


def _fingerprint(state: _State) -> dict[Topic, object]:
    return {
        Topic.COMPLETIONS: _identities(state.completions),
        Topic.RECORDS: (_identities(state.records), _identities(state.associations)),
        Topic.WORKFLOWS: tuple(map(_identities, (state.workflows, state.enrollments, state.tasks))),
        Topic.DEFINITIONS: (id(state.portal), _identities(state.definitions), len(state.deleted)),
        Topic.OUTBOX: (_identities(state.outbox), state.forwarded, state.relay),
        Topic.REJECTIONS: (_identities(state.rejections), state.bound),
    }


class MemoryWatcher:
    """A :class:`core.ports.StoreWatcher` of a memory database: what it holds, compared by
    identity every few milliseconds (a test's database is small)."""

    INTERVAL = 0.02

    def __init__(self, held: _Held) -> None:
        self._held = held
        self._closed = threading.Event()
        self._seen = self._look() or {}

    def _look(self) -> dict[Topic, object] | None:
        # A unit of work holds the lock to its end: look again later rather than wait.
        if not self._held.lock.acquire(timeout=self.INTERVAL):
            return None
        try:
            return _fingerprint(self._held.state)
        finally:
            self._held.lock.release()

    def wait(self, timeout: float) -> frozenset[Topic]:
        deadline = time.monotonic() + timeout
        while not self._closed.is_set():
            now = self._look()
            if now is not None:
                changed = frozenset(t for t in EVERYTHING if now[t] != self._seen.get(t))
                self._seen = now
                if changed:
                    return changed
            left = deadline - time.monotonic()
            if left <= 0:
                return frozenset()
            self._closed.wait(min(self.INTERVAL, left))
        return frozenset()

    def close(self) -> None:
        self._closed.set()


class MemoryDatabase:
    """One portal's data in memory; implements :class:`core.ports.Database`."""

    def __init__(self, portal: Portal) -> None:
        self._held = _Held(portal)
        self._depth = 0
        self._committed: _State | None = None
        self._definitions = MemoryDefinitionRepository(self._held)
        self._records = MemoryRecordRepository(self._held)
        self._completions = MemoryCompletionRepository(self._held)
        self._workflows = MemoryWorkflowRepository(self._held)
        self._rejections = MemoryRejectionRepository(self._held)
        self._outbox = MemoryOutboxRepository(self._held)

    @property
    def portal(self) -> Portal:
        return self._held.state.portal

    def replace_portal(self, portal: Portal) -> None:
        with self._held.lock:
            self._held.state.portal = portal

    @property
    def name(self) -> str:
        return "in memory"

    @property
    def definitions(self) -> MemoryDefinitionRepository:
        return self._definitions

    @property
    def completions(self) -> MemoryCompletionRepository:
        return self._completions

    @property
    def records(self) -> MemoryRecordRepository:
        return self._records

    @property
    def workflows(self) -> MemoryWorkflowRepository:
        return self._workflows

    @property
    def rejections(self) -> MemoryRejectionRepository:
        return self._rejections

    @property
    def outbox(self) -> MemoryOutboxRepository:
        return self._outbox

    @contextmanager
    def transaction(self) -> Iterator[_Unit]:
        with self._held.lock:
            outermost = self._depth == 0
            if outermost:
                self._committed = self._held.state.copy()
            self._depth += 1
            try:
                yield _Unit(self, outermost)
            finally:
                self._depth -= 1
                if outermost:
                    committed, self._committed = self._committed, None
                    assert committed is not None
                    self._held.state = committed  # as of the last commit (or the start)

    def watch(self) -> MemoryWatcher:
        """A watcher of what this database holds (core.ports.Watchable)."""
        return MemoryWatcher(self._held)

    def close(self) -> None:
        pass
