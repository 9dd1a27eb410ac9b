"""HubSpot's rate limits for private apps, counted by a clock the test moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.clock import FixedClock
from core.ratelimit import (
    DAILY,
    HUBSPOT,
    TEN_SECONDLY_ROLLING,
    TIERS,
    RateLimiter,
    RateLimits,
    parse_rate_limit,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def test_the_tiers_are_hubspots_documented_private_app_limits() -> None:
    assert (HUBSPOT.burst, HUBSPOT.interval_ms, HUBSPOT.daily) == (100, 10_000, 250_000)
    assert TIERS["hubspot-professional"].burst == 190
    assert TIERS["hubspot-professional"].daily == 625_000
    assert TIERS["hubspot-enterprise"].daily == 1_000_000
    # as in HubSpot's own answers: 10 for 100 per 10 s, 19 for 190
    assert HUBSPOT.secondly == 10
    assert TIERS["hubspot-enterprise"].secondly == 19


def test_a_custom_burst_is_parsed_and_nonsense_is_refused() -> None:
    assert parse_rate_limit("5/1s") == RateLimits("5/1s", 5, 1000, HUBSPOT.daily)
    assert parse_rate_limit("3/250ms").interval_ms == 250
    assert parse_rate_limit("HubSpot") is HUBSPOT
    for bad in ("fast", "0/1s", "5/0s", "5 per second"):
        with pytest.raises(ValueError, match="rate limit"):
            parse_rate_limit(bad)


def test_every_call_reports_what_is_left() -> None:
    limiter = RateLimiter(HUBSPOT, FixedClock(NOW), enforce=True)
    first = limiter.admit("token")
    assert first.allowed
    assert first.headers == {
        "X-HubSpot-RateLimit-Daily": "250000",
        "X-HubSpot-RateLimit-Daily-Remaining": "249999",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
        "X-HubSpot-RateLimit-Max": "100",
        "X-HubSpot-RateLimit-Remaining": "99",
        "X-HubSpot-RateLimit-Secondly": "10",
        "X-HubSpot-RateLimit-Secondly-Remaining": "9",
    }


def test_the_call_over_the_burst_is_refused_until_the_window_rolls_on() -> None:
    clock = FixedClock(NOW)
    limiter = RateLimiter(RateLimits("t", 3, 10_000, 1000), clock, enforce=True)
    assert limiter.admit("token").allowed
    clock.advance(timedelta(seconds=4))
    assert limiter.admit("token").allowed
    assert limiter.admit("token").allowed

    refused = limiter.admit("token")
    assert not refused.allowed
    assert refused.policy == TEN_SECONDLY_ROLLING
    assert refused.message == "You have reached your ten_secondly_rolling limit."
    assert refused.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert refused.retry_after_seconds == 6  # the first call leaves the window in 6 s

    clock.advance(timedelta(seconds=5, milliseconds=999))
    assert not limiter.admit("token").allowed  # refused calls do not count, nor free anything
    clock.advance(timedelta(milliseconds=1))
    again = limiter.admit("token")
    assert again.allowed
    assert again.headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_each_token_has_its_own_burst() -> None:
    limiter = RateLimiter(RateLimits("t", 1, 10_000, 1000), FixedClock(NOW), enforce=True)
    assert limiter.admit("one").allowed
    assert not limiter.admit("one").allowed
    assert limiter.admit("two").allowed


def test_the_daily_limit_holds_until_midnight_utc() -> None:
    clock = FixedClock(datetime(2026, 11, 1, 23, 59, 0, tzinfo=UTC))
    limiter = RateLimiter(RateLimits("t", 100, 1000, 2), clock, enforce=True)
    assert limiter.admit("token").allowed
    assert limiter.admit("token").headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    refused = limiter.admit("token")
    assert (refused.allowed, refused.policy) == (False, DAILY)
    assert refused.message == "You have reached your daily limit."
    assert refused.retry_after_seconds == 60
    clock.advance(timedelta(seconds=60))
    assert limiter.admit("token").headers["X-HubSpot-RateLimit-Daily-Remaining"] == "1"


def test_without_enforcing_nothing_is_refused_but_the_headers_still_count() -> None:
    limiter = RateLimiter(RateLimits("t", 2, 10_000, 3), FixedClock(NOW), enforce=False)
    verdicts = [limiter.admit("token") for _ in range(5)]
    assert all(v.allowed for v in verdicts)
    assert [v.headers["X-HubSpot-RateLimit-Remaining"] for v in verdicts] == [
        "1",
        "0",
        "0",
        "0",
        "0",
    ]
    assert verdicts[-1].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_the_secondly_header_counts_the_last_second_only() -> None:
    clock = FixedClock(NOW)
    limiter = RateLimiter(HUBSPOT, clock, enforce=True)
    for _ in range(4):
        limiter.admit("token")
    clock.advance(timedelta(seconds=1))
    verdict = limiter.admit("token")
    assert verdict.headers["X-HubSpot-RateLimit-Secondly-Remaining"] == "9"
    assert verdict.headers["X-HubSpot-RateLimit-Remaining"] == "95"
