"""Listing completions: cursor paging both ways across months, and every filter."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from core.clock import format_utc
from core.errors import Rule, ValidationFailed
from core.ingestion import Mode
from core.models import Completion, CrmRecord, EventDefinition, ObjectType
from core.occurrences import CompletionQuery, decode_cursor, encode_cursor
from core.services import Services
from tests.conftest import PORTAL_ID
from tests.core.conftest import body, only_violation, stored

START = datetime(2026, 1, 3, 8, 0, tzinfo=UTC)
CONDITIONS = ["new", "used", "new;used", "damaged", "NEW"]


@pytest.fixture
def logged_in(services: Services) -> EventDefinition:
    return services.definitions.create({"label": "Logged In"})


@pytest.fixture
def history(
    services: Services,
    viewed_car: EventDefinition,
    logged_in: EventDefinition,
    contact: CrmRecord,
    bob: CrmRecord,
) -> list[Completion]:
    """27 completions from January to April 2026, oldest first; three share one moment."""
    inputs = []
    for i in range(24):
        at = START + timedelta(days=5 * i, hours=i % 7)
        if i % 3 == 2:
            inputs.append(body(logged_in, objectId=bob.id, occurredAt=format_utc(at)))
        else:
            inputs.append(
                body(
                    viewed_car,
                    objectId=contact.id if i % 2 == 0 else bob.id,
                    occurredAt=format_utc(at),
                    properties={
                        "condition": CONDITIONS[i % len(CONDITIONS)],
                        "make": "Ford" if i % 4 == 0 else "VW",
                    },
                )
            )
    tie = format_utc(START + timedelta(days=40))
    inputs += [body(viewed_car, objectId=contact.id, occurredAt=tie) for _ in range(3)]
    services.ingestion.send_batch({"inputs": inputs})
    completions = sorted(stored(services), key=lambda c: (c.occurred_at, c.id))
    assert len(completions) == 27
    assert len({(c.occurred_at.year, c.occurred_at.month) for c in completions}) == 4
    return completions


def _all_pages(
    services: Services, query: CompletionQuery
) -> tuple[list[list[Completion]], list[Completion]]:
    pages: list[list[Completion]] = []
    after: str | None = None
    while True:
        page = services.occurrences.page(replace(query, after=after))
        pages.append(page.results)
        if page.next_after is None:
            break
        after = page.next_after
        assert len(pages) < 100
    return pages, [c for p in pages for c in p]


@pytest.mark.parametrize("newest_first", [True, False], ids=["newest-first", "oldest-first"])
@pytest.mark.parametrize("limit", [1, 4, 7, 27, 28])
def test_cursor_paging_visits_every_completion_once_in_order(
    services: Services, history: list[Completion], newest_first: bool, limit: int
) -> None:
    pages, seen = _all_pages(services, CompletionQuery(newest_first=newest_first, limit=limit))
    expected = list(reversed(history)) if newest_first else history
    assert [c.id for c in seen] == [c.id for c in expected]
    assert all(len(p) == limit for p in pages[:-1])
    assert 1 <= len(pages[-1]) <= limit
    assert len(pages) == -(-27 // limit)


def test_a_page_spans_months(services: Services, history: list[Completion]) -> None:
    page = services.occurrences.page(CompletionQuery(limit=10))
    assert len({c.occurred_at.month for c in page.results}) > 1
    assert page.next_after is not None
    assert decode_cursor(page.next_after) == (page.results[-1].occurred_at, page.results[-1].id)


def test_the_default_order_is_newest_first(services: Services, history: list[Completion]) -> None:
    page = services.occurrences.page(CompletionQuery())
    assert [c.id for c in page.results] == [c.id for c in reversed(history)]
    assert page.next_after is None


def test_ties_are_ordered_by_id(services: Services, history: list[Completion]) -> None:
    tie = START + timedelta(days=40)
    at_tie = [c.id for c in history if c.occurred_at == tie]
    assert len(at_tie) == 3
    assert at_tie == sorted(at_tie)
    pages, _ = _all_pages(services, CompletionQuery(limit=1, newest_first=False))
    flat = [p[0].id for p in pages]
    assert [i for i in flat if i in at_tie] == at_tie


def test_filter_by_record(
    services: Services, history: list[Completion], contact: CrmRecord, bob: CrmRecord
) -> None:
    for record in (contact, bob):
        query = CompletionQuery(object_type=ObjectType.CONTACT, object_id=record.id, limit=3)
        _, seen = _all_pages(services, query)
        expected = [c.id for c in reversed(history) if c.object_id == record.id]
        assert [c.id for c in seen] == expected
        assert expected
    nobody = CompletionQuery(object_type=ObjectType.COMPANY, object_id=contact.id)
    assert services.occurrences.page(nobody).results == []


def test_filter_by_event(
    services: Services,
    history: list[Completion],
    logged_in: EventDefinition,
    viewed_car: EventDefinition,
) -> None:
    query = CompletionQuery(event_names=frozenset({logged_in.fully_qualified_name}), limit=3)
    _, seen = _all_pages(services, query)
    assert [c.id for c in seen] == [
        c.id for c in reversed(history) if c.event_name == f"pe{PORTAL_ID}_logged_in"
    ]
    both = frozenset({logged_in.fully_qualified_name, viewed_car.fully_qualified_name})
    assert len(services.occurrences.page(CompletionQuery(event_names=both)).results) == 27


@pytest.mark.parametrize("newest_first", [True, False], ids=["newest-first", "oldest-first"])
def test_filter_by_time_range_after_inclusive_before_exclusive(
    services: Services, history: list[Completion], newest_first: bool
) -> None:
    low, high = history[5].occurred_at, history[20].occurred_at
    query = CompletionQuery(
        occurred_after=low, occurred_before=high, newest_first=newest_first, limit=4
    )
    _, seen = _all_pages(services, query)
    expected = [c.id for c in history if low <= c.occurred_at < high]
    if newest_first:
        expected.reverse()
    assert [c.id for c in seen] == expected
    assert history[5].id in expected
    assert history[20].id not in expected
    assert history[4].id not in expected


def test_a_time_range_within_one_millisecond_finds_one_moment(
    services: Services, history: list[Completion]
) -> None:
    for moment, size in ((history[1].occurred_at, 1), (START + timedelta(days=40), 3)):
        query = CompletionQuery(
            occurred_after=moment, occurred_before=moment + timedelta(milliseconds=1)
        )
        found = services.occurrences.page(query).results
        assert [c.id for c in found] == [c.id for c in reversed(history) if c.occurred_at == moment]
        assert len(found) == size
    at = history[1].occurred_at
    empty = CompletionQuery(occurred_after=at, occurred_before=at)
    assert services.occurrences.page(empty).results == []


def _conditions(completions: list[Completion]) -> list[str]:
    return [str(c.properties["condition"]) for c in completions]


@pytest.mark.parametrize(
    ("wanted", "matches"),
    [
        pytest.param("new", {"new", "new;used"}, id="new"),
        pytest.param("NEW", {"new", "new;used"}, id="ignores-case"),
        pytest.param("used", {"used", "new;used"}, id="one-of-several-values"),
        pytest.param("damaged", set(), id="unusable-value-never-matches"),
        pytest.param("new;used", set(), id="a-filter-is-one-value"),
    ],
)
def test_filter_by_enumeration_value(
    services: Services, history: list[Completion], wanted: str, matches: set[str]
) -> None:
    query = CompletionQuery(properties=(("condition", wanted),), limit=2)
    _, seen = _all_pages(services, query)
    expected = [c for c in reversed(history) if c.properties.get("condition") in matches]
    assert [c.id for c in seen] == [c.id for c in expected]
    assert set(_conditions(seen)) == matches


def test_the_uppercase_option_value_is_unusable_and_not_matched(
    services: Services, history: list[Completion]
) -> None:
    upper = [c for c in history if c.properties.get("condition") == "NEW"]
    assert upper
    assert all(c.unusable == {"condition": ["NEW"]} for c in upper)
    found = services.occurrences.page(CompletionQuery(properties=(("condition", "new"),)))
    assert not {c.id for c in upper} & {c.id for c in found.results}


def test_filters_combine(services: Services, history: list[Completion], contact: CrmRecord) -> None:
    query = CompletionQuery(
        object_type=ObjectType.CONTACT,
        object_id=contact.id,
        properties=(("make", "ford"), ("condition", "NEW")),
        occurred_before=START + timedelta(days=100),
    )
    found = services.occurrences.page(query).results
    expected = [
        c
        for c in reversed(history)
        if c.object_id == contact.id
        and c.properties.get("make") == "Ford"
        and c.properties.get("condition") in {"new", "new;used"}
        and c.occurred_at < START + timedelta(days=100)
    ]
    assert found == expected
    assert expected


def test_filter_by_ids(services: Services, history: list[Completion]) -> None:
    wanted = frozenset({history[0].id, history[13].id, "nope"})
    found = services.occurrences.page(CompletionQuery(ids=wanted, newest_first=False)).results
    assert [c.id for c in found] == [history[0].id, history[13].id]


@pytest.mark.parametrize(("limit", "size"), [(0, 1), (-5, 1), (5000, 27)])
def test_the_limit_is_clamped(
    services: Services, history: list[Completion], limit: int, size: int
) -> None:
    assert len(services.occurrences.page(CompletionQuery(limit=limit)).results) == size


def test_iterate_ignores_the_limit(services: Services, history: list[Completion]) -> None:
    assert len(list(services.occurrences.iterate(CompletionQuery(limit=2)))) == 27


def test_event_types_are_fully_qualified_names(
    services: Services, viewed_car: EventDefinition, logged_in: EventDefinition
) -> None:
    assert services.occurrences.event_types() == [
        f"pe{PORTAL_ID}_logged_in",
        f"pe{PORTAL_ID}_viewed_car",
    ]


def _cursor(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("garbage!!", id="not-base64"),
        pytest.param("==", id="only-padding"),
        pytest.param("YWJj", id="base64-not-json"),
        pytest.param(_cursor({"a": 1}), id="json-object"),
        pytest.param(_cursor([1]), id="one-item"),
        pytest.param(_cursor(["2026", "c1"]), id="millis-not-a-number"),
        pytest.param(_cursor([1, 2]), id="id-not-text"),
        pytest.param(_cursor(5), id="json-number"),
        pytest.param(_cursor([10**30, "c1"]), id="millis-out-of-range"),
    ],
)
def test_a_bad_cursor_is_a_validation_failure(
    services: Services, history: list[Completion], cursor: str
) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.occurrences.page(CompletionQuery(after=cursor))
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("after", Rule.INVALID_VALUE)
    assert "is not a paging cursor" in violation.message


def test_a_cursor_round_trips(history: list[Completion]) -> None:
    completion = history[3]
    assert decode_cursor(encode_cursor(completion)) == (completion.occurred_at, completion.id)


@pytest.mark.parametrize("newest_first", [True, False])
def test_before_walks_back_over_the_pages_after_walked(
    services: Services, history: list[Completion], newest_first: bool
) -> None:
    """Across months and the three completions of one moment, in both orders."""
    query = CompletionQuery(limit=4, newest_first=newest_first)
    forward = [services.occurrences.page(query)]
    assert forward[0].prev_before is None
    while forward[-1].next_after:
        forward.append(services.occurrences.page(replace(query, after=forward[-1].next_after)))
    backward = [forward[-1]]
    while backward[-1].prev_before:
        backward.append(services.occurrences.page(replace(query, before=backward[-1].prev_before)))
    assert [[c.id for c in p.results] for p in backward[::-1]] == [
        [c.id for c in p.results] for p in forward
    ]
    expected = history[::-1] if newest_first else history
    assert [c.id for p in forward for c in p.results] == [c.id for c in expected]


def test_after_and_before_together_are_refused(
    services: Services, history: list[Completion]
) -> None:
    cursor = encode_cursor(history[3])
    with pytest.raises(ValidationFailed) as raised:
        services.occurrences.page(CompletionQuery(after=cursor, before=cursor))
    assert only_violation(raised).field == "before"


def test_object_ids_keep_the_completions_of_those_records(
    services: Services, history: list[Completion], contact: CrmRecord, bob: CrmRecord
) -> None:
    def listed(ids: frozenset[str]) -> list[str]:
        page = services.occurrences.page(CompletionQuery(object_ids=ids, limit=1000))
        return [c.id for c in page.results]

    assert listed(frozenset({contact.id})) == [
        c.id for c in history[::-1] if c.object_id == contact.id
    ]
    assert len(listed(frozenset({contact.id, bob.id}))) == 27
    assert listed(frozenset()) == []


def test_associated_only_leaves_out_completions_of_no_record(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    services.ingestion.send_batch(
        {
            "inputs": [
                body(viewed_car, objectId=contact.id),
                body(viewed_car, utk="utk-nobody"),
                body(viewed_car, email="nobody@example.com"),
            ]
        },
        mode=Mode.HUBSPOT,  # kept unassociated, as HubSpot accepts them
    )
    everything = services.occurrences.page(CompletionQuery()).results
    associated = services.occurrences.page(CompletionQuery(associated_only=True)).results
    assert len(everything) == 3
    assert [c.object_id for c in associated] == [contact.id]


def test_visible_event_types_add_hubspots_own(
    services: Services, viewed_car: EventDefinition
) -> None:
    visible = services.occurrences.visible_event_types()
    assert visible[0] == viewed_car.fully_qualified_name
    assert "e_visited_page" in visible[1:]
