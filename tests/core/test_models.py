"""The models' JSON forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from cli.bootstrap import open_services
from core.clock import FixedClock
from core.demo import DemoSpec, build_demo
from core.models import Completion, Cut, Match, ObjectType, Source
from core.ports import CompletionSelection


def _odd_completion() -> Completion:
    """Every optional field set, times given in another zone and with microseconds."""
    plus_two = timezone(timedelta(hours=2))
    return Completion(
        id="c1",
        uuid="u-1",
        event_name="pe12345678_viewed_car",
        object_type=ObjectType.DEAL,
        object_id=None,
        utk="utk-1",
        email="ann@example.com",
        occurred_at=datetime(999, 1, 2, 3, 4, 5, 678_901, tzinfo=plus_two),
        received_at=datetime(2026, 1, 2, 3, 4, 5, 999_999, tzinfo=plus_two),
        source=Source.JS,
        properties={"make": "Ford", "price": 12.5, "year": 2024},
        unusable={"colour": ["Mauve"]},
        cuts=[Cut(property="note", reason="VALUE_TOO_LONG", detail="cut", original_length=70000)],
        tag="run-1",
        matched_by=Match.NONE,
        unmatched_object_id="404",
    )


def test_a_completions_hand_built_json_is_pydantics() -> None:
    assert _odd_completion().to_json() == _odd_completion().model_dump(mode="json")
    assert list(_odd_completion().to_json()) == list(_odd_completion().model_dump(mode="json"))
    assert _odd_completion().to_json()["occurredAt"] == "0999-01-02T01:04:05.678Z"


def test_every_demo_completion_serialises_as_pydantic_would(tmp_path: Path) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    services = open_services(tmp_path / "demo", clock=FixedClock(now))
    build_demo(services.db, DemoSpec(contacts=20, completions=400), now)
    completions = list(services.db.completions.scan(CompletionSelection()))
    services.close()
    assert len(completions) == 400
    for completion in completions:
        assert completion.to_json() == completion.model_dump(mode="json")
        # and reads back, unvalidated, as what validation would make of it
        stored = completion.to_json()
        assert Completion.from_stored(stored) == Completion.model_validate(stored) == completion
    assert any(c.cuts for c in completions) and any(c.unusable for c in completions)


def test_a_stored_completion_reads_back_as_the_validated_one() -> None:
    odd = _odd_completion()
    stored = odd.to_json()
    read = Completion.from_stored(stored)
    assert read == Completion.model_validate(stored) == odd
    assert read.model_fields_set == Completion.model_validate(stored).model_fields_set
    validated_cuts = Completion.model_validate(stored).cuts
    assert [c.model_fields_set for c in read.cuts] == [c.model_fields_set for c in validated_cuts]
    partial = {"property": "note", "reason": "VALUE_TOO_LONG"}  # the defaults left out
    assert Cut.from_stored(partial) == Cut.model_validate(partial)
    assert Cut.from_stored(partial).model_fields_set == Cut.model_validate(partial).model_fields_set
    assert read.occurred_at.tzinfo is UTC and read.received_at.tzinfo is UTC


def test_a_trusted_completion_equals_the_validated_one() -> None:
    validated = _odd_completion()
    fields = {name: getattr(validated, name) for name in Completion.model_fields}
    trusted = Completion.trusted(**fields)
    assert trusted == validated
    assert trusted.model_fields_set == validated.model_fields_set
    assert trusted.to_json() == validated.to_json()
    assert trusted.model_dump() == validated.model_dump()
    with pytest.raises(ValidationError):
        trusted.id = "other"  # type: ignore[misc]  # frozen, like any completion: the point of the test


def test_a_completion_stored_before_traces_reads_back_without_a_match() -> None:
    old = _odd_completion().to_json()
    del old["matchedBy"], old["unmatchedObjectId"]  # documents written before issue 15's trace
    read = Completion.from_stored(old)
    assert read == Completion.model_validate(old)
    assert read.matched_by is None and read.unmatched_object_id is None
    assert read.to_json()["matchedBy"] is None
