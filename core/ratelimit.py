"""HubSpot's API rate limits for private apps, as ``X-HubSpot-RateLimit-*`` headers and 429s.

HubSpot's usage guidelines (developers.hubspot.com/docs/developer-tooling/platform/
usage-guidelines) give private apps a burst limit per app over a rolling 10 seconds and a daily
limit per account: 100 per 10 s and 250,000 a day on Free and Starter, 190 per 10 s and 625,000
(Professional) or 1,000,000 (Enterprise) a day. Every answer carries the headers below; a call
over a limit is a 429 whose ``policyName`` says which (``TEN_SECONDLY_ROLLING`` or ``DAILY``).
``X-HubSpot-RateLimit-Secondly`` is a tenth of the burst limit in HubSpot's own answers (10 for
100, 19 for 190); the guidelines enforce no per-second limit for private apps, so neither does
cbe: it is reported, not enforced.

One :class:`RateLimiter` counts every call whether or not it enforces: ``cbe serve`` always
sends the headers as HubSpot does, and only ``--rate-limit`` makes them binding.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from dataclasses import dataclass, field

from core.clock import Clock

TEN_SECONDLY_ROLLING = "TEN_SECONDLY_ROLLING"
DAILY = "DAILY"
DAY_MS = 24 * 60 * 60 * 1000
SECOND_MS = 1000


@dataclass(frozen=True)
class RateLimits:
    """The numbers of one HubSpot tier: ``burst`` calls per ``interval_ms``, ``daily`` a day."""

    name: str
    burst: int
    interval_ms: int
    daily: int

    @property
    def secondly(self) -> int:
        """What HubSpot reports as ``X-HubSpot-RateLimit-Secondly``: a tenth of the burst."""
        return max(1, self.burst * SECOND_MS // self.interval_ms)


HUBSPOT = RateLimits("hubspot", burst=100, interval_ms=10_000, daily=250_000)
"""Free and Starter, HubSpot's lowest tier: an integration that copes with it copes with all."""

TIERS: dict[str, RateLimits] = {
    HUBSPOT.name: HUBSPOT,
    "hubspot-professional": RateLimits(
        "hubspot-professional", burst=190, interval_ms=10_000, daily=625_000
    ),
    "hubspot-enterprise": RateLimits(
        "hubspot-enterprise", burst=190, interval_ms=10_000, daily=1_000_000
    ),
}

_CUSTOM = re.compile(r"^(\d+)/(\d+)(ms|s)$")


def parse_rate_limit(text: str) -> RateLimits:
    """A tier by name (``hubspot``, ``hubspot-professional``, ``hubspot-enterprise``) or a
    burst of one's own, ``N/Ts`` or ``N/Tms`` (``5/1s``: five calls a second, to test a
    client's backoff without waiting ten seconds); the daily limit is then Free's."""
    tier = TIERS.get(text.strip().lower())
    if tier is not None:
        return tier
    match = _CUSTOM.match(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is no rate limit: use {', '.join(TIERS)}, or N/Ts such as 5/1s")
    burst, amount, unit = int(match[1]), int(match[2]), match[3]
    interval_ms = amount * (SECOND_MS if unit == "s" else 1)
    if burst < 1 or interval_ms < 1:
        raise ValueError(f"{text!r}: a rate limit needs at least one call in a positive time")
    return RateLimits(
        text.strip().lower(), burst=burst, interval_ms=interval_ms, daily=HUBSPOT.daily
    )


def constant_headers(limits: RateLimits) -> dict[str, str]:
    """The headers that say the limits themselves, the same on every answer."""
    return {
        "X-HubSpot-RateLimit-Daily": str(limits.daily),
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(limits.interval_ms),
        "X-HubSpot-RateLimit-Max": str(limits.burst),
        "X-HubSpot-RateLimit-Secondly": str(limits.secondly),
    }


@dataclass(frozen=True)
class Verdict:
    """Whether one call may go on, and what its answer tells the caller."""

    allowed: bool
    limits: RateLimits
    remaining: int
    daily_remaining: int
    secondly_remaining: int
    policy: str | None = None
    """``TEN_SECONDLY_ROLLING`` or ``DAILY`` when refused."""
    retry_after_seconds: int | None = None

    def remaining_headers(self) -> dict[str, str]:
        """The headers that count down."""
        return {
            "X-HubSpot-RateLimit-Daily-Remaining": str(self.daily_remaining),
            "X-HubSpot-RateLimit-Remaining": str(self.remaining),
            "X-HubSpot-RateLimit-Secondly-Remaining": str(self.secondly_remaining),
        }

    @property
    def headers(self) -> dict[str, str]:
        """All seven ``X-HubSpot-RateLimit-*`` headers of the answer, by name."""
        both = {**constant_headers(self.limits), **self.remaining_headers()}
        return {name: both[name] for name in sorted(both)}

    @property
    def message(self) -> str:
        """HubSpot's message for the limit hit."""
        return f"You have reached your {(self.policy or '').lower()} limit."


@dataclass
class _Usage:
    window: deque[int] = field(default_factory=deque)
    day: int = -1
    today: int = 0


class RateLimiter:
    """Counts calls per token against ``limits`` by ``clock``; refuses over a limit only when
    ``enforce``. The day ends at midnight UTC (HubSpot: midnight in the account's time zone)."""

    def __init__(self, limits: RateLimits, clock: Clock, enforce: bool) -> None:
        self.limits = limits
        self.enforce = enforce
        self._clock = clock
        self.constant_headers = constant_headers(limits)
        self._usage: dict[str, _Usage] = {}
        self._lock = threading.Lock()

    def admit(self, key: str) -> Verdict:
        """Count one call by ``key`` (its token), or refuse it when over a limit and enforcing.

        Refused calls are not counted: the window frees up as the admitted calls age out of it.
        """
        limits = self.limits
        now = int(self._clock.now().timestamp() * 1000)  # faster than to_epoch_millis
        with self._lock:
            usage = self._usage.setdefault(key, _Usage())
            window = usage.window
            while window and window[0] <= now - limits.interval_ms:
                window.popleft()
            day = now // DAY_MS
            if usage.day != day:
                usage.day, usage.today = day, 0
            refused: str | None = None
            if self.enforce:
                if usage.today >= limits.daily:
                    refused = DAILY
                elif len(window) >= limits.burst:
                    refused = TEN_SECONDLY_ROLLING
            if refused is None:
                window.append(now)
                if len(window) > limits.burst:  # not enforcing: keep what the headers need
                    window.popleft()
                usage.today += 1
            secondly = limits.secondly
            this_second = 0
            for at in reversed(window):
                if at <= now - SECOND_MS or this_second >= secondly:
                    break
                this_second += 1
            counts = (
                max(0, limits.burst - len(window)),
                max(0, limits.daily - usage.today),
                secondly - this_second,
            )
            wait_ms = (
                (day + 1) * DAY_MS - now
                if refused == DAILY
                else window[0] + limits.interval_ms - now
                if refused
                else 0
            )
        if refused is None:
            return Verdict(True, limits, *counts)
        return Verdict(False, limits, *counts, refused, max(1, math.ceil(wait_ms / SECOND_MS)))
