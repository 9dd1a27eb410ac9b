"""A new portal id renames the stored completions in folded segments and the journal alike."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.bootstrap import open_services
from core.clock import FixedClock
from core.errors import Rule, ValidationFailed
from core.models import ObjectType
from core.occurrences import CompletionQuery
from core.portal import PortalService
from storage.completions import segment_file
from tests.conftest import NOW
from tests.sending import send_one


def test_set_id_renames_segments_and_journal_and_keeps_the_uuids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", 3)
    db = tmp_path / "db"
    services = open_services(db, clock=FixedClock(NOW), portal_id=111)
    try:
        events = [services.definitions.create({"label": label}) for label in ("Viewed", "Bought")]
        ann = services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
        for n in range(7):
            event = events[n % 2]
            send_one(
                services.ingestion,
                {"eventName": event.fully_qualified_name, "objectId": ann.id, "uuid": f"u{n}"},
            )
        assert len(list((db / "completions").glob("seg-*.json"))) == 2
        change = PortalService(services.db).set_id(222)
        assert (change.old, change.new, change.completions, change.definitions) == (111, 222, 7, 2)
    finally:
        services.close()

    reopened = open_services(db, create=False)
    try:
        assert reopened.db.portal.portal_id == 222
        stored = list(reopened.occurrences.iterate(CompletionQuery()))
        assert sorted(c.event_name for c in stored) == ["pe222_bought"] * 3 + ["pe222_viewed"] * 4
        viewed = CompletionQuery(event_names=frozenset({"pe222_viewed"}))
        assert len(list(reopened.occurrences.iterate(viewed))) == 4
        with pytest.raises(ValidationFailed) as again:
            send_one(
                reopened.ingestion, {"eventName": "pe222_viewed", "objectId": ann.id, "uuid": "u0"}
            )
        assert again.value.violations[0].rule is Rule.DUPLICATE_UUID
    finally:
        reopened.close()
