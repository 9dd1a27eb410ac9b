"""The analyze chart's scale: whole-number ticks from zero, and which buckets are partial."""

from __future__ import annotations

from datetime import date

from core.analytics import DateRange, Frequency, buckets, count_ticks, partial_buckets


def test_count_ticks_are_whole_numbers_from_zero_covering_the_top() -> None:
    assert count_ticks(0) == [0, 1]
    assert count_ticks(3) == [0, 1, 2, 3]
    assert count_ticks(9) == [0, 2, 4, 6, 8, 10]
    assert count_ticks(219) == [0, 50, 100, 150, 200, 250]
    for top in range(0, 3000, 7):
        ticks = count_ticks(top)
        assert ticks[0] == 0 and ticks[-1] >= top and len(ticks) <= 7


def test_partial_buckets_are_the_weeks_and_months_the_range_cuts() -> None:
    period = DateRange(date(2026, 10, 2), date(2026, 10, 31))  # a Friday to a Saturday
    weeks = buckets(period, Frequency.WEEKLY)
    assert weeks[0] == date(2026, 9, 27) and weeks[-1] == date(2026, 10, 25)
    assert partial_buckets(period, Frequency.WEEKLY, weeks) == {0}  # Oct 25-31 is whole
    months = buckets(DateRange(date(2026, 9, 1), date(2026, 11, 15)), Frequency.MONTHLY)
    assert partial_buckets(
        DateRange(date(2026, 9, 1), date(2026, 11, 15)), Frequency.MONTHLY, months
    ) == {2}
    days = buckets(period, Frequency.DAILY)
    assert partial_buckets(period, Frequency.DAILY, days) == set()
