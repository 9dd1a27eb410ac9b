"""Time as the domain sees it: always timezone-aware UTC, settable in tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol


class Clock(Protocol):
    """Source of the current time."""

    def now(self) -> datetime:
        """The current moment, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to; tests and the demo use it."""

    def __init__(self, at: datetime) -> None:
        self._at = to_utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        """Jump to ``at``."""
        self._at = to_utc(at)

    def advance(self, delta: timedelta) -> datetime:
        """Move forward by ``delta`` and return the new time."""
        self._at += delta
        return self._at


def to_utc(value: datetime) -> datetime:
    """Convert an aware datetime to UTC; a naive one is refused rather than guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no time zone")
    return value.astimezone(UTC)


def utc_day_start(value: datetime) -> datetime:
    """The UTC midnight at or before an aware datetime (the day boundaries that counts per day
    are kept by, in every store)."""
    moment = to_utc(value)
    return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)


def truncate_to_millis(value: datetime) -> datetime:
    """HubSpot keeps timestamps to the millisecond; so does cbe."""
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


@lru_cache(maxsize=1024)
def format_utc(value: datetime) -> str:
    """The one text form of a timestamp in cbe: ``2024-01-02T03:04:05.000Z``.

    Fixed width, so that the text sorts the same way as the moment it names. Cached: a batch
    formats its receipt time once per completion, and equal moments have equal text whatever
    their offset.
    """
    # isoformat, not strftime: strftime's %Y does not pad years before 1000 to four digits
    text = value.isoformat(timespec="milliseconds")
    if text.endswith("+00:00") and value.tzinfo is not None:  # already UTC: the common case
        return text[:-6] + "Z"
    return to_utc(value).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def from_epoch_millis(millis: int) -> datetime:
    """A UTC datetime from Unix epoch milliseconds."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def to_epoch_millis(value: datetime) -> int:
    """Unix epoch milliseconds of an aware datetime."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no time zone")
    return (value - _EPOCH) // _MILLISECOND
