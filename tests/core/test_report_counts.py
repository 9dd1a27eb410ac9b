"""The event report counted from the store's summaries of sent values gives exactly what reading
every completion gives (issue 18): on generated data with unusable and multi-value enumeration
values, cut values, numbers sent as text, days' edges, segments, the open journal, and a
database from before summaries."""

from __future__ import annotations

import contextlib
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.bootstrap import open_services
from cli.demodb import build_demo_database
from core.analytics import (
    DateRange,
    Dimension,
    RangePreset,
    attribution,
    event_report,
    resolve_range,
)
from core.clock import FixedClock
from core.demo import DemoSpec, build_demo
from core.errors import ValidationFailed
from core.filters import Operator, PropertyFilter
from core.ingestion import Mode
from core.models import ObjectType, Source
from core.occurrences import CompletionQuery
from core.services import Services
from storage.completions import segment_file
from tests.conftest import VIEWED_CAR

NOW = datetime(2026, 11, 4, 15, 0, tzinfo=UTC)

_CONDITIONS = ["new", "used", "new;used", "bogus", "new;bogus", ";new", "used;used", "", "Used"]
_YEARS: list[Any] = [2020, 2020.0, 2015.5, "2021", "12.50", -3, 0, 10**6, "1e3"]
_MAKES = ["Ford", "Kia", "", "ford", "x" * 300, "=SUM(A1)", "a;b", "Ford "]
_LISTED = ["2026-10-01T10:00:00Z", "2026-11-02", 1_790_000_000_000, "2025-12-31T23:59:59Z"]
_URLS = ["https://example.com/" + "u" * 1100, "https://example.com/a", "https://example.com/b"]

_completion = st.fixed_dictionaries(
    {
        "when": st.integers(min_value=-6 * 24, max_value=3 * 24),  # hours from Nov 1, 00:00
        "minute": st.sampled_from([0, 1, 59]),
        "who": st.integers(min_value=0, max_value=3),
        "props": st.fixed_dictionaries(
            {},
            optional={
                "condition": st.sampled_from(_CONDITIONS),
                "year": st.sampled_from(_YEARS),
                "make": st.sampled_from(_MAKES),
                "listed_at": st.sampled_from(_LISTED),
                "listing_url": st.sampled_from(_URLS),
            },
        ),
        "lenient": st.booleans(),
    }
)


def _setup(folder: Path) -> Services:
    services = open_services(folder, clock=FixedClock(NOW))
    services.definitions.create(VIEWED_CAR)
    for i in range(3):
        services.records.create(ObjectType.CONTACT, {"email": f"c{i}@example.com"})
    return services


def _send(services: Services, event: str, ids: list[str], sent: dict[str, Any]) -> None:
    at = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=sent["when"], minutes=sent["minute"])
    body: dict[str, Any] = {
        "eventName": event,
        "occurredAt": at.isoformat().replace("+00:00", "Z"),
        "properties": sent["props"],
    }
    if sent["who"] < len(ids):
        body["objectId"] = ids[sent["who"]]
    else:
        body["utk"] = "anonymous-visitor"  # no record: counted, not as a unique record
    mode = Mode.LENIENT if sent["lenient"] or "objectId" not in body else Mode.STRICT
    source = Source.JS if mode is Mode.LENIENT else Source.API
    with contextlib.suppress(ValidationFailed):  # a value strict sending refuses
        services.ingestion.ingest([body], mode, source)


def _compare(services: Services, periods: list[DateRange]) -> int:
    everything = list(services.occurrences.iterate(CompletionQuery(newest_first=False)))
    compared = 0
    for definition in services.db.definitions.list_all():
        for period in periods:
            fast = services.reports.event_report(definition, period)
            slow = event_report(everything, definition, period)
            assert fast == slow, period
            compared += fast.completions
    return compared


_PERIODS = [
    DateRange(date(2026, 10, 28), date(2026, 11, 3)),
    DateRange(date(2026, 11, 1), date(2026, 11, 1)),
    DateRange(date(2026, 10, 31), date(2026, 11, 2)),
    DateRange(date(2020, 1, 1), date(2030, 1, 1)),
]


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(completions=st.lists(_completion, min_size=1, max_size=40), size=st.sampled_from([7, 1000]))
def test_event_report_from_summaries_equals_reading_every_completion(
    completions: list[dict[str, Any]], size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", size)
    with tempfile.TemporaryDirectory() as tmp:
        services = _setup(Path(tmp) / "db")
        event = services.db.definitions.list_all()[0].fully_qualified_name
        ids = [r.id for r in services.db.records.list_records(ObjectType.CONTACT)]
        for sent in completions:
            _send(services, event, ids, sent)
        _compare(services, _PERIODS)
        services.close()


def test_summaries_of_the_demo_give_every_report_as_reading_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every demo event, in segments and the open journal: summaries made by the first report
    (a fold does not make them: writes stay as fast), read back, made again when they went
    missing or stale (another version of the segment), and with filters (which read the
    completions)."""
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", 400)
    folder = tmp_path / "demo"
    services = open_services(folder, clock=FixedClock(NOW))
    build_demo(services.db, DemoSpec(contacts=30, completions=1500, days=60), NOW)
    store = folder / "completions"
    assert len(list(store.glob("seg-*.json"))) >= 3
    assert not list(store.glob("seg-*.sum"))  # made by the first report that needs them
    periods = [resolve_range(p, NOW) for p in (RangePreset.LAST_90_DAYS, RangePreset.LAST_7_DAYS)]
    assert _compare(services, periods) > 1000
    services.close()
    assert len(list(store.glob("seg-*.sum"))) == len(list(store.glob("seg-*.json")))

    sums = sorted(store.glob("seg-*.sum"))
    sums[0].unlink()
    sums[1].write_bytes(sums[2].read_bytes())  # another segment's: its token differs
    services = open_services(folder, clock=FixedClock(NOW))
    assert _compare(services, periods) > 1000
    services.close()
    assert len(list(store.glob("seg-*.sum"))) == len(sums)  # made again, and written

    services = open_services(folder, clock=FixedClock(NOW))
    definition = next(
        d for d in services.db.definitions.list_all() if d.name == "viewed_pricing_page"
    )
    filters = [
        PropertyFilter(
            property="plan_viewed",
            operator=Operator.IS_ANY_OF,
            values=["starter", "enterprise_plus"],
        )
    ]
    everything = list(services.occurrences.iterate(CompletionQuery(newest_first=False)))
    fast = services.reports.event_report(definition, periods[0], filters)
    assert fast == event_report(everything, definition, periods[0], filters)
    assert 0 < fast.completions < services.reports.event_report(definition, periods[0]).completions
    services.close()


_TOUCH = st.fixed_dictionaries(
    {},
    optional={
        "hs_touchpoint_source": st.sampled_from(["PAID_SEARCH", "DIRECT_TRAFFIC", ""]),
        "hs_utm_source": st.sampled_from(["google", "news", ""]),
        "hs_utm_campaign": st.sampled_from(["spring", ""]),
        "hs_referrer": st.sampled_from(["https://www.google.com/q", "https://a.example/", ""]),
    },
)
_touching = st.fixed_dictionaries(
    {
        "when": st.integers(min_value=-6 * 24, max_value=3 * 24),
        "minute": st.sampled_from([0, 1]),  # completions in the same millisecond: ids decide
        "who": st.integers(min_value=0, max_value=3),
        "props": _TOUCH,
        "lenient": st.just(False),
        "converts": st.booleans(),
    }
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(completions=st.lists(_touching, min_size=1, max_size=40), size=st.sampled_from([5, 1000]))
def test_attribution_from_summaries_equals_reading_every_completion(
    completions: list[dict[str, Any]], size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Completions sent out of time order, so that segments overlap in time and a segment
    holds touches on both sides of a conversion."""
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", size)
    with tempfile.TemporaryDirectory() as tmp:
        services = _setup(Path(tmp) / "db")
        other = services.db.definitions.list_all()[0].fully_qualified_name
        trial = services.definitions.create({"label": "Started trial"})
        ids = [r.id for r in services.db.records.list_records(ObjectType.CONTACT)]
        for sent in completions:
            _send(services, trial.fully_qualified_name if sent["converts"] else other, ids, sent)
        everything = list(services.occurrences.iterate(CompletionQuery(newest_first=False)))
        for period in _PERIODS:
            for dimension in Dimension:
                fast = services.reports.attribution(trial, period, dimension)
                assert fast == attribution(everything, trial, period, dimension), (
                    period,
                    dimension,
                )
        services.close()


def test_attribution_of_the_demo_from_summaries_equals_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", 400)
    services = open_services(tmp_path / "demo", clock=FixedClock(NOW))
    build_demo(services.db, DemoSpec(contacts=30, completions=1500, days=60), NOW)
    everything = list(services.occurrences.iterate(CompletionQuery(newest_first=False)))
    periods = [resolve_range(p, NOW) for p in (RangePreset.LAST_90_DAYS, RangePreset.LAST_7_DAYS)]
    converted = 0
    for definition in services.db.definitions.list_all():
        for period in periods:
            for dimension in Dimension:
                fast = services.reports.attribution(definition, period, dimension)
                assert fast == attribution(everything, definition, period, dimension)
                converted += fast.converted - fast.no_touch
    assert converted > 100
    services.close()


def test_cbe_demo_writes_the_summaries_as_it_folds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo's reports come next: its segments are summarised as they are folded."""
    monkeypatch.setattr(segment_file, "SEGMENT_SIZE", 300)
    folder = tmp_path / "demo"
    build_demo_database(folder, DemoSpec(contacts=20, completions=1000, days=30), NOW, False)
    store = folder / "completions"
    segments = sorted(p.stem for p in store.glob("seg-*.json"))
    assert len(segments) >= 2
    assert sorted(p.stem for p in store.glob("seg-*.sum")) == segments
    services = open_services(folder, clock=FixedClock(NOW))
    assert _compare(services, [resolve_range(RangePreset.LAST_30_DAYS, NOW)]) > 500
    services.close()
