"""Timeline filters, text search and per-record summaries."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from core.models import CrmRecord, EventDefinition, ObjectType
from core.occurrences import CompletionQuery
from core.services import Services
from core.timeline import ActivityType, Period, TimelineFilter, group_by_month
from tests.conftest import NOW
from tests.sending import send_one


def _send(
    services: Services, event: EventDefinition, contact: CrmRecord, at: datetime, **props: object
) -> None:
    send_one(
        services.ingestion,
        {
            "eventName": event.fully_qualified_name,
            "objectId": contact.id,
            "occurredAt": at.isoformat(),
            "properties": props,
        },
    )


@pytest.mark.parametrize(
    ("period", "days"),
    [(Period.LAST_7_DAYS, 7), (Period.LAST_30_DAYS, 30), (Period.LAST_90_DAYS, 90)],
)
def test_rolling_periods_end_now(period: Period, days: int) -> None:
    assert TimelineFilter(period=period).time_range(NOW) == (NOW - timedelta(days=days), None)


def test_custom_range_includes_both_whole_days_in_utc() -> None:
    f = TimelineFilter(period=Period.CUSTOM, start=date(2026, 10, 1), end=date(2026, 10, 3))
    assert f.time_range(NOW) == (
        datetime(2026, 10, 1, tzinfo=UTC),
        datetime(2026, 10, 4, tzinfo=UTC),
    )
    assert TimelineFilter().time_range(NOW) == (None, None)


def test_describe_says_what_is_filtered() -> None:
    assert TimelineFilter().describe() == "All activity"
    f = TimelineFilter(hidden_events={"pe1_a", "pe1_b"}, period=Period.LAST_7_DAYS, search="pro")
    assert f.describe() == "2 events hidden · Last 7 days · containing 'pro'"
    assert TimelineFilter(activity_types=set()).describe() == "custom behavioral events hidden"


def test_the_filter_round_trips_through_json() -> None:
    f = TimelineFilter(
        activity_types={ActivityType.CUSTOM_BEHAVIORAL_EVENT},
        hidden_events={"pe1_x"},
        period=Period.CUSTOM,
        start=date(2026, 1, 2),
        search="x",
    )
    assert TimelineFilter.model_validate(f.to_json()) == f


def test_page_applies_events_time_and_text(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    other = services.definitions.create({"label": "Started trial"})
    _send(services, viewed_car, contact, NOW - timedelta(days=1), make="Ford", condition="used")
    _send(services, viewed_car, contact, NOW - timedelta(days=40), make="Kia")
    send_one(
        services.ingestion,
        {
            "eventName": other.fully_qualified_name,
            "objectId": contact.id,
            "occurredAt": NOW.isoformat(),
        },
    )

    def labels(f: TimelineFilter) -> list[object]:
        found: list[object] = []
        for e in services.timeline.page(contact, timeline_filter=f).entries:
            assert e.completion is not None
            found.append(e.completion.properties.get("make", e.event_label))
        return found

    assert labels(TimelineFilter()) == ["Started trial", "Ford", "Kia"]
    assert labels(TimelineFilter(hidden_events={other.fully_qualified_name})) == ["Ford", "Kia"]
    assert labels(TimelineFilter(period=Period.LAST_30_DAYS)) == ["Started trial", "Ford"]
    assert labels(TimelineFilter(search="KIA")) == ["Kia"]
    # an enumeration's label counts too: "used" is shown as "Used"
    assert labels(TimelineFilter(search="Used")) == ["Ford"]
    assert labels(TimelineFilter(activity_types=set())) == []


def test_text_search_skips_nothing_across_pages(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    for i in range(30):
        _send(
            services,
            viewed_car,
            contact,
            NOW - timedelta(minutes=i),
            make="Saab" if i % 3 else "Volvo",
        )
    query = CompletionQuery(object_id=contact.id, text="volvo", limit=4)
    seen = []
    while True:
        page = services.occurrences.page(query)
        seen += [c.properties["make"] for c in page.results]
        if not page.next_after:
            break
        query = CompletionQuery(object_id=contact.id, text="volvo", limit=4, after=page.next_after)
    assert seen == ["Volvo"] * 10


def test_record_summaries_count_and_last(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    bo = services.records.create(ObjectType.CONTACT, {"email": "bo@example.com"})
    _send(services, viewed_car, contact, NOW - timedelta(days=45))
    _send(services, viewed_car, contact, NOW - timedelta(days=2))
    _send(services, viewed_car, bo, NOW - timedelta(days=3))
    summaries = services.db.completions.record_summaries()
    assert summaries[(ObjectType.CONTACT, contact.id)].count == 2
    assert summaries[(ObjectType.CONTACT, contact.id)].last_occurred_at == NOW - timedelta(days=2)
    assert summaries[(ObjectType.CONTACT, bo.id)].count == 1


def test_group_by_month_keeps_order(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    for days in (1, 2, 40, 41, 80):
        _send(services, viewed_car, contact, NOW - timedelta(days=days))
    groups = group_by_month(services.timeline.page(contact).entries)
    assert [(label, len(entries)) for label, entries in groups] == [
        ("October 2026", 2),
        ("September 2026", 2),
        ("August 2026", 1),
    ]
