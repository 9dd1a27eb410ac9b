"""Send bodies read from a file (JSON or JSON Lines), as ``cbe send`` and ``cbe validate`` read it.

Each line (or array item) is its own request: single sends are ingested together in chunks of
at most ``MAX_BATCH_SIZE`` (one rejected line rejects only itself), a batch body
(``{"inputs": [...]}``) is stored all or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.errors import ValidationFailed, Violation
from core.ingestion import Ingestor, Mode
from core.models import Source
from core.rules import MAX_BATCH_SIZE


@dataclass(frozen=True)
class Unreadable:
    """A line that is not JSON: it stands where its body would."""

    reason: str


def read_bodies(text: str) -> Iterator[tuple[str, Any]]:
    """(where, body) pairs from a JSON text (one body, a batch, or an array) or JSON Lines."""
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        pass
    else:
        if isinstance(whole, list):
            for i, body in enumerate(whole, 1):
                yield f"item {i}", body
        else:
            yield "body", whole
        return
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"line {number}", json.loads(line)
        except json.JSONDecodeError as error:
            yield f"line {number}", Unreadable(f"not JSON: {error.msg} at column {error.colno}")


@dataclass(frozen=True)
class Refusal:
    """Why the body at ``where`` was not stored: the rules it broke, or why it was unreadable."""

    where: str
    violations: Sequence[Violation] = ()
    reason: str | None = None


@dataclass
class SendReport:
    """What a send of many bodies did so far (counts stay true if a write fails part-way)."""

    stored: int = 0
    rejected: int = 0
    repeated: int = 0
    refusals: list[Refusal] = field(default_factory=list)


def send_bodies(
    ingestion: Ingestor,
    items: Iterable[tuple[str, Any]],
    report: SendReport,
    *,
    mode: Mode,
    tag: str | None,
    progress: Callable[[int], object] = lambda _done: None,
) -> SendReport:
    """Ingest every (where, body) from ``read_bodies`` as imports, counting into ``report``.

    ``progress(n)`` is told each time ``n`` more bodies are done.
    """
    pending: list[tuple[str, Any]] = []

    def flush() -> None:
        if not pending:
            return
        result = ingestion.ingest(
            [body for _, body in pending],
            mode,
            Source.IMPORT,
            all_or_nothing=False,
            tags=[tag] * len(pending),
            hubspot_body=True,
        )
        report.stored += len(result.stored)
        report.repeated += len(result.duplicates)
        for rejection in result.rejected:
            report.rejected += 1
            report.refusals.append(Refusal(pending[rejection.index][0], rejection.violations))
        progress(len(pending))
        pending.clear()

    for where, body in items:
        if isinstance(body, Unreadable):
            report.rejected += 1
            report.refusals.append(Refusal(where, reason=body.reason))
            progress(1)
        elif isinstance(body, dict) and "inputs" in body:
            flush()
            try:
                batch = ingestion.send_batch(body, Source.IMPORT, tag, hubspot_body=True, mode=mode)
                report.stored += len(batch)
                inputs = body.get("inputs")
                if isinstance(inputs, list):
                    report.repeated += len(inputs) - len(batch)
            except ValidationFailed as error:
                report.rejected += 1
                report.refusals.append(Refusal(where, list(error.violations)))
            progress(1)
        else:
            pending.append((where, body))
            if len(pending) >= MAX_BATCH_SIZE:
                flush()
    flush()
    return report
