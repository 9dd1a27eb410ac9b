"""Rejected, not lost: the requests the strict path refused, kept with why, and replayed.

Every request that strict ingestion refuses (a send, a batch, a line of an import) is kept in a
bounded quarantine (the oldest go first) with its body, its violations, its source and when it
came. After the definition is fixed (an option added, a property created), a replay sends each
again by the same rules and reports what now passes; what passes is stored and leaves the
quarantine.

Sends answered as HubSpot answers (``cbe serve``, ``cbe send``) keep here too the retries whose
uuid was already received: they were answered as accepted and stored not again, and are kept so
that a send's trace can tell of them; a replay lets them go (a uuid still taken is a no-op).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import ConfigDict, Field

from core.clock import Clock
from core.errors import Rule, ValidationFailed, Violation
from core.models import CbeModel, Source, UtcDatetime

DEFAULT_BOUND = 1000
"""How many rejected requests a database keeps unless told otherwise."""


class RejectedRequest(CbeModel):
    """A request the strict path refused, as it came."""

    model_config = ConfigDict(frozen=True)

    id: str
    received_at: UtcDatetime
    source: Source
    batch: bool = False
    body: Any = None
    violations: list[Violation] = Field(default_factory=list)
    tag: str | None = None
    """The test run that sent it (``X-Cbe-Tag``); a replay stores its completions so tagged."""

    @property
    def is_retry(self) -> bool:
        """A retry kept for its trace (HubSpot mode answered it 204): its only violation is a
        uuid already received (:class:`QuarantineRoom` keeps them in a quarter of the room)."""
        return bool(self.violations) and all(v.rule is Rule.DUPLICATE_UUID for v in self.violations)

    @property
    def event_names(self) -> list[str]:
        """The event names the body mentions, in order, each once."""
        bodies = self.body.get("inputs") if self.batch and isinstance(self.body, Mapping) else None
        names = [
            b.get("eventName")
            for b in (bodies if isinstance(bodies, list) else [self.body])
            if isinstance(b, Mapping)  # a refused body may be anything JSON can be
        ]
        return list(dict.fromkeys(n for n in names if isinstance(n, str) and n))


class QuarantineRoom:
    """Which kept requests stay when the quarantine is trimmed, asked newest first: at most
    ``bound`` of them and ``max_bytes`` (when given), of which retries take at most a quarter
    (so a client retrying in a loop never pushes out what was refused). Every adapter trims by
    it."""

    def __init__(self, bound: int, max_bytes: int | None = None) -> None:
        self._left, self._bytes = bound, max_bytes
        self._retries_left = max(1, bound // 4)
        self._retry_bytes = None if max_bytes is None else max_bytes // 4

    def admit(self, request: RejectedRequest, size: int = 0) -> bool | None:
        """True: ``request`` (``size`` bytes as stored) stays; False: it goes, being a retry
        past the retries' quarter; None: the room is full, it and every older request go."""
        if self._left == 0 or (self._bytes is not None and size > self._bytes):
            return None
        if request.is_retry:
            if self._retries_left == 0 or (
                self._retry_bytes is not None and size > self._retry_bytes
            ):
                return False
            self._retries_left -= 1
            if self._retry_bytes is not None:
                self._retry_bytes -= size
        self._left -= 1
        if self._bytes is not None:
            self._bytes -= size
        return True


class RejectionRepository(Protocol):
    """Where rejected requests are kept: newest first, at most ``bound`` of them."""

    @property
    def bound(self) -> int: ...

    def set_bound(self, bound: int) -> None:
        """Keep at most ``bound`` from now on (the oldest beyond it go at once)."""
        ...

    def add(self, requests: Sequence[RejectedRequest]) -> None: ...

    def list_all(self) -> list[RejectedRequest]:
        """Newest first."""
        ...

    def remove(self, ids: Collection[str]) -> int:
        """Forget these; returns how many there were."""
        ...


@dataclass
class ReplayReport:
    """What a replay did: requests that now pass (stored, and gone from the quarantine) and
    requests that still break a rule (kept, with the violations they break now)."""

    passed: list[tuple[RejectedRequest, int]] = field(default_factory=list)
    """Each request that passed, and how many completions it stored."""
    failed: list[tuple[RejectedRequest, list[Violation]]] = field(default_factory=list)

    def summary(self) -> str:
        stored = sum(n for _, n in self.passed)
        if not self.passed and not self.failed:
            return "Nothing to replay."
        return (
            f"{len(self.passed)} request{'s' * (len(self.passed) != 1)} now "
            f"pass{'es' * (len(self.passed) == 1)} "
            f"({stored} completion{'s' * (stored != 1)} stored); "
            f"{len(self.failed)} still break{'s' * (len(self.failed) == 1)} a rule."
        )


class Replayer(Protocol):
    """What a replay needs of ingestion: a strict send or batch that is not quarantined again."""

    def replay(self, request: RejectedRequest) -> int:
        """Send ``request`` again by the strict rules; returns how many completions were stored.
        Raises :class:`ValidationFailed` (or ``Conflict``) and quarantines nothing."""
        ...


class RejectionService:
    """The quarantine as the app, the CLI and the API use it."""

    def __init__(self, repository: RejectionRepository, replayer: Replayer, clock: Clock) -> None:
        self._repository = repository
        self._replayer = replayer
        self._clock = clock

    @property
    def bound(self) -> int:
        return self._repository.bound

    def set_bound(self, bound: int) -> None:
        if bound < 1:
            raise ValueError("The quarantine keeps at least one request.")
        self._repository.set_bound(bound)

    def list(self, event_name: str | None = None) -> list[RejectedRequest]:
        """Newest first; only those naming ``event_name`` (fully qualified) when given."""
        found = self._repository.list_all()
        if event_name is None:
            return found
        return [r for r in found if event_name in r.event_names]

    def replay(self, ids: Collection[str] | None = None) -> ReplayReport:
        """Send the kept requests (all, or those in ``ids``) again, oldest first."""
        report = ReplayReport()
        chosen = [r for r in self._repository.list_all() if ids is None or r.id in ids]
        for request in reversed(chosen):
            try:
                stored = self._replayer.replay(request)
            except ValidationFailed as refused:
                report.failed.append((request, list(refused.violations)))
            else:
                report.passed.append((request, stored))
        self._repository.remove({r.id for r, _ in report.passed})
        return report

    def clear(self) -> int:
        return self._repository.remove({r.id for r in self._repository.list_all()})
