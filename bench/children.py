"""One step of a bench script run in a fresh interpreter (cold caches, memory of its own): the
script is started again with ``--child TASK ARGS...`` and prints its result as JSON on its last
line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from textual.app import App
    from textual.pilot import Pilot

T = TypeVar("T")


def run_child(
    script: str, task: str, *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run ``task`` of ``script`` in a new interpreter and return its JSON; exit with its
    error output when it fails."""
    done = subprocess.run(
        [sys.executable, script, "--child", task, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"{task} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def until_ready(
    command: list[str], cwd: Path, env: Mapping[str, str] | None = None
) -> tuple[float, dict[str, Any]]:
    """Start ``command`` (a child that prints "ready" once the app shows its first screen, then
    its result as JSON on its last line): milliseconds until "ready", and that result; exit
    when it fails."""
    import time

    began = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first = process.stdout.readline()
    wall = (time.perf_counter() - began) * 1000
    rest = process.stdout.read()
    if process.wait() != 0 or first.strip() != "ready":
        sys.exit(f"the app did not start ({' '.join(command)})")
    result: dict[str, Any] = json.loads(rest.strip().splitlines()[-1])
    return wall, result


async def until_events_counted(app: App[Any], pilot: Pilot[Any]) -> None:
    """Wait until the app's events home lists the events with their counts: where a child
    timing the app's start stops (scale.py, first_screens.py)."""
    from textual.widgets import DataTable

    while True:
        await app.workers.wait_for_complete()
        await pilot.pause()
        table = app.screen.query_one("#events", DataTable)
        if any(count != "0" for count in table.get_column("completions")):
            return


def started_app(folder: str, measure: Callable[[], T]) -> T:
    """Start the app as ``cbe --db folder`` does (headless, 120x36) until the events home has
    its counts; print "ready" then and return ``measure()`` taken at that moment (scale.py's
    memory, first_screens.py's CPU time). The app's code is whichever ``cli`` and ``tui`` are
    first on ``sys.path``."""
    import asyncio

    import cli.main  # noqa: F401  (what `cbe` imports before it opens the database)
    from cli.bootstrap import database_target, open_services

    services = open_services(database_target(folder), create=False)

    from tui.app import CbeApp

    async def run() -> T:
        app = CbeApp(services, refresh_seconds=0)
        async with app.run_test(size=(120, 36)) as pilot:
            await until_events_counted(app, pilot)
            print("ready", flush=True)
            return measure()

    found = asyncio.run(run())
    services.close()
    return found
