"""Property filters on completions: HubSpot's operators by property type, one implementation.

Workflows ("delay until event happens" with a property filter), timelines and reports all use
:func:`matches`. Only usable values count: an enumeration value that is not an option never
matches anything (it is kept on the completion, flagged, and out of filters and reports).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum

from pydantic import Field

from core.errors import Rule, Violation
from core.models import CbeModel, Completion, PropertyDefinition, PropertyType
from core.values import parse_datetime, usable_values


class Operator(StrEnum):
    """HubSpot's filter operators (the API's names)."""

    IS_EQUAL_TO = "IS_EQUAL_TO"
    IS_NOT_EQUAL_TO = "IS_NOT_EQUAL_TO"
    CONTAINS = "CONTAINS"
    DOES_NOT_CONTAIN = "DOES_NOT_CONTAIN"
    STARTS_WITH = "STARTS_WITH"
    ENDS_WITH = "ENDS_WITH"
    IS_GREATER_THAN = "IS_GREATER_THAN"
    IS_GREATER_THAN_OR_EQUAL_TO = "IS_GREATER_THAN_OR_EQUAL_TO"
    IS_LESS_THAN = "IS_LESS_THAN"
    IS_LESS_THAN_OR_EQUAL_TO = "IS_LESS_THAN_OR_EQUAL_TO"
    IS_BETWEEN = "IS_BETWEEN"
    IS_NOT_BETWEEN = "IS_NOT_BETWEEN"
    IS_ANY_OF = "IS_ANY_OF"
    IS_NONE_OF = "IS_NONE_OF"
    CONTAINS_ALL = "CONTAINS_ALL"
    IS_BEFORE = "IS_BEFORE"
    IS_AFTER = "IS_AFTER"
    IS_KNOWN = "IS_KNOWN"
    IS_UNKNOWN = "IS_UNKNOWN"

    @property
    def label(self) -> str:
        """The words HubSpot's editor uses."""
        return _LABELS[self]


_LABELS = {
    Operator.IS_EQUAL_TO: "is equal to any of",
    Operator.IS_NOT_EQUAL_TO: "is not equal to any of",
    Operator.CONTAINS: "contains any of",
    Operator.DOES_NOT_CONTAIN: "doesn't contain any of",
    Operator.STARTS_WITH: "starts with any of",
    Operator.ENDS_WITH: "ends with any of",
    Operator.IS_GREATER_THAN: "is greater than",
    Operator.IS_GREATER_THAN_OR_EQUAL_TO: "is greater than or equal to",
    Operator.IS_LESS_THAN: "is less than",
    Operator.IS_LESS_THAN_OR_EQUAL_TO: "is less than or equal to",
    Operator.IS_BETWEEN: "is between",
    Operator.IS_NOT_BETWEEN: "is not between",
    Operator.IS_ANY_OF: "is any of",
    Operator.IS_NONE_OF: "is none of",
    Operator.CONTAINS_ALL: "contains all of",
    Operator.IS_BEFORE: "is before",
    Operator.IS_AFTER: "is after",
    Operator.IS_KNOWN: "is known",
    Operator.IS_UNKNOWN: "is unknown",
}

_ALWAYS = (Operator.IS_KNOWN, Operator.IS_UNKNOWN)
OPERATORS: dict[PropertyType, tuple[Operator, ...]] = {
    PropertyType.STRING: (
        Operator.IS_EQUAL_TO,
        Operator.IS_NOT_EQUAL_TO,
        Operator.CONTAINS,
        Operator.DOES_NOT_CONTAIN,
        Operator.STARTS_WITH,
        Operator.ENDS_WITH,
        *_ALWAYS,
    ),
    PropertyType.NUMBER: (
        Operator.IS_EQUAL_TO,
        Operator.IS_NOT_EQUAL_TO,
        Operator.IS_GREATER_THAN,
        Operator.IS_GREATER_THAN_OR_EQUAL_TO,
        Operator.IS_LESS_THAN,
        Operator.IS_LESS_THAN_OR_EQUAL_TO,
        Operator.IS_BETWEEN,
        Operator.IS_NOT_BETWEEN,
        *_ALWAYS,
    ),
    PropertyType.ENUMERATION: (
        Operator.IS_ANY_OF,
        Operator.IS_NONE_OF,
        Operator.CONTAINS_ALL,
        *_ALWAYS,
    ),
    PropertyType.DATETIME: (
        Operator.IS_BEFORE,
        Operator.IS_AFTER,
        Operator.IS_BETWEEN,
        *_ALWAYS,
    ),
}
"""Which operators each property type offers, in the editor's order."""

_NO_VALUE = {Operator.IS_KNOWN, Operator.IS_UNKNOWN}
_TWO_VALUES = {Operator.IS_BETWEEN, Operator.IS_NOT_BETWEEN}
_ONE_VALUE = {
    Operator.IS_GREATER_THAN,
    Operator.IS_GREATER_THAN_OR_EQUAL_TO,
    Operator.IS_LESS_THAN,
    Operator.IS_LESS_THAN_OR_EQUAL_TO,
    Operator.IS_BEFORE,
    Operator.IS_AFTER,
}


def value_count(operator: Operator) -> int | None:
    """How many values ``operator`` takes: 0, 1 or 2; None for one or more."""
    if operator in _NO_VALUE:
        return 0
    if operator in _TWO_VALUES:
        return 2
    if operator in _ONE_VALUE:
        return 1
    return None


class PropertyFilter(CbeModel):
    """One filter line: a property, an operator and its values (as text)."""

    property: str
    operator: Operator
    values: list[str] = Field(default_factory=list)

    def describe(self, prop: PropertyDefinition | None = None) -> str:
        """``Plan is any of Starter, Pro`` (option labels for enumerations)."""
        label = prop.label if prop else self.property
        shown = [(prop.option_label(v) or v) if prop and prop.options else v for v in self.values]
        if self.operator in _NO_VALUE:
            return f"{label} {self.operator.label}"
        if self.operator in _TWO_VALUES and len(shown) == 2:
            return f"{label} {self.operator.label} {shown[0]} and {shown[1]}"
        return f"{label} {self.operator.label} {', '.join(shown)}"


def check_filter(
    f: PropertyFilter, prop: PropertyDefinition | None, field: str = "filter"
) -> list[Violation]:
    """A filter names a property of the event, an operator for its type, and fitting values."""
    if prop is None:
        return [
            Violation(
                field=f"{field}.property",
                rule=Rule.UNKNOWN_PROPERTY,
                message=f"The event has no property named {f.property!r}.",
                actual=f.property,
            )
        ]
    allowed = OPERATORS[prop.type]
    if f.operator not in allowed:
        return [
            Violation(
                field=f"{field}.operator",
                rule=Rule.INVALID_VALUE,
                message=(
                    f"{f.operator.label!r} does not apply to a {prop.type.label.lower()} "
                    f"property; use one of: {', '.join(o.label for o in allowed)}."
                ),
                actual=f.operator.value,
            )
        ]
    values = [v for v in f.values if v.strip()]
    count = value_count(f.operator)
    if count == 0:
        fits, need = not values, "no value"
    elif count == 2:
        fits, need = len(values) == 2, "two values (from and to)"
    elif count == 1:
        fits, need = len(values) == 1, "one value"
    else:
        fits, need = bool(values), "at least one value"
    if not fits:
        return [
            Violation(
                field=f"{field}.values",
                rule=Rule.INVALID_VALUE,
                message=f"{prop.label} {f.operator.label} needs {need}.",
                actual=len(values),
            )
        ]
    for value in values:
        if prop.type is PropertyType.NUMBER and _number(value) is None:
            return [
                Violation(
                    field=f"{field}.values",
                    rule=Rule.INVALID_NUMBER,
                    message=f"{value!r} is not a number.",
                    actual=value,
                )
            ]
        if prop.type is PropertyType.DATETIME and parse_datetime(value) is None:
            return [
                Violation(
                    field=f"{field}.values",
                    rule=Rule.INVALID_DATETIME,
                    message=f"{value!r} is not a date: use YYYY-MM-DD or ISO 8601 with Z.",
                    actual=value,
                )
            ]
        if prop.type is PropertyType.ENUMERATION and value not in prop.option_values():
            return [
                Violation(
                    field=f"{field}.values",
                    rule=Rule.UNUSABLE_OPTION,
                    message=f"{value!r} is not an option of {prop.label}.",
                    actual=value,
                )
            ]
    return []


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _moment(text: str) -> datetime | None:
    return parse_datetime(text)


def matches(completion: Completion, prop: PropertyDefinition | None, f: PropertyFilter) -> bool:
    """Does ``completion`` pass filter ``f``? (``prop`` is the filtered property's definition.)"""
    if prop is None:
        return f.operator is Operator.IS_UNKNOWN
    values = usable_values(completion, prop)
    if f.operator is Operator.IS_KNOWN:
        return bool(values)
    if f.operator is Operator.IS_UNKNOWN:
        return not values
    if not values:
        return False  # every other operator needs a value (negations included, as in HubSpot)
    if prop.type is PropertyType.NUMBER:
        return _number_matches(values[0], f)
    if prop.type is PropertyType.DATETIME:
        return _datetime_matches(values[0], f)
    if prop.type is PropertyType.ENUMERATION:
        return _enumeration_matches(values, f)
    return _string_matches(values[0], f)


def _string_matches(value: str, f: PropertyFilter) -> bool:
    text = value.casefold()
    wanted = [w.casefold() for w in f.values]
    op = f.operator
    if op in (Operator.IS_EQUAL_TO, Operator.IS_NOT_EQUAL_TO):
        hit = text in wanted
    elif op in (Operator.CONTAINS, Operator.DOES_NOT_CONTAIN):
        hit = any(w in text for w in wanted)
    elif op is Operator.STARTS_WITH:
        hit = any(text.startswith(w) for w in wanted)
    else:  # ENDS_WITH
        hit = any(text.endswith(w) for w in wanted)
    negated = op in (Operator.IS_NOT_EQUAL_TO, Operator.DOES_NOT_CONTAIN)
    return not hit if negated else hit


def _number_matches(value: str, f: PropertyFilter) -> bool:
    number = _number(value)
    bounds = [b for b in (_number(v) for v in f.values) if b is not None]
    if number is None or not bounds:
        return False
    op = f.operator
    if op is Operator.IS_EQUAL_TO:
        return number in bounds
    if op is Operator.IS_NOT_EQUAL_TO:
        return number not in bounds
    if op is Operator.IS_GREATER_THAN:
        return number > bounds[0]
    if op is Operator.IS_GREATER_THAN_OR_EQUAL_TO:
        return number >= bounds[0]
    if op is Operator.IS_LESS_THAN:
        return number < bounds[0]
    if op is Operator.IS_LESS_THAN_OR_EQUAL_TO:
        return number <= bounds[0]
    low, high = min(bounds), max(bounds)
    inside = low <= number <= high
    return inside if op is Operator.IS_BETWEEN else not inside


def _datetime_matches(value: str, f: PropertyFilter) -> bool:
    moment = _moment(value)
    bounds = [b for b in (_moment(v) for v in f.values) if b is not None]
    if moment is None or not bounds:
        return False
    if f.operator is Operator.IS_BEFORE:
        return moment < bounds[0]
    if f.operator is Operator.IS_AFTER:
        return moment > bounds[0]
    return min(bounds) <= moment <= max(bounds)


def _enumeration_matches(values: Sequence[str], f: PropertyFilter) -> bool:
    present = set(values)
    wanted = set(f.values)
    if f.operator is Operator.IS_ANY_OF:
        return bool(present & wanted)
    if f.operator is Operator.IS_NONE_OF:
        return not present & wanted
    return wanted <= present  # CONTAINS_ALL


def matches_all(
    completion: Completion,
    props: dict[str, PropertyDefinition],
    filters: Sequence[PropertyFilter],
) -> bool:
    """Every filter passes (HubSpot's filters in one group are combined with AND)."""
    return all(matches(completion, props.get(f.property), f) for f in filters)
