"""The demo databases the benchmarks measure, built by ``cbe demo`` in a child process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def build_demo(
    folder: Path,
    completions: int,
    *,
    contacts: int | None = None,
    now: datetime | None = None,
    progress: bool = False,
) -> float:
    """Build the demo in ``folder``; returns how many seconds it took. ``progress`` shows
    ``cbe demo``'s progress bars."""
    command = [sys.executable, "-m", "cli", "demo", "--db", str(folder)]
    command += ["--completions", str(completions)]
    if contacts is not None:
        command += ["--contacts", str(contacts)]
    if now is not None:
        command += ["--now", now.isoformat()]
    began = time.perf_counter()
    subprocess.run(
        command,
        cwd=ROOT,
        # children may write bytecode caches, as Python does on a user's machine
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        check=True,
        stdout=None if progress else subprocess.DEVNULL,
        stderr=None if progress else subprocess.DEVNULL,
    )
    return time.perf_counter() - began


def clone_store(source: Path, target: Path) -> None:
    """Copy a cbe database; immutable segment files and their indexes are hard-linked."""
    for path in source.rglob("*"):
        copy = target / path.relative_to(source)
        if path.is_dir():
            copy.mkdir(parents=True, exist_ok=True)
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        if path.name.startswith("seg-"):
            try:
                os.link(path, copy)
                continue
            except OSError:
                pass
        shutil.copy2(path, copy)
