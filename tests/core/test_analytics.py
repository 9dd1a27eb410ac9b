"""Reports, checked against answers worked out by hand on small fixed data."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cli.bootstrap import open_services
from core.analytics import (
    DateRange,
    Dimension,
    Frequency,
    PropertyBreakdown,
    RangePreset,
    analyze,
    attribution,
    bucket_of,
    buckets,
    event_report,
    resolve_range,
    to_csv,
)
from core.clock import FixedClock
from core.demo import DemoSpec, build_demo
from core.filters import Operator, PropertyFilter
from core.ingestion import Mode
from core.models import (
    CrmRecord,
    EventDefinition,
    ObjectType,
    PropertyType,
    Source,
    TrackingMethod,
)
from core.occurrences import CompletionQuery
from core.services import Services
from core.values import usable_values
from storage.completions import segment_file
from tests.sending import send_one

NOW = datetime(2026, 11, 4, 15, 0, tzinfo=UTC)  # a Wednesday


@pytest.mark.parametrize(
    ("preset", "start", "end"),
    [
        (RangePreset.TODAY, date(2026, 11, 4), date(2026, 11, 4)),
        (RangePreset.YESTERDAY, date(2026, 11, 3), date(2026, 11, 3)),
        (RangePreset.LAST_7_DAYS, date(2026, 10, 28), date(2026, 11, 3)),  # excludes today
        (RangePreset.LAST_30_DAYS, date(2026, 10, 5), date(2026, 11, 3)),
        (RangePreset.LAST_90_DAYS, date(2026, 8, 6), date(2026, 11, 3)),
        (RangePreset.THIS_MONTH, date(2026, 11, 1), date(2026, 11, 4)),
        (RangePreset.LAST_MONTH, date(2026, 10, 1), date(2026, 10, 31)),
    ],
)
def test_range_presets(preset: RangePreset, start: date, end: date) -> None:
    period = resolve_range(preset, NOW)
    assert (period.start, period.end) == (start, end)


def test_custom_range_is_checked() -> None:
    assert resolve_range(RangePreset.CUSTOM, NOW, date(2026, 1, 1), date(2026, 1, 2)).days == 2
    with pytest.raises(ValueError, match="ends"):
        resolve_range(RangePreset.CUSTOM, NOW, date(2026, 1, 2), date(2026, 1, 1))


def test_weeks_start_on_sunday_and_months_on_the_first() -> None:
    assert bucket_of(date(2026, 11, 4), Frequency.WEEKLY) == date(2026, 11, 1)  # Sunday
    assert bucket_of(date(2026, 11, 1), Frequency.WEEKLY) == date(2026, 11, 1)
    assert bucket_of(date(2026, 10, 31), Frequency.WEEKLY) == date(2026, 10, 25)
    assert bucket_of(date(2026, 11, 4), Frequency.MONTHLY) == date(2026, 11, 1)
    period = DateRange(date(2026, 10, 30), date(2026, 11, 2))
    assert buckets(period, Frequency.WEEKLY) == [date(2026, 10, 25), date(2026, 11, 1)]
    assert len(buckets(period, Frequency.DAILY)) == 4


@pytest.fixture
def data(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> tuple[EventDefinition, EventDefinition, list[CrmRecord]]:
    """Three contacts, two events, fixed times:

    Viewed Car:    Ann Oct 30 (Ford, new, 2020), Ann Nov 1 (Kia, used, 2015),
                   Bo Nov 1 (Ford, bogus, 2021), Cy Nov 2 (no make, new;used, 2002)
    Started trial: Bo Nov 3
    """
    trial = services.definitions.create({"label": "Started trial"})
    bo = services.records.create(ObjectType.CONTACT, {"email": "bo@example.com"})
    cy = services.records.create(ObjectType.CONTACT, {"email": "cy@example.com"})

    def send(who: CrmRecord, event: EventDefinition, at: str, **props: object) -> None:
        send_one(
            services.ingestion,
            {
                "eventName": event.fully_qualified_name,
                "objectId": who.id,
                "occurredAt": at,
                "properties": props,
            },
        )

    send(
        contact,
        viewed_car,
        "2026-10-30T10:00:00Z",
        make="Ford",
        condition="new",
        year=2020,
        hs_touchpoint_source="ORGANIC_SEARCH",
        hs_referrer="https://www.google.com/search",
    )
    send(
        contact,
        viewed_car,
        "2026-11-01T10:00:00Z",
        make="Kia",
        condition="used",
        year=2015,
        hs_touchpoint_source="PAID_SEARCH",
        hs_utm_source="google",
        hs_utm_campaign="spring",
    )
    send(
        bo,
        viewed_car,
        "2026-11-01T11:00:00Z",
        make="Ford",
        condition="bogus",
        year=2021,
        hs_touchpoint_source="PAID_SEARCH",
    )
    send(cy, viewed_car, "2026-11-02T09:00:00Z", condition="new;used", year=2002)
    send(bo, trial, "2026-11-03T08:00:00Z")
    return viewed_car, trial, [contact, bo, cy]


def test_analyze_counts_per_event_and_bucket(
    services: Services, data: tuple[EventDefinition, EventDefinition, list[CrmRecord]]
) -> None:
    viewed_car, trial, _ = data
    period = DateRange(date(2026, 10, 31), date(2026, 11, 3))
    result = services.reports.analyze(period, Frequency.DAILY)
    rows = {r.definition.name: (r.completions, r.unique_records) for r in result.rows}
    assert rows == {"viewed_car": (3, 3), "started_trial": (1, 1)}  # Oct 30 is outside
    assert result.buckets == [date(2026, 10, 31) + timedelta(days=i) for i in range(4)]
    assert result.series[viewed_car.fully_qualified_name] == [0, 2, 1, 0]
    assert result.series[trial.fully_qualified_name] == [0, 0, 0, 1]
    weekly = services.reports.analyze(
        DateRange(date(2026, 10, 25), date(2026, 11, 7)), Frequency.WEEKLY
    )
    assert weekly.series[viewed_car.fully_qualified_name] == [1, 3]


def test_event_report_breaks_down_each_property(
    services: Services, data: tuple[EventDefinition, EventDefinition, list[CrmRecord]]
) -> None:
    viewed_car, _, _ = data
    period = DateRange(date(2026, 10, 1), date(2026, 11, 30))
    report = services.reports.event_report(viewed_car, period)
    assert (report.completions, report.unique_records) == (4, 3)
    assert report.per_record == pytest.approx(4 / 3)
    by = {b.prop.name: b for b in report.properties}
    make = by["make"]
    assert [(r.label, r.count) for r in make.rows] == [("Ford", 2), ("Kia", 1)]
    assert (make.known, make.unknown) == (3, 1)
    assert make.rows[0].share == pytest.approx(2 / 3)
    condition = by["condition"]
    # Cy's "new;used" counts for both options; Bo's "bogus" is counted apart, not as a value
    assert [(r.label, r.count) for r in condition.rows] == [("New", 2), ("Used", 2)]
    assert (condition.known, condition.unusable, condition.unknown) == (3, 1, 0)
    year = by["year"]
    # 2002 .. 2021 in round ranges of width 5: [2000, 2005), [2015, 2020), [2020, 2025)
    assert [(r.label, r.count) for r in year.rows] == [
        ("2000 to under 2005", 1),
        ("2015 to under 2020", 1),
        ("2020 to under 2025", 2),  # 2020 is in this range, not the one before
    ]


def test_event_report_filters_with_the_shared_operators(
    services: Services, data: tuple[EventDefinition, EventDefinition, list[CrmRecord]]
) -> None:
    viewed_car, _, _ = data
    period = DateRange(date(2026, 10, 1), date(2026, 11, 30))
    only_new = [PropertyFilter(property="condition", operator=Operator.IS_ANY_OF, values=["new"])]
    report = services.reports.event_report(viewed_car, period, only_new)
    assert (report.completions, report.unique_records) == (2, 2)
    recent = [PropertyFilter(property="year", operator=Operator.IS_GREATER_THAN, values=["2016"])]
    assert services.reports.event_report(viewed_car, period, recent).completions == 2


def test_attribution_first_and_last_touch(
    services: Services, data: tuple[EventDefinition, EventDefinition, list[CrmRecord]]
) -> None:
    viewed_car, trial, _ = data
    period = DateRange(date(2026, 11, 1), date(2026, 11, 30))
    # Ann's first completion of Viewed Car in the period is Nov 1 (Kia): touches up to then are
    # ORGANIC_SEARCH (Oct 30) then PAID_SEARCH (Nov 1). Bo: PAID_SEARCH. Cy: none.
    result = services.reports.attribution(viewed_car, period, Dimension.TOUCHPOINT_SOURCE)
    assert result.converted == 3
    assert result.no_touch == 1
    rows = {r.value: (r.first_touch, r.last_touch) for r in result.rows}
    assert rows == {"PAID_SEARCH": (1, 2), "ORGANIC_SEARCH": (1, 0)}
    trial_touch = services.reports.attribution(trial, period, Dimension.TOUCHPOINT_SOURCE)
    assert trial_touch.converted == 1
    assert [(r.value, r.first_touch, r.first_share) for r in trial_touch.rows] == [
        ("PAID_SEARCH", 1, 1.0)
    ]
    referrer = services.reports.attribution(viewed_car, period, Dimension.REFERRER)
    assert [(r.value, r.first_touch) for r in referrer.rows] == [("google.com", 1)]
    utm = services.reports.attribution(viewed_car, period, Dimension.UTM)
    assert [(r.value, r.last_touch) for r in utm.rows] == [("google / spring", 1)]


def test_attribution_counts_only_completions_the_report_filters_keep(
    services: Services, data: tuple[EventDefinition, EventDefinition, list[CrmRecord]]
) -> None:
    viewed_car, _, _ = data
    period = DateRange(date(2026, 11, 1), date(2026, 11, 30))
    kia = [PropertyFilter(property="make", operator=Operator.IS_EQUAL_TO, values=["Kia"])]
    # Only Ann's Nov 1 completion is a Kia: she alone converts, with her touches up to it.
    result = services.reports.attribution(viewed_car, period, Dimension.TOUCHPOINT_SOURCE, kia)
    assert result.converted == 1
    assert result.no_touch == 0
    rows = {r.value: (r.first_touch, r.last_touch) for r in result.rows}
    assert rows == {"ORGANIC_SEARCH": (1, 0), "PAID_SEARCH": (0, 1)}


def test_pure_functions_ignore_other_events_and_times(
    data: tuple[EventDefinition, EventDefinition, list[CrmRecord]], services: Services
) -> None:
    viewed_car, trial, _ = data
    everything = list(services.occurrences.iterate(CompletionQuery(newest_first=False)))
    period = DateRange(date(2026, 11, 3), date(2026, 11, 3))
    assert analyze(everything, [viewed_car], period, Frequency.DAILY).rows[0].completions == 0
    assert event_report(everything, trial, period).completions == 1
    assert attribution(everything, trial, period, Dimension.UTM).no_touch == 1


def test_csv_round_trips_awkward_text() -> None:
    text = to_csv(["Value", "Count"], [['say "hi", twice', 2], ["new\nline", None]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["Value", "Count"],
        ['say "hi", twice', "2"],
        ["new\nline", ""],
    ]


@pytest.mark.parametrize(
    "sent",
    [
        '=HYPERLINK("http://evil.example","click")',
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_csv_cells_that_would_start_a_formula_get_a_leading_quote(sent: str) -> None:
    text = to_csv([sent, "Count"], [[sent, 1]])
    assert list(csv.reader(io.StringIO(text))) == [["'" + sent, "Count"], ["'" + sent, "1"]]


def test_csv_keeps_ordinary_text_and_numbers_as_they_are() -> None:
    rows: list[list[object]] = [
        ["Sedan", 12, "0.2500"],
        ["a=b", -3, "50.0%"],
        ["-3", -0.5, "-0.25"],  # a number property's values: numbers, not formulas
        ["", None, "2026-10-01"],
    ]
    text = to_csv(["Value", "Completions", "Share"], rows)
    assert list(csv.reader(io.StringIO(text)))[1:] == [
        ["Sedan", "12", "0.2500"],
        ["a=b", "-3", "50.0%"],
        ["-3", "-0.5", "-0.25"],
        ["", "", "2026-10-01"],
    ]


@pytest.mark.parametrize("frequency", list(Frequency))
def test_the_stores_counts_equal_counting_every_completion(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frequency: Frequency
) -> None:
    """The analyze screen's numbers come from the store's indexes (segments and the open
    journal); counting the completions one by one gives the same."""
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", 150)
    services = open_services(tmp_path / "demo", clock=FixedClock(NOW))
    build_demo(services.db, DemoSpec(contacts=30, completions=700, days=60), NOW)
    # A completion by an anonymous visitor is counted, but not as a record.
    services.ingestion.ingest(
        [{"eventName": _js_event(services), "utk": "anon-1", "occurredAt": "2026-10-20"}],
        Mode.LENIENT,
        Source.JS,
    )
    store = tmp_path / "demo" / "completions"
    assert len(list(store.glob("seg-*.json"))) >= 2
    assert any(p.stat().st_size for p in store.glob("journal-*.jsonl"))
    everything = list(services.occurrences.iterate(CompletionQuery(newest_first=False)))
    definitions = [d for d in services.db.definitions.list_all() if not d.archived]
    for preset in (RangePreset.LAST_7_DAYS, RangePreset.LAST_90_DAYS, RangePreset.LAST_MONTH):
        period = resolve_range(preset, NOW)
        fast = services.reports.analyze(period, frequency)
        slow = analyze(everything, definitions, period, frequency)
        assert fast == slow, (preset, frequency)
        assert sum(r.completions for r in fast.rows) > 0
    services.close()


def _js_event(services: Services) -> str:
    return next(
        d.fully_qualified_name
        for d in services.db.definitions.list_all()
        if d.tracking_method is TrackingMethod.JAVASCRIPT
    )


def test_breakdowns_count_what_usable_values_gives(tmp_path: Path) -> None:
    """Each property's breakdown, counted in one pass, agrees with the shared definition of a
    usable value (``usable_values``) on every demo event, unusable options and all."""
    services = open_services(tmp_path / "demo", clock=FixedClock(NOW))
    build_demo(services.db, DemoSpec(contacts=30, completions=1500, days=60), NOW)
    period = resolve_range(RangePreset.LAST_90_DAYS, NOW)
    everything = list(services.occurrences.iterate(CompletionQuery(newest_first=False)))
    checked = 0
    for definition in services.db.definitions.list_all():
        report = services.reports.event_report(definition, period)
        mine = [
            c
            for c in everything
            if c.event_name == definition.fully_qualified_name
            and period.after <= c.occurred_at < period.before
        ]
        for breakdown in report.properties:
            prop = breakdown.prop
            having = [c for c in mine if prop.name in c.properties]
            usable = [usable_values(c, prop) for c in having]
            assert breakdown.unknown == len(mine) - len(having)
            assert breakdown.unusable == sum(1 for c in having if c.unusable.get(prop.name))
            assert breakdown.known == sum(1 for u in usable if u)
            if prop.type is PropertyType.ENUMERATION:
                counted = Counter(v for u in usable for v in u)
                labels = {prop.option_label(v) or v: n for v, n in counted.items()}
                assert {r.label: r.count for r in breakdown.rows} == labels
            else:
                assert sum(r.count for r in breakdown.rows) == breakdown.known
            checked += 1
    assert checked > 20
    assert any(b.unusable for b in _all_breakdowns(services, period))
    services.close()


def _all_breakdowns(services: Services, period: DateRange) -> list[PropertyBreakdown]:
    return [
        b
        for d in services.db.definitions.list_all()
        for b in services.reports.event_report(d, period).properties
    ]
