"""Property values: what a sender sends and the typed value cbe stores."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import Rule, ValidationFailed, Violation
from core.models import (
    Completion,
    CrmRecord,
    EnumerationOption,
    EventDefinition,
    ObjectType,
    PropertyDefinition,
    PropertyType,
    Source,
)
from core.services import Services
from core.values import ParsedValue, parse_datetime, parse_value, usable_values, value_text
from tests.conftest import NOW
from tests.core.conftest import body, only_violation, violations_of
from tests.sending import send_one

STRING = PropertyDefinition(name="make", label="Make", type=PropertyType.STRING)
NUMBER = PropertyDefinition(name="year", label="Year", type=PropertyType.NUMBER)
DATETIME = PropertyDefinition(name="listed_at", label="Listed at", type=PropertyType.DATETIME)
ENUMERATION = PropertyDefinition(
    name="condition",
    label="Condition",
    type=PropertyType.ENUMERATION,
    options=[
        EnumerationOption(label="New", value="new"),
        EnumerationOption(label="Used", value="used", display_order=1),
    ],
)

JAN_2 = "2024-01-02T03:04:05.000Z"
JAN_2_MILLIS = 1704164645000


def _value(prop: PropertyDefinition, raw: object) -> ParsedValue:
    parsed = parse_value(prop, raw, f"properties.{prop.name}")
    assert isinstance(parsed, ParsedValue), parsed
    return parsed


def _violation(prop: PropertyDefinition, raw: object) -> Violation:
    parsed = parse_value(prop, raw, f"properties.{prop.name}")
    assert isinstance(parsed, Violation), parsed
    assert parsed.field == f"properties.{prop.name}"
    return parsed


# -- string --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        pytest.param("Ford", "Ford", id="text"),
        pytest.param("", "", id="empty"),
        pytest.param(2020, "2020", id="int"),
        pytest.param(2020.0, "2020", id="whole-float-as-javascript-prints-it"),
        pytest.param(1.5, "1.5", id="float"),
        pytest.param(True, "true", id="true"),
        pytest.param(False, "false", id="false"),
    ],
)
def test_string_values(raw: object, stored: str) -> None:
    assert _value(STRING, raw) == ParsedValue(stored)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [pytest.param({"a": 1}, "dict", id="object"), pytest.param([1], "list", id="array")],
)
def test_non_scalars_are_refused(raw: object, kind: str) -> None:
    violation = _violation(STRING, raw)
    assert violation.rule is Rule.INVALID_VALUE
    assert kind in violation.message
    assert "'make'" in violation.message


# -- number --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        pytest.param(2020, 2020, id="int"),
        pytest.param(-7, -7, id="negative-int"),
        pytest.param(1.5, 1.5, id="float"),
        pytest.param(2020.0, 2020, id="whole-float-becomes-int"),
        pytest.param("2020", 2020, id="int-string"),
        pytest.param(" 42 ", 42, id="padded-string"),
        pytest.param("+5", 5, id="plus-sign"),
        pytest.param("-1.25", -1.25, id="float-string"),
        pytest.param(".5", 0.5, id="leading-dot"),
        pytest.param("1e3", 1000, id="exponent"),
        pytest.param("2.5E-3", 0.0025, id="negative-exponent"),
    ],
)
def test_number_values(raw: object, stored: float) -> None:
    value = _value(NUMBER, raw).value
    assert value == stored
    assert type(value) is type(stored)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("abc", id="letters"),
        pytest.param("", id="empty"),
        pytest.param("12abc", id="trailing-letters"),
        pytest.param("1,5", id="decimal-comma"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param("NaN", id="nan-text"),
        pytest.param("Infinity", id="infinity-text"),
        pytest.param("1e999", id="overflowing-text"),
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
    ],
)
def test_invalid_numbers(raw: object) -> None:
    violation = _violation(NUMBER, raw)
    assert violation.rule is Rule.INVALID_NUMBER
    assert "'year'" in violation.message
    assert "is not a number" in violation.message


# -- datetime ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        pytest.param(JAN_2_MILLIS, JAN_2, id="epoch-millis"),
        pytest.param(str(JAN_2_MILLIS), JAN_2, id="epoch-millis-digits"),
        pytest.param(float(JAN_2_MILLIS), JAN_2, id="epoch-millis-whole-float"),
        pytest.param(0, "1970-01-01T00:00:00.000Z", id="epoch-zero"),
        pytest.param("2024-01-02T03:04:05Z", JAN_2, id="iso-z"),
        pytest.param("2024-01-02T03:04:05+00:00", JAN_2, id="iso-python-sdk"),
        pytest.param("2024-01-02T05:04:05+02:00", JAN_2, id="iso-plus-two"),
        pytest.param("2024-01-01T22:04:05-05:00", JAN_2, id="iso-minus-five-other-day"),
        pytest.param("2024-01-02T03:04:05.123456Z", "2024-01-02T03:04:05.123Z", id="micros"),
        pytest.param("2024-01-02", "2024-01-02T00:00:00.000Z", id="bare-date-midnight-utc"),
        pytest.param(" 2024-01-02T03:04:05Z ", JAN_2, id="padded"),
        pytest.param("2024-01-02T03:04:05", JAN_2, id="naive-is-utc"),
        pytest.param("2024-01-02T03:04:05.123456", "2024-01-02T03:04:05.123Z", id="naive-micros"),
        pytest.param("2024-01-02 03:04:05", JAN_2, id="naive-with-space-is-utc"),
        pytest.param("0999-01-01T00:00:00Z", "0999-01-01T00:00:00.000Z", id="year-999-fixed-width"),
    ],
)
def test_datetime_values(raw: object, stored: str) -> None:
    assert _value(DATETIME, raw) == ParsedValue(stored)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("2024-01-02T03:04:05 CET", id="zone-name"),
        pytest.param("yesterday", id="words"),
        pytest.param("2024-13-01", id="month-13"),
        pytest.param("2024-02-30", id="february-30"),
        pytest.param(1.5, id="fractional-millis"),
        pytest.param(True, id="boolean"),
        pytest.param(10**20, id="beyond-year-9999"),
        pytest.param("", id="empty"),
    ],
)
def test_invalid_datetimes(raw: object) -> None:
    violation = _violation(DATETIME, raw)
    assert violation.rule is Rule.INVALID_DATETIME
    assert "'listed_at'" in violation.message
    assert "epoch milliseconds or ISO 8601" in violation.message


def test_parse_datetime_gives_aware_utc() -> None:
    parsed = parse_datetime("2024-01-02T05:04:05+02:00")
    assert parsed == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parsed is not None and parsed.utcoffset() is not None
    assert parsed.tzinfo is UTC


# -- enumeration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored", "unusable"),
    [
        pytest.param("new", "new", (), id="one-value"),
        pytest.param("new;used", "new;used", (), id="two-values"),
        pytest.param(" new ; used ", "new;used", (), id="spaces-trimmed"),
        pytest.param("new;;used;", "new;used", (), id="blanks-dropped"),
        pytest.param("damaged", "damaged", ("damaged",), id="not-an-option"),
        pytest.param("new;damaged", "new;damaged", ("damaged",), id="one-of-two-not-an-option"),
        pytest.param("New", "New", ("New",), id="case-matters"),
        pytest.param("x;y;x", "x;y;x", ("x", "y"), id="unusable-listed-once"),
    ],
)
def test_enumeration_values(raw: str, stored: str, unusable: tuple[str, ...]) -> None:
    assert _value(ENUMERATION, raw) == ParsedValue(stored, unusable)


def _completion(properties: dict[str, str], unusable: dict[str, list[str]]) -> Completion:
    return Completion(
        id="c1",
        uuid="c1",
        event_name="pe1_viewed_car",
        object_type=ObjectType.CONTACT,
        object_id="1",
        occurred_at=NOW,
        received_at=NOW,
        source=Source.API,
        properties=properties,
        unusable=unusable,
    )


@pytest.mark.parametrize(
    ("stored", "unusable", "usable"),
    [
        pytest.param("new;used", [], ["new", "used"], id="all-usable"),
        pytest.param("new;damaged", ["damaged"], ["new"], id="unusable-left-out"),
        pytest.param("damaged", ["damaged"], [], id="nothing-usable"),
    ],
)
def test_usable_values_leave_out_unusable_ones(
    stored: str, unusable: list[str], usable: list[str]
) -> None:
    completion = _completion({"condition": stored}, {"condition": unusable} if unusable else {})
    assert usable_values(completion, ENUMERATION) == usable


def test_usable_values_of_other_types_and_missing_ones() -> None:
    completion = _completion({"make": "Ford"}, {})
    assert usable_values(completion, STRING) == ["Ford"]
    assert usable_values(completion, ENUMERATION) == []


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        pytest.param("a", "a", id="str"),
        pytest.param(3, "3", id="int"),
        pytest.param(3.0, "3", id="whole-float"),
        pytest.param(1e20, "1e+20", id="large-float"),
        pytest.param(True, "true", id="bool"),
        pytest.param(None, None, id="none"),
    ],
)
def test_value_text(raw: object, text: str | None) -> None:
    assert value_text(raw) == text


# -- through ingestion: what is stored -----------------------------------------------------


def test_typed_values_are_stored(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    completion = send_one(
        services.ingestion,
        body(
            viewed_car,
            objectId=contact.id,
            properties={
                "make": "Ford",
                "year": "2020",
                "listed_at": "2024-01-02T05:04:05+02:00",
                "condition": "new;used",
                "hs_screen_width": 1920.0,
            },
        ),
    )
    assert completion is not None
    assert completion.properties == {
        "make": "Ford",
        "year": 2020,
        "listed_at": JAN_2,
        "condition": "new;used",
        "hs_screen_width": 1920,
    }
    assert completion.unusable == {}
    assert completion.to_json()["properties"]["listed_at"] == JAN_2


def test_an_enumeration_value_not_in_the_list_is_kept_and_flagged(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    completion = send_one(
        services.ingestion,
        body(viewed_car, objectId=contact.id, properties={"condition": "new;damaged"}),
    )
    assert completion is not None
    assert completion.properties == {"condition": "new;damaged"}
    assert completion.unusable == {"condition": ["damaged"]}
    (cut,) = completion.cuts
    assert (cut.property, cut.reason) == ("condition", "UNUSABLE_OPTION")
    assert "'damaged'" in cut.detail
    condition = viewed_car.custom_property("condition")
    assert condition is not None
    assert usable_values(completion, condition) == ["new"]


@pytest.mark.parametrize(
    ("prop", "raw", "rule"),
    [
        pytest.param("year", "abc", "INVALID_NUMBER", id="number"),
        pytest.param("year", True, "INVALID_NUMBER", id="boolean-number"),
        pytest.param("listed_at", "2024-01-02T03:04:05 CET", "INVALID_DATETIME", id="zone-name"),
        pytest.param("make", {"nested": 1}, "INVALID_VALUE", id="object"),
    ],
)
def test_invalid_values_fail_strict(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    prop: str,
    raw: object,
    rule: str,
) -> None:
    with pytest.raises(ValidationFailed) as error:
        send_one(services.ingestion, body(viewed_car, objectId=contact.id, properties={prop: raw}))
    assert violations_of(error) == [(f"properties.{prop}", rule)]
    violation = only_violation(error)
    assert repr(prop) in violation.message
