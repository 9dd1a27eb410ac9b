"""How damage is told to a person: what a lost segment held, and why writes are refused."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core.clock import from_epoch_millis
from storage.manifest import (
    Entry,
)


def lost(entry: Entry, what: str = "") -> str:
    """``20,000 completions from 2026-09-01 to 2026-09-14``: what a manifest entry held; with
    ``what``, a sentence: ``... are lost``."""
    if not entry.count:
        return f"no completion is {what}" if what else "no completions"
    first, last = (from_epoch_millis(ms).date().isoformat() for ms in (entry.first, entry.last))
    if entry.count == 1:
        return f"1 completion of {first}" + (f" is {what}" if what else "")
    return f"{entry.count:,} completions from {first} to {last}" + (f" are {what}" if what else "")


def damage_message(database: Path, problems: Sequence[str]) -> str:
    return (
        f"The database at {database} is damaged, so cbe will not write to it until "
        f"`cbe doctor --db {database} --repair` has run:\n"
        + "\n".join(f"  - {p}" for p in problems)
    )
