"""Sending one completion in tests, through ingestion's real entry point (``Ingestor.ingest``),
as ``POST /events/v3/send`` does through its queue."""

from __future__ import annotations

from core.ingestion import Ingestor, Mode
from core.models import Completion, Source


def send_maybe(
    ingestion: Ingestor,
    body: object,
    source: Source = Source.API,
    tag: str | None = None,
    *,
    hubspot_body: bool = False,
    mode: Mode = Mode.STRICT,
) -> Completion | None:
    """Ingest one send body; None when ``mode`` is HUBSPOT and its uuid was already received
    (accepted, not stored again). Strict and HubSpot mode raise what they refuse."""
    result = ingestion.ingest([body], mode, source, tags=[tag], hubspot_body=hubspot_body)
    return result.stored[0] if result.stored else None


def send_one(
    ingestion: Ingestor,
    body: object,
    source: Source = Source.API,
    tag: str | None = None,
    *,
    hubspot_body: bool = False,
    mode: Mode = Mode.STRICT,
) -> Completion:
    """Ingest one send body that must be stored (not a retry of a uuid already received)."""
    stored = send_maybe(ingestion, body, source, tag, hubspot_body=hubspot_body, mode=mode)
    assert stored is not None, "the send was a retry: nothing was stored"
    return stored
