"""Building a demo database in a folder, with progress bars (``cbe demo`` and ``cbe --demo``)."""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cli.bootstrap import open_services
from cli.output import fail
from core.demo import DEMO_PORTAL_ID, DemoSpec, DemoSummary, build_demo
from storage.completions import CompletionStore
from storage.database import PORTAL_FILE


def build_demo_database(path: Path, spec: DemoSpec, now: datetime, replace: bool) -> DemoSummary:
    if path.exists() and any(path.iterdir()):
        if not (path / PORTAL_FILE).exists():
            fail(f"{path} is not empty and is not a cbe database; choose another folder.")
        if not replace:
            fail(f"{path} already holds a cbe database; pass --replace to rebuild it.")
        shutil.rmtree(path)
    services = open_services(path, portal_id=DEMO_PORTAL_ID)
    if isinstance(services.db.completions, CompletionStore):
        services.db.completions.summarise_folds = True  # reports come next: ready at once
    bars: dict[str, Any] = {}
    try:

        def progress(stage: str, done: int, total: int) -> None:
            bar = bars.get(stage)
            if bar is None:
                bar = click.progressbar(length=total, label=f"Demo {stage:<11}", file=sys.stderr)
                bar.__enter__()
                bars[stage] = bar
            bar.update(done - bar.pos)
            if done >= total:
                bar.__exit__(None, None, None)

        summary = build_demo(services.db, spec, now, progress)
    except BaseException:
        services.close()
        shutil.rmtree(path, ignore_errors=True)  # never leave half a demo behind
        raise
    services.close()
    return summary
