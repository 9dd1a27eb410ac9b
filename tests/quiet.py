"""Waiting for a Textual app under test to be quiet, by its state rather than by the clock.

Textual's ``Pilot.pause()`` waits for "CPU idle": it compares the process's CPU time with the
wall clock, so on a loaded machine (the process gets no CPU, which looks like idle) it returns
while a pushed screen has not mounted or its worker has not started. Seen beside two CPU hogs:
a record screen's timeline empty in a test, a snapshot taken before its page arrived. The app is
quiet when no worker is pending or running, no message pump (the app, its screens and widgets)
has a message queued or being handled, and none holds a callback for after its next message:
observed twice in a row, with the screen's own pending events processed in between.
"""

from __future__ import annotations

import asyncio
from time import monotonic
from typing import Any

from textual.app import App
from textual.message_pump import MessagePump
from textual.pilot import Pilot
from textual.worker import WorkerCancelled

QUIET_WITHIN = 120.0
"""Seconds an app may stay busy before a test fails saying what kept it busy."""


def _unfinished(pump: MessagePump) -> int:
    queue: asyncio.Queue[object] = pump._message_queue
    # asyncio.Queue counts a message from put() until its task_done(), which Textual calls
    # once the message has been handled.
    unfinished: int = getattr(queue, "_unfinished_tasks", queue.qsize())
    return unfinished + len(pump._next_callbacks)


def busy(app: App[Any], workers: bool = True) -> list[str]:
    """What keeps ``app`` busy right now (empty when it is quiet); its workers only if asked."""
    what = [f"worker {w.name or w.group!r}" for w in app.workers if workers and not w.is_finished]
    pumps: list[MessagePump] = [app, *app._registry]
    what += [f"{pump!r} ({n} messages)" for pump in pumps if (n := _unfinished(pump))]
    return what


async def until_quiet(
    pilot: Pilot[Any], within: float = QUIET_WITHIN, *, workers: bool = True
) -> None:
    """Wait until the app is quiet (see the module); a worker that ended in an error raises it
    (a cancelled one, replaced by a newer exclusive load, has simply ended).

    ``workers=False`` waits for the messages only, as ``Pilot.pause()`` means to: a test may
    hold a worker back on purpose to look at the app while it runs.
    """
    app = pilot.app
    deadline = monotonic() + within
    quiet = 0
    while quiet < 2:
        ended = await asyncio.gather(
            *(worker.wait() for worker in (app.workers if workers else ())),
            return_exceptions=True,
        )
        for outcome in ended:
            if isinstance(outcome, BaseException) and not isinstance(outcome, WorkerCancelled):
                raise outcome
        await pilot._wait_for_screen()
        await asyncio.sleep(0)
        if busy(app, workers):
            quiet = 0
            if monotonic() > deadline:
                raise AssertionError(
                    f"the app stayed busy for {within:.0f} s: {busy(app, workers)}"
                )
            await asyncio.sleep(0.005)
        else:
            quiet += 1
    app.screen._on_timer_update()
