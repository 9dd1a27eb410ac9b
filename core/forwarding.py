"""Forwarding: ``cbe serve --forward URL`` relays every completion it accepts to a remote portal's
send API, exactly once.

What is owed is an :class:`OutboxEntry`, written by the ingestion in the same unit of work as
its completion (so a completion stored is a completion owed, across any crash). The
:class:`Forwarder` sends what is owed in batches with each completion's uuid (HubSpot drops a
uuid it has already received, so at-least-once delivery is exactly once), under the remote's
portal prefix. A 429, a 5xx, a timeout or no answer is retried with a doubling pause; a refusal
(another 4xx) is kept with the remote's answer and can be replayed once the remote is fixed.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.outbox import OutboxEntry, OutboxRepository
from core.remote import JSON, RemoteError, RemoteRefused

_log = logging.getLogger("cbe.forwarding")

BATCH = 500
"""Completions per request to the send API (HubSpot's limit)."""
MAX_PAUSE = 10.0
"""The longest pause between two tries while the remote is down or rate limited: after an
outage the relay resumes within this long."""

_PREFIX = re.compile(r"^pe(\d+)_(.+)$")


class RemoteSender(Protocol):
    """A remote portal's send API (and its definitions, for its portal prefix)."""

    url: str

    def send_batch(self, inputs: Sequence[JSON]) -> None: ...

    def send_one(self, body: JSON) -> None: ...

    def definitions_page(self, after: str | None) -> JSON: ...


class OutboxHolder(Protocol):
    """The part of :class:`core.ports.Database` the forwarder uses."""

    @property
    def outbox(self) -> OutboxRepository: ...

    def transaction(self) -> Any: ...


@dataclass
class ForwardingStatus:
    remote: str
    owed: int = 0
    sent: int = 0
    refused: int = 0
    last_error: str | None = None
    remote_portal_id: int | None = None

    def to_json(self) -> JSON:
        return {
            "remote": self.remote,
            "remotePortalId": self.remote_portal_id,
            "owed": self.owed,
            "sent": self.sent,
            "refused": self.refused,
            "lastError": self.last_error,
        }


@dataclass
class _Names:
    """The remote's fully qualified names, by internal name, and its portal id."""

    by_name: dict[str, str] = field(default_factory=dict)
    portal_id: int | None = None


def _transient(error: RemoteError) -> bool:
    """Worth another try: no answer, a rate limit, the remote's own failure (5xx), or a token
    it does not take (401, 403: not the completions' fault; a restart with the right one sends
    them)."""
    if isinstance(error, RemoteRefused):
        return error.status in (401, 403, 429) or error.status >= 500
    return True


def replay_refused(db: OutboxHolder, ids: Collection[str] | None = None) -> int:
    """Owe the completions the remote refused again (all when ``ids`` is None), once the remote
    or the definitions are fixed; returns how many. The relay of ``cbe serve --forward`` sends
    them (at once when it is this process's, within its longest pause otherwise)."""
    with db.transaction() as unit:
        count = db.outbox.requeue(ids)
        unit.commit()
    return count


class Forwarder:
    """Sends what the outbox owes, from one thread: :meth:`run` until :meth:`stop`.

    ``sleep`` waits for a wake-up (a new completion, a replay) or ``seconds``, whichever first."""

    def __init__(
        self,
        db: OutboxHolder,
        remote: RemoteSender,
        *,
        batch: int = BATCH,
        max_pause: float = MAX_PAUSE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._remote = remote
        self._batch = batch
        self._max_pause = max_pause
        self._wake = threading.Event()
        self._interrupt = threading.Event()
        """Cuts a pause short: a stop or a replay (new completions do not: the remote is down)."""
        self._stopped = False
        self._names = _Names()
        self._failures = 0
        self.last_error: str | None = None

    # -- control ----------------------------------------------------------------------------------

    def wake(self, *_: object) -> None:
        """Something new is owed (a listener of the ingestion)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()
        self._interrupt.set()

    def _note(self, error: str | None) -> None:
        """Keep ``error`` as the last one, in the outbox too (other processes show it)."""
        self.last_error = error
        try:
            with self._db.transaction() as unit:
                self._db.outbox.note_relay(self._remote.url, error)
                unit.commit()
        except Exception:  # the database is busy or full: the next change tries again
            _log.warning("could not keep the relay's state", exc_info=True)

    def run(self) -> None:
        self._note(self.last_error)
        while not self._stopped:
            try:
                pause = self.step()
            except Exception as error:  # a remote that answers nonsense: say so, try later
                self._note(f"{type(error).__name__}: {error}")
                pause = self._max_pause
            if pause is None:  # nothing owed: wait for a completion
                self._wake.wait(self._max_pause)
                self._wake.clear()
            elif pause > 0:  # the remote is down or busy: wait it out whatever arrives
                self._interrupt.wait(pause)
                self._interrupt.clear()

    def status(self) -> ForwardingStatus:
        counts = self._db.outbox.counts()
        return ForwardingStatus(
            self._remote.url,
            counts.owed,
            counts.sent,
            counts.refused,
            self.last_error,
            self._names.portal_id,
        )

    def refused(self) -> list[OutboxEntry]:
        return self._db.outbox.refused()

    def replay(self, ids: Collection[str] | None = None) -> int:
        """Owe the refused completions again (after the remote was fixed)."""
        count = replay_refused(self._db, ids)
        self._names = _Names()  # the remote may have new definitions
        self._wake.set()
        self._interrupt.set()
        return count

    # -- one step ----------------------------------------------------------------------------------

    def step(self) -> float | None:
        """Send one batch of what is owed. Returns None when nothing more is owed, 0 to go on at
        once, or the seconds to pause before trying again (the remote is down or busy)."""
        entries = self._db.outbox.owed(self._batch)
        if not entries:
            return None
        try:
            sent, refused = self._send(entries)
        except RemoteError as error:
            if str(error) != self.last_error:  # a refusal of the definitions page too: later
                self._note(str(error))
            self._failures += 1
            return float(min(self._max_pause, 0.25 * 2 ** min(self._failures, 10)))
        self._failures = 0
        with self._db.transaction() as unit:
            self._db.outbox.settle(sent, refused)
            unit.commit()
        if refused and next(iter(refused.values())) != self.last_error:
            self._note(next(iter(refused.values())))
        return 0.0

    def _send(self, entries: Sequence[OutboxEntry]) -> tuple[list[str], dict[str, str]]:
        if any(self._local_name(e.body) not in self._names.by_name for e in entries):
            self._names = self._remote_names()  # new on the remote since, or never read
        bodies = [self._remote_body(e.body) for e in entries]
        try:
            self._remote.send_batch(bodies)
        except RemoteRefused as error:
            if _transient(error):
                raise
            if len(entries) == 1:
                return [], {entries[0].id: str(error)}
        else:
            return [e.id for e in entries], {}
        # The batch was refused whole: send each alone, to keep only what the remote refuses.
        sent: list[str] = []
        refused: dict[str, str] = {}
        for entry, body in zip(entries, bodies, strict=True):
            try:
                self._remote.send_one(body)
            except RemoteRefused as error:
                if _transient(error):
                    raise
                refused[entry.id] = str(error)
            else:
                sent.append(entry.id)
        return sent, refused

    def _remote_names(self) -> _Names:
        names = _Names()
        after: str | None = None
        for _ in range(1000):
            page = self._remote.definitions_page(after)
            for body in page.get("results") or []:
                qualified = str(body.get("fullyQualifiedName") or "")
                match = _PREFIX.match(qualified)
                if match:
                    names.portal_id = int(match.group(1))
                    names.by_name[str(body.get("name") or match.group(2))] = qualified
            following = (page.get("paging") or {}).get("next") or {}
            after = following.get("after") if isinstance(following, Mapping) else None
            if not after:
                break
        return names

    @staticmethod
    def _local_name(body: JSON) -> str:
        local = str(body.get("eventName") or "")
        match = _PREFIX.match(local)
        return match.group(2) if match else local

    def _remote_body(self, body: JSON) -> JSON:
        local = str(body.get("eventName") or "")
        name = self._local_name(body)
        qualified = self._names.by_name.get(name)
        if qualified is None and self._names.portal_id is not None:
            qualified = f"pe{self._names.portal_id}_{name}"
        return {**body, "eventName": qualified or local}
