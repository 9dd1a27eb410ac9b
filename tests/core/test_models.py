"""The models' JSON forms."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cli.bootstrap import open_services
from core.clock import FixedClock
from core.demo import DemoSpec, build_demo
from core.errors import Rule
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


_texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)
_moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
).map(lambda at: at.replace(microsecond=at.microsecond // 1000 * 1000))
_completion_fields = st.fixed_dictionaries(
    {
        "id": _texts,
        "uuid": _texts,
        "event_name": _texts,
        "object_type": st.sampled_from(ObjectType),
        "object_id": st.none() | _texts,
        "utk": st.none() | _texts,
        "email": st.none() | _texts,
        "occurred_at": _moments,
        "received_at": _moments,
        "source": st.sampled_from(Source),
        "properties": st.dictionaries(
            _texts, _texts | st.integers() | st.floats(allow_nan=False), max_size=4
        ),
        "unusable": st.dictionaries(_texts, st.lists(_texts, max_size=3), max_size=2),
        "cuts": st.lists(
            st.builds(
                Cut,
                property=_texts,
                reason=st.sampled_from(Rule),
                detail=_texts,
                original_length=st.none() | st.integers(min_value=0),
            ),
            max_size=2,
        ),
        "tag": st.none() | _texts,
        "matched_by": st.none() | st.sampled_from(Match),
        "unmatched_object_id": st.none() | _texts,
    }
)


@settings(max_examples=50, deadline=None)
@given(fields=_completion_fields)
def test_any_trusted_completion_is_the_validated_one_and_stores_as_pydantic_would(
    fields: dict[str, Any],
) -> None:
    """Completion.trusted (every write and every read builds completions so) against
    pydantic's validation, and the hand-built stored form against pydantic's dump, with and
    without unusable values and cuts."""
    validated = Completion.model_validate(fields)
    trusted = Completion.trusted(**fields)
    assert trusted == validated
    assert trusted.model_fields_set == validated.model_fields_set
    assert trusted.model_dump() == validated.model_dump()
    stored = trusted.to_json()
    assert stored == validated.model_dump(mode="json")
    assert list(stored) == list(validated.model_dump(mode="json"))
    assert Completion.from_stored(stored) == Completion.model_validate(stored) == validated
    assert copy.copy(trusted) == trusted == pickle.loads(pickle.dumps(trusted))
    moved = trusted.model_copy(update={"object_id": "7"})  # as identities are settled
    assert moved.object_id == "7" and trusted.object_id == fields["object_id"]
