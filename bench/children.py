"""One step of a bench script run in a fresh interpreter (cold caches, memory of its own): the
script is started again with ``--child TASK ARGS...`` and prints its result as JSON on its last
line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


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
