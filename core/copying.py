"""Copying a whole portal from one database to another (``cbe copy``), through the ports only.

What is copied: the portal (id, access token, creation), the quarantine's bound, event
definitions and the names (and ids) of deleted ones, CRM records and their associations,
workflows, enrollments and tasks, completions, rejected requests and what ``--forward`` still
owes or had refused. Nothing is read from the source but through its ports, and nothing is
written to it; the destination is written in units of work of at most ``batch`` items.

**Resumable.** A copy stopped part-way (killed, a full disk) leaves whole batches in the
destination; the next run finds them and goes on. Definitions, records, workflows, enrollments,
tasks, rejected requests and outbox entries are matched by id; completions are copied oldest
first (by ``(occurred_at, id)``) and a run goes on after the destination's newest. Before it
writes anything, a run checks that the destination is empty or holds only this source's data,
as a copy wrote it (the same portal and access token, every item equal to the source's, no
more completions than it): anything else is refused, and nothing written.

**Verified.** At the end the counts of each kind are read again from both and compared.

The source should not be written to while it is copied (stop ``cbe serve`` on it): what
arrives meanwhile may be missed, and the counts then say so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from core.errors import CbeError
from core.models import Association, EventDefinition, ObjectType
from core.outbox import OutboxEntry
from core.ports import CompletionSelection, Database

T = TypeVar("T")

Progress = Callable[[str, int, int], None]
"""Told ``(kind, done, total)`` as a kind is copied: ``done`` counts what the destination holds
of it (what an earlier run copied included) out of the source's ``total``."""

DEFINITIONS = "definitions"
DELETED = "deleted definitions"
ASSOCIATIONS = "associations"
WORKFLOWS = "workflows"
ENROLLMENTS = "enrollments"
TASKS = "tasks"
COMPLETIONS = "completions"
REJECTED = "rejected requests"
OWED = "outbox owed"
REFUSED = "outbox refused"

KINDS: tuple[str, ...] = (
    DEFINITIONS,
    DELETED,
    *(t.plural for t in ObjectType),
    ASSOCIATIONS,
    WORKFLOWS,
    ENROLLMENTS,
    TASKS,
    COMPLETIONS,
    REJECTED,
    OWED,
    REFUSED,
)
"""What a copy counts, in the order it copies them (records by object type: contacts, ...)."""

DEFAULT_BATCH = 2000


class CopyRefused(CbeError):
    """The destination holds data that is not this copy's: nothing was written."""


@dataclass(frozen=True)
class KindCount:
    """One kind of data: how much the source holds, the destination holds (after the copy),
    and how much this run wrote."""

    kind: str
    source: int
    destination: int
    copied: int = 0

    @property
    def matches(self) -> bool:
        return self.source == self.destination


@dataclass(frozen=True)
class CopyReport:
    """What a copy did, and whether the destination now holds what the source does."""

    portal_id: int
    counts: list[KindCount]
    resumed: bool
    """The destination held part of the copy already (an earlier run was stopped)."""
    portal_matches: bool
    """The destination has the source's portal (id, access token) and quarantine bound."""

    @property
    def verified(self) -> bool:
        """Every count is the same on both sides, and so is the portal."""
        return self.portal_matches and all(c.matches for c in self.counts)

    @property
    def copied(self) -> int:
        return sum(c.copied for c in self.counts)


def portal_counts(db: Database) -> dict[str, int]:
    """How many of each kind (:data:`KINDS`) ``db`` holds, from its cheapest answers."""
    outbox = db.outbox.counts()
    counts = {
        DEFINITIONS: len(db.definitions.list_all()),
        DELETED: len(db.definitions.deleted_ids()),
        ASSOCIATIONS: len(db.records.all_associations()),
        WORKFLOWS: len(db.workflows.list_workflows()),
        ENROLLMENTS: len(db.workflows.list_enrollments(None)),
        TASKS: len(db.workflows.all_tasks()),
        COMPLETIONS: sum(s.count for s in db.completions.summaries().values()),
        REJECTED: len(db.rejections.list_all()),
        OWED: outbox.owed,
        REFUSED: outbox.refused,
    }
    for object_type in ObjectType:
        counts[object_type.plural] = len(db.records.list_records(object_type))
    return {kind: counts[kind] for kind in KINDS}


def copy_portal(
    source: Database,
    destination: Database,
    *,
    batch: int = DEFAULT_BATCH,
    progress: Progress | None = None,
) -> CopyReport:
    """Copy everything of ``source``'s portal into ``destination`` (new or empty, or holding
    a stopped copy of this source, which is finished) and compare the counts.

    Raises :class:`CopyRefused` before writing anything when the destination holds other
    data. Raises what the destination raises when it cannot be written (a full disk): what
    whole batches wrote stays, and the next run goes on from there.
    """
    if batch < 1:
        raise ValueError("A batch holds at least one item.")
    before = portal_counts(source)
    held = portal_counts(destination)
    resumed = any(held.values())
    if resumed:
        _check_destination(source, destination, before)
    copier = _Copier(source, destination, batch, before, progress or (lambda *_: None))
    copier.run()
    after_source = portal_counts(source)
    after = portal_counts(destination)
    return CopyReport(
        portal_id=source.portal.portal_id,
        counts=[
            KindCount(kind, after_source[kind], after[kind], copier.copied.get(kind, 0))
            for kind in KINDS
        ],
        resumed=resumed,
        portal_matches=destination.portal == source.portal
        and destination.rejections.bound == source.rejections.bound,
    )


# -- the check before writing ---------------------------------------------------------------


def _check_destination(source: Database, destination: Database, counts: dict[str, int]) -> None:
    """Refuse a destination that holds anything but a part of this source, as copied."""
    theirs, ours = destination.portal, source.portal
    if theirs.portal_id != ours.portal_id:
        _refuse(destination, f"portal {theirs.portal_id}'s data, not portal {ours.portal_id}'s")
    if theirs.access_token != ours.access_token:
        _refuse(
            destination,
            f"other data of portal {ours.portal_id} (another database with this portal id, "
            "not a copy of this one)",
        )
    _same_items(
        destination,
        DEFINITIONS,
        {d.id: d for d in destination.definitions.list_all()},
        {d.id: d for d in source.definitions.list_all()},
    )
    deleted = source.definitions.deleted_ids()
    _same_items(destination, DELETED, destination.definitions.deleted_ids(), deleted)
    for object_type in ObjectType:
        _same_items(
            destination,
            object_type.plural,
            {r.id: r for r in destination.records.list_records(object_type)},
            {r.id: r for r in source.records.list_records(object_type)},
        )
    links = {_link(a) for a in source.records.all_associations()}
    if any(_link(a) not in links for a in destination.records.all_associations()):
        _refuse(destination, "associations the source does not have")
    _same_items(
        destination,
        WORKFLOWS,
        {w.id: w for w in destination.workflows.list_workflows()},
        {w.id: w for w in source.workflows.list_workflows()},
    )
    _same_items(
        destination,
        ENROLLMENTS,
        {e.id: e for e in destination.workflows.list_enrollments(None)},
        {e.id: e for e in source.workflows.list_enrollments(None)},
    )
    _same_items(
        destination,
        TASKS,
        {t.id: t for t in destination.workflows.all_tasks()},
        {t.id: t for t in source.workflows.all_tasks()},
    )
    _same_items(
        destination,
        REJECTED,
        {r.id: r for r in destination.rejections.list_all()},
        {r.id: r for r in source.rejections.list_all()},
    )
    _same_items(
        destination,
        "outbox entries",
        {e.id: e for e in _outbox(destination)},
        {e.id: e for e in _outbox(source)},
    )
    _check_completions(source, destination, counts[COMPLETIONS])


def _check_completions(source: Database, destination: Database, total: int) -> None:
    """The destination's completions must be the source's first ones (by time): its newest is
    the source's, and it holds no more of any event than the source."""
    newest = next(destination.completions.scan(CompletionSelection(newest_first=True)), None)
    if newest is None:
        return
    if newest not in source.completions.find(newest.id):
        _refuse(destination, f"completion {newest.id}, which the source does not have as it is")
    theirs = destination.completions.summaries()
    ours = source.completions.summaries()
    for event, summary in theirs.items():
        if summary.count > (ours[event].count if event in ours else 0):
            _refuse(destination, f"more completions of {event} than the source")
    if sum(s.count for s in theirs.values()) > total:
        _refuse(destination, "more completions than the source")


def _same_items(destination: Database, kind: str, theirs: dict[str, T], ours: dict[str, T]) -> None:
    for key, item in theirs.items():
        if key not in ours:
            _refuse(destination, f"{kind} the source does not have ({key!r})")
        if ours[key] != item:
            _refuse(destination, f"{kind} that differ from the source's ({key!r})")


def _refuse(destination: Database, what: str) -> None:
    raise CopyRefused(
        f"The destination {destination.name} holds {what}. cbe copy writes only into a new or "
        "empty database, or finishes a copy of this same source that was stopped. Copy into "
        "another (new) database, or delete this one first; nothing was written to it."
    )


def _outbox(db: Database) -> list[OutboxEntry]:
    counts = db.outbox.counts()
    return [*db.outbox.owed(counts.owed), *db.outbox.refused()]


# -- the copy -------------------------------------------------------------------------------


def _link(association: Association) -> tuple[str, str, str, str]:
    a = association
    return (a.from_type.value, a.from_id, a.to_type.value, a.to_id)


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Copier:
    def __init__(
        self,
        source: Database,
        destination: Database,
        batch: int,
        totals: dict[str, int],
        progress: Progress,
    ) -> None:
        self.source = source
        self.destination = destination
        self.batch = batch
        self.totals = totals
        self.progress = progress
        self.copied: dict[str, int] = {}

    def run(self) -> None:
        source, destination = self.source, self.destination
        if destination.portal != source.portal:  # first: it marks the data that follows
            with destination.transaction() as unit:
                destination.replace_portal(source.portal)
                unit.commit()
        if destination.rejections.bound != source.rejections.bound:
            destination.rejections.set_bound(source.rejections.bound)
        self._definitions()
        for object_type in ObjectType:
            self._by_id(
                object_type.plural,
                {r.id: r for r in source.records.list_records(object_type)},
                {r.id for r in destination.records.list_records(object_type)},
                destination.records.insert,
            )
        held = {_link(a) for a in destination.records.all_associations()}
        self._each(
            ASSOCIATIONS,
            [a for a in source.records.all_associations() if _link(a) not in held],
            destination.records.associate,
        )
        self._by_id(
            WORKFLOWS,
            {w.id: w for w in source.workflows.list_workflows()},
            {w.id for w in destination.workflows.list_workflows()},
            destination.workflows.save_workflow,
        )
        self._by_id(
            ENROLLMENTS,
            {e.id: e for e in source.workflows.list_enrollments(None)},
            {e.id for e in destination.workflows.list_enrollments(None)},
            destination.workflows.save_enrollment,
        )
        self._by_id(
            TASKS,
            {t.id: t for t in source.workflows.all_tasks()},
            {t.id for t in destination.workflows.all_tasks()},
            destination.workflows.save_task,
        )
        self._completions()
        self._rejections()
        self._outbox()

    # -- helpers ----------------------------------------------------------------------------

    def _each(self, kind: str, missing: Sequence[T], write: Callable[[T], None]) -> None:
        """Write ``missing`` (what the destination lacks of ``kind``) in units of a batch."""
        total = self.totals[kind]
        done = total - len(missing)
        self.progress(kind, done, total)
        for chunk in _batches(missing, self.batch):
            with self.destination.transaction() as unit:
                for item in chunk:
                    write(item)
                unit.commit()
            done += len(chunk)
            self.copied[kind] = self.copied.get(kind, 0) + len(chunk)
            self.progress(kind, done, total)

    def _by_id(
        self, kind: str, ours: dict[str, T], theirs: set[str], write: Callable[[T], None]
    ) -> None:
        self._each(kind, [item for key, item in ours.items() if key not in theirs], write)

    def _definitions(self) -> None:
        source, destination = self.source, self.destination
        self._by_id(
            DEFINITIONS,
            {d.id: d for d in source.definitions.list_all()},
            {d.id for d in destination.definitions.list_all()},
            destination.definitions.insert,
        )
        # A deleted name is kept as the port keeps one: a definition deleted (in one unit, so
        # it is never seen), which keeps its id from being handed out again.
        portal = source.portal

        def forget(pair: tuple[str, str]) -> None:
            name, definition_id = pair
            destination.definitions.insert(
                EventDefinition(
                    id=definition_id,
                    name=name,
                    label=name,
                    fully_qualified_name=f"pe{portal.portal_id}_{name}",
                    created_at=portal.created_at,
                    updated_at=portal.created_at,
                )
            )
            destination.definitions.delete(name)

        held = destination.definitions.deleted_ids()
        self._each(
            DELETED,
            [(n, i) for n, i in source.definitions.deleted_ids().items() if n not in held],
            forget,
        )

    def _completions(self) -> None:
        """Oldest first, after the destination's newest: a stopped copy holds a prefix."""
        destination = self.destination
        total = self.totals[COMPLETIONS]
        newest = next(destination.completions.scan(CompletionSelection(newest_first=True)), None)
        done = sum(s.count for s in destination.completions.summaries().values())
        self.progress(COMPLETIONS, done, total)
        start = None if newest is None else (newest.occurred_at, newest.id)
        scan = self.source.completions.scan(
            CompletionSelection(newest_first=False, start_after=start)
        )
        for chunk in _batches(scan, self.batch):
            with destination.transaction() as unit:
                destination.completions.append(chunk)
                unit.commit()
            done += len(chunk)
            self.copied[COMPLETIONS] = self.copied.get(COMPLETIONS, 0) + len(chunk)
            self.progress(COMPLETIONS, done, total)

    def _rejections(self) -> None:
        """Oldest first, as they were kept; the quarantine's writes are their own units."""
        held = {r.id for r in self.destination.rejections.list_all()}
        missing = [r for r in reversed(self.source.rejections.list_all()) if r.id not in held]
        total = self.totals[REJECTED]
        done = total - len(missing)
        self.progress(REJECTED, done, total)
        for chunk in _batches(missing, self.batch):
            self.destination.rejections.add(chunk)
            done += len(chunk)
            self.copied[REJECTED] = self.copied.get(REJECTED, 0) + len(chunk)
            self.progress(REJECTED, done, total)

    def _outbox(self) -> None:
        source, destination = self.source, self.destination
        held = {e.id for e in _outbox(destination)}
        for kind, entries in (
            (OWED, source.outbox.owed(source.outbox.counts().owed)),
            (REFUSED, source.outbox.refused()),
        ):
            self._each(
                kind,
                [e for e in entries if e.id not in held],
                lambda e: destination.outbox.add([e]),
            )
