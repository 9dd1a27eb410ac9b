"""Property values: parse what a sender sent into the typed value cbe stores.

- string: text (numbers and booleans become their text);
- number: a JSON number or a decimal numeral in text; stored as int when whole, else float;
- datetime: epoch milliseconds (number or digits) or ISO 8601 (a bare date means midnight UTC, a
  date and time without ``Z`` or an offset is UTC); stored as UTC text ``2024-01-02T03:04:05.000Z``;
- enumeration: one option value, or several separated by ``;``; values that are not options are
  kept but reported as unusable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from core.clock import format_utc, from_epoch_millis, to_utc, truncate_to_millis
from core.errors import Rule, Violation
from core.models import Completion, PropertyDefinition, PropertyType, PropertyValue

_NUMBER_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_EPOCH_RE = re.compile(r"-?\d+")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MAX_EPOCH_MILLIS = 253402300799999  # 9999-12-31T23:59:59.999Z


@dataclass(frozen=True)
class ParsedValue:
    """A value ready to store, and the enumeration values that are not options."""

    value: PropertyValue
    unusable: tuple[str, ...] = field(default=())


def value_text(raw: object) -> str | None:
    """The text form of a sent scalar, on which length limits are measured; None for non-scalars."""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, str):
        return raw
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        # 2020.0 reads as "2020", as JavaScript would print it
        if raw.is_integer() and abs(raw) < 1e16:
            return str(int(raw))
        return repr(raw)
    return None


def parse_value(
    prop: PropertyDefinition,
    raw: object,
    field: str,
    text: str | None = None,
    options: AbstractSet[str] | None = None,
) -> ParsedValue | Violation:
    """Parse ``raw`` as a value of ``prop``; a :class:`Violation` says why it cannot be.

    ``text`` (``value_text(raw)``) and ``options`` (an enumeration's option values) may be
    given by a caller that has them already.
    """
    if text is None:
        text = value_text(raw)
    if text is None:
        return Violation(
            field=field,
            rule=Rule.INVALID_VALUE,
            message=(
                f"Value of {prop.name!r} must be a string, number or boolean, "
                f"not {type(raw).__name__}."
            ),
            actual=type(raw).__name__,
        )
    if prop.type is PropertyType.STRING:
        return ParsedValue(text)
    if prop.type is PropertyType.NUMBER:
        return _parse_number(prop, raw, text, field)
    if prop.type is PropertyType.DATETIME:
        parsed = parse_datetime(raw)
        if parsed is None:
            return Violation(
                field=field,
                rule=Rule.INVALID_DATETIME,
                message=(
                    f"Value {text!r} of {prop.name!r} is not a timestamp: send epoch milliseconds "
                    "or ISO 8601, e.g. 2024-01-02T03:04:05Z."
                ),
                actual=text,
            )
        return ParsedValue(format_utc(parsed))
    return parse_enumeration(prop, text, options)


def _parse_number(
    prop: PropertyDefinition, raw: object, text: str, field: str
) -> ParsedValue | Violation:
    value: int | float | None = None
    if isinstance(raw, bool):
        value = None
    elif isinstance(raw, int):
        value = raw
    elif isinstance(raw, float):
        value = raw if math.isfinite(raw) else None
    elif _NUMBER_RE.fullmatch(text.strip()):
        stripped = text.strip()
        if re.fullmatch(r"[+-]?\d+", stripped):
            value = int(stripped)
        else:
            as_float = float(stripped)
            value = as_float if math.isfinite(as_float) else None
    if value is None:
        return Violation(
            field=field,
            rule=Rule.INVALID_NUMBER,
            message=f"Value {text!r} of {prop.name!r} is not a number.",
            actual=text,
        )
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        # Beyond a 64-bit integer: read as JavaScript (and HubSpot) would, a double.
        try:
            value = float(value)
        except OverflowError:
            return Violation(
                field=field,
                rule=Rule.INVALID_NUMBER,
                message=f"Value of {prop.name!r} is too large for a number.",
                actual=text[:40],
            )
    return ParsedValue(value)


def parse_datetime(raw: object) -> datetime | None:
    """Epoch milliseconds or ISO 8601, as a UTC datetime; else None.

    A bare date (``2024-01-02``) means midnight UTC, as HubSpot's date properties do. A date and
    time without ``Z`` or an offset is UTC: HubSpot's Python SDK sends a naive ``datetime`` that
    way (``2024-01-02T03:04:05``), and HubSpot's own times are UTC.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return _from_millis(raw)
    if isinstance(raw, float):
        return _from_millis(int(raw)) if math.isfinite(raw) and raw.is_integer() else None
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if _EPOCH_RE.fullmatch(text):
        return _from_millis(int(text))
    if _DATE_RE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            return None
        return datetime(day.year, day.month, day.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return truncate_to_millis(to_utc(parsed))
    except OverflowError:
        return None


def _from_millis(millis: int) -> datetime | None:
    if not -62135596800000 <= millis <= _MAX_EPOCH_MILLIS:
        return None
    return from_epoch_millis(millis)


def parse_enumeration(
    prop: PropertyDefinition, text: str, options: AbstractSet[str] | None = None
) -> ParsedValue:
    """One value or several separated by ``;``; each is checked against the options.

    Values that are not options are kept (nothing sent is lost) and listed as unusable.
    """
    allowed = prop.option_values() if options is None else options
    if ";" not in text:  # one value: the usual case
        value = text.strip()
        return ParsedValue(value, () if not value or value in allowed else (value,))
    values = [part.strip() for part in text.split(";")]
    values = [v for v in values if v]
    unusable = tuple(dict.fromkeys(v for v in values if v not in allowed))
    return ParsedValue(";".join(values), unusable)


def usable_values(completion: Completion, prop: PropertyDefinition) -> list[str]:
    """The values of ``prop`` on ``completion`` that filters and reports may use.

    Enumerations give each option value separately and leave out unusable ones; other types give
    their one value as text.
    """
    raw = completion.properties.get(prop.name)
    if raw is None:
        return []
    if prop.type is PropertyType.ENUMERATION:
        bad = set(completion.unusable.get(prop.name, ()))
        return [v for v in str(raw).split(";") if v and v not in bad]
    return [value_text(raw) or ""]
