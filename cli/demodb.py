"""Building a demo database in a folder or a PostgreSQL database, with progress bars (``cbe demo``
and ``cbe --demo``)."""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from typing import Any

import click

from cli.bootstrap import DatabaseTarget, bulk_load, open_services
from cli.output import fail
from core.demo import DEMO_PORTAL_ID, DemoSpec, DemoSummary, build_demo
from storage.completions import CompletionStore
from storage.database import PORTAL_FILE
from storage.postgres import shown_url


def _clear(target: DatabaseTarget, replace: bool) -> None:
    """Make room for the demo at ``target``: refuse what is not a cbe database, and an
    existing one unless ``replace`` (then it is deleted)."""
    if isinstance(target, str):
        from storage.postgres import erase_cbe, holds_cbe  # psycopg: only for a URL

        shown = shown_url(target)
        if holds_cbe(target):
            if not replace:
                fail(f"{shown} already holds a cbe database; pass --replace to rebuild it.")
            erase_cbe(target)
        return
    path = target
    if path.exists() and any(path.iterdir()):
        if not (path / PORTAL_FILE).exists():
            fail(f"{path} is not empty and is not a cbe database; choose another folder.")
        if not replace:
            fail(f"{path} already holds a cbe database; pass --replace to rebuild it.")
        shutil.rmtree(path)


def _remove(target: DatabaseTarget) -> None:
    if isinstance(target, str):
        from storage.postgres import erase_cbe

        erase_cbe(target)
    else:
        shutil.rmtree(target, ignore_errors=True)


def build_demo_database(
    path: DatabaseTarget, spec: DemoSpec, now: datetime, replace: bool
) -> DemoSummary:
    _clear(path, replace)
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

        with bulk_load(services.db):
            summary = build_demo(services.db, spec, now, progress)
    except BaseException:
        services.close()
        _remove(path)  # never leave half a demo behind
        raise
    services.close()
    return summary
