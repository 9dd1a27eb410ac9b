"""Single sends stored together: many connections, one lock, one journal line, one ``fsync``.

Every ``POST /events/v3/send`` is its own request, yet storing each alone would take
the database's lock and wait for the disk once per request. The queue hands the sends that
arrive while a group is being stored to one writer thread, which validates each on its own
(a broken send is answered with its own violations and stores nothing) and stores the rest of
the group in one go; each request is answered once its completion is durable. Should the group
fail as a whole for any other reason, each of its sends is stored on its own, so that one send
never fails another.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.errors import ValidationFailed
from core.ingestion import Ingestor, Mode
from core.models import Completion, Source

MAX_GROUP = 500
"""Sends stored at once, at most: the size of a batch."""


@dataclass
class _Send:
    body: Any
    future: asyncio.Future[Completion | None]
    loop: asyncio.AbstractEventLoop
    tag: str | None = None


class SendQueue:
    """Single sends from any number of coroutines, stored in groups by one thread.

    ``mode``: :attr:`Mode.HUBSPOT` (``cbe serve``) or :attr:`Mode.STRICT` (``--strict``)."""

    def __init__(
        self, ingestor: Ingestor, source: Source = Source.API, mode: Mode = Mode.HUBSPOT
    ) -> None:
        self._ingestor = ingestor
        self._source = source
        self._mode = mode
        self._waiting: list[_Send] = []
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    async def send(self, body: Any, tag: str | None = None) -> Completion | None:
        """Store one send body; raises :class:`ValidationFailed` as :meth:`Ingestor.ingest`
        does, and gives None for a uuid already received (as HubSpot: accepted, stored once)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion | None] = loop.create_future()
        with self._changed:
            if self._closed:
                raise RuntimeError("the send queue is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cbe-sends", daemon=True)
                self._thread.start()
            self._waiting.append(_Send(body, future, loop, tag))
            self._changed.notify()
        return await future

    def close(self) -> None:
        """Store what is waiting, then stop the thread."""
        with self._changed:
            self._closed = True
            self._changed.notify()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._waiting and not self._closed:
                    self._changed.wait()
                if not self._waiting:
                    return
                group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
            self._store(group)

    def _store(self, group: Sequence[_Send]) -> None:
        outcomes: list[Completion | BaseException | None]
        try:
            outcomes = self._outcomes(group)
        except Exception as error:
            # The group failed as a whole (not a broken send: those are answered one by one).
            # Store each send on its own, so that no send fails another.
            outcomes = [error] if len(group) == 1 else [self._alone(send) for send in group]
        except BaseException as error:
            outcomes = [error] * len(group)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[_Send, Any]]] = {}
        for send, outcome in zip(group, outcomes, strict=True):
            by_loop.setdefault(send.loop, []).append((send, outcome))
        for loop, answers in by_loop.items():
            loop.call_soon_threadsafe(_answer, answers)

    def _outcomes(self, group: Sequence[_Send]) -> list[Completion | BaseException | None]:
        result = self._ingestor.ingest(
            [send.body for send in group],
            self._mode,
            self._source,
            all_or_nothing=False,
            tags=[send.tag for send in group],
            hubspot_body=True,
        )
        refused: dict[int, ValidationFailed | None] = {
            r.index: ValidationFailed(r.violations, r.reference) for r in result.rejected
        }
        refused.update((d.index, None) for d in result.duplicates)  # accepted, stored before
        stored = iter(result.stored)  # in the order of the sends neither refused nor repeated
        return [refused[i] if i in refused else next(stored) for i in range(len(group))]

    def _alone(self, send: _Send) -> Completion | BaseException | None:
        try:
            return self._outcomes([send])[0]
        except Exception as error:
            return error


def _answer(answers: list[tuple[_Send, Completion | BaseException | None]]) -> None:
    for send, outcome in answers:
        if send.future.done():  # the request was cancelled (the client went away)
            continue
        if isinstance(outcome, BaseException):
            send.future.set_exception(outcome)
        else:
            send.future.set_result(outcome)
