"""One step of a bench script run in a fresh interpreter (cold caches, memory of its own): the
script is started again with ``--child TASK ARGS...`` and prints its result as JSON on its last
line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from textual.app import App
    from textual.pilot import Pilot


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
