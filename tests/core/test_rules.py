"""The rule functions of ``core.rules``, table-driven: each limit at and just past its boundary."""

from __future__ import annotations

import pytest

from core.defaults import DEFAULT_PROPERTIES, DEFAULT_PROPERTY_NAMES
from core.errors import Rule
from core.models import EnumerationOption, PropertyType
from core.rules import (
    MAX_BATCH_SIZE,
    MAX_CUSTOM_PROPERTIES,
    MAX_DEFINITIONS,
    MAX_EVENT_LABEL_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PROPERTIES_PER_COMPLETION,
    MAX_PROPERTY_LABEL_LENGTH,
    MAX_URL_VALUE_LENGTH,
    MAX_VALUE_LENGTH,
    check_batch_size,
    check_custom_property_count,
    check_definition_count,
    check_internal_name,
    check_label,
    check_name_available,
    check_options,
    check_property_count,
    check_property_name_length,
    check_property_names_unique,
    check_value_length,
    fully_qualified_name,
    generate_name,
    internal_name_from,
    is_url_like,
    max_value_length,
    resolve_case_duplicates,
)
from tests.conftest import PORTAL_ID


def test_the_limits_are_the_seed_articles() -> None:
    assert MAX_NAME_LENGTH == 50
    assert MAX_PROPERTY_LABEL_LENGTH == 50
    assert MAX_EVENT_LABEL_LENGTH == 100
    assert MAX_CUSTOM_PROPERTIES == 50
    assert MAX_PROPERTIES_PER_COMPLETION == 50
    assert MAX_VALUE_LENGTH == 256
    assert MAX_URL_VALUE_LENGTH == 1024
    assert MAX_DEFINITIONS == 500
    assert MAX_BATCH_SIZE == 500


# -- internal names ------------------------------------------------------------------------

VALID_NAMES = [
    pytest.param("a", id="one-letter"),
    pytest.param("viewed_car", id="letters-and-underscore"),
    pytest.param("car2", id="digit-inside"),
    pytest.param("a_1_b_", id="trailing-underscore"),
    pytest.param("a" * 50, id="50-chars"),
    pytest.param("z" + "9" * 49, id="50-chars-mostly-digits"),
]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_internal_names(name: str) -> None:
    assert check_internal_name(name) == []


INVALID_NAMES = [
    pytest.param("a" * 51, [Rule.NAME_TOO_LONG], id="51-chars"),
    pytest.param("A" * 51, [Rule.NAME_TOO_LONG, Rule.NAME_FORMAT], id="51-chars-uppercase"),
    pytest.param("Viewed_car", [Rule.NAME_FORMAT], id="uppercase-first"),
    pytest.param("viewed_Car", [Rule.NAME_FORMAT], id="uppercase-inside"),
    pytest.param("viewed-car", [Rule.NAME_FORMAT], id="hyphen"),
    pytest.param("1car", [Rule.NAME_FORMAT], id="leading-digit"),
    pytest.param("_car", [Rule.NAME_FORMAT], id="leading-underscore"),
    pytest.param("viewed car", [Rule.NAME_FORMAT], id="space"),
    pytest.param("café", [Rule.NAME_FORMAT], id="accented-letter"),
    pytest.param("car.make", [Rule.NAME_FORMAT], id="dot"),
    pytest.param("", [Rule.REQUIRED], id="empty"),
]


@pytest.mark.parametrize(("name", "rules"), INVALID_NAMES)
def test_invalid_internal_names(name: str, rules: list[Rule]) -> None:
    found = check_internal_name(name, "propertyDefinitions[0].name")
    assert [v.rule for v in found] == rules
    assert all(v.field == "propertyDefinitions[0].name" for v in found)


@pytest.mark.parametrize(
    ("name", "offender"),
    [
        pytest.param("Viewed_car", "'V'", id="uppercase-first"),
        pytest.param("viewed_Car", "'C'", id="uppercase-inside"),
        pytest.param("viewed-car", "'-'", id="hyphen"),
        pytest.param("1car", "'1'", id="leading-digit"),
        pytest.param("_car", "'_'", id="leading-underscore"),
        pytest.param("café", "'é'", id="accent"),
    ],
)
def test_a_name_format_message_names_the_name_and_the_offending_character(
    name: str, offender: str
) -> None:
    (violation,) = check_internal_name(name)
    assert violation.rule is Rule.NAME_FORMAT
    assert repr(name) in violation.message
    assert offender in violation.message
    assert violation.actual == name


def test_a_too_long_name_message_names_the_length_and_the_limit() -> None:
    (violation,) = check_internal_name("a" * 51)
    assert violation.limit == 50
    assert violation.actual == 51
    assert "51 characters" in violation.message
    assert "at most 50" in violation.message


# -- labels --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "limit", "ok"),
    [
        pytest.param(50, MAX_PROPERTY_LABEL_LENGTH, True, id="property-label-50"),
        pytest.param(51, MAX_PROPERTY_LABEL_LENGTH, False, id="property-label-51"),
        pytest.param(100, MAX_EVENT_LABEL_LENGTH, True, id="event-label-100"),
        pytest.param(101, MAX_EVENT_LABEL_LENGTH, False, id="event-label-101"),
    ],
)
def test_label_length(length: int, limit: int, ok: bool) -> None:
    found = check_label("L" * length, limit)
    if ok:
        assert found == []
    else:
        (violation,) = found
        assert violation.rule is Rule.LABEL_TOO_LONG
        assert (violation.limit, violation.actual) == (limit, length)
        assert f"{length} characters" in violation.message
        assert f"at most {limit}" in violation.message


@pytest.mark.parametrize("label", ["", "   "], ids=["empty", "blank"])
def test_a_label_is_required(label: str) -> None:
    assert [v.rule for v in check_label(label, 100)] == [Rule.REQUIRED]


# -- fully qualified names -----------------------------------------------------------------


def test_fully_qualified_name_is_pe_portal_underscore_name() -> None:
    assert fully_qualified_name(PORTAL_ID, "viewed_car") == "pe12345678_viewed_car"


@pytest.mark.parametrize(
    ("given", "internal"),
    [
        pytest.param("pe12345678_viewed_car", "viewed_car", id="fully-qualified"),
        pytest.param("viewed_car", "viewed_car", id="internal"),
        pytest.param("pe999_viewed_car", "pe999_viewed_car", id="other-portal-left-alone"),
    ],
)
def test_internal_name_from(given: str, internal: str) -> None:
    assert internal_name_from(PORTAL_ID, given) == internal


# -- names in use --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        pytest.param("viewed_car", Rule.NAME_TAKEN, id="taken"),
        pytest.param("old_event", Rule.NAME_DELETED, id="deleted"),
        pytest.param("new_event", None, id="free"),
    ],
)
def test_check_name_available(name: str, rule: Rule | None) -> None:
    found = check_name_available(name, {"viewed_car"}, {"old_event"})
    assert [v.rule for v in found] == ([rule] if rule else [])
    for violation in found:
        assert repr(name) in violation.message


# -- counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "rules"),
    [
        pytest.param(1, [], id="first"),
        pytest.param(500, [], id="500"),
        pytest.param(501, [Rule.TOO_MANY_DEFINITIONS], id="501"),
    ],
)
def test_definitions_per_portal(count: int, rules: list[Rule]) -> None:
    found = check_definition_count(count)
    assert [v.rule for v in found] == rules
    for violation in found:
        assert (violation.limit, violation.actual) == (500, 501)
        assert "500" in violation.message


@pytest.mark.parametrize(
    ("count", "rules"),
    [
        pytest.param(0, [], id="none"),
        pytest.param(50, [], id="50"),
        pytest.param(51, [Rule.TOO_MANY_CUSTOM_PROPERTIES], id="51"),
    ],
)
def test_custom_properties_per_definition(count: int, rules: list[Rule]) -> None:
    found = check_custom_property_count(count)
    assert [v.rule for v in found] == rules
    for violation in found:
        assert "at most 50" in violation.message
        assert "51" in violation.message


@pytest.mark.parametrize(
    ("count", "rules"),
    [
        pytest.param(50, [], id="50"),
        pytest.param(51, [Rule.TOO_MANY_PROPERTIES], id="51"),
    ],
)
def test_properties_per_completion(count: int, rules: list[Rule]) -> None:
    found = check_property_count(count)
    assert [v.rule for v in found] == rules
    for violation in found:
        assert (violation.limit, violation.actual) == (50, 51)
        assert "at most 50" in violation.message
        assert "51" in violation.message


@pytest.mark.parametrize(
    ("count", "rules"),
    [
        pytest.param(0, [Rule.BATCH_EMPTY], id="0"),
        pytest.param(1, [], id="1"),
        pytest.param(500, [], id="500"),
        pytest.param(501, [Rule.BATCH_TOO_LARGE], id="501"),
    ],
)
def test_batch_size(count: int, rules: list[Rule]) -> None:
    found = check_batch_size(count)
    assert [v.rule for v in found] == rules
    assert all(v.field == "inputs" for v in found)


# -- property names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "rules"),
    [
        pytest.param(50, [], id="50"),
        pytest.param(51, [Rule.PROPERTY_NAME_TOO_LONG], id="51"),
    ],
)
def test_property_name_length_on_a_completion(length: int, rules: list[Rule]) -> None:
    found = check_property_name_length("p" * length, "properties.x")
    assert [v.rule for v in found] == rules
    for violation in found:
        assert (violation.limit, violation.actual) == (50, 51)
        assert "51 characters" in violation.message
        assert "at most 50" in violation.message


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(["make", "year"], [], id="distinct"),
        pytest.param(
            ["make", "year", "make"],
            [("propertyDefinitions[2].name", Rule.DUPLICATE_PROPERTY_NAME)],
            id="duplicate",
        ),
        pytest.param(
            ["make", "Make"],
            [("propertyDefinitions[1].name", Rule.DUPLICATE_PROPERTY_NAME)],
            id="duplicate-after-lowercasing",
        ),
        pytest.param(
            ["hs_city", "make"],
            [("propertyDefinitions[0].name", Rule.RESERVED_PROPERTY_NAME)],
            id="reserved",
        ),
    ],
)
def test_property_names_unique(names: list[str], expected: list[tuple[str, Rule]]) -> None:
    assert [(v.field, v.rule) for v in check_property_names_unique(names)] == expected


def test_there_are_32_default_properties_all_hs() -> None:
    assert len(DEFAULT_PROPERTIES) == 32
    assert len(DEFAULT_PROPERTY_NAMES) == 32
    assert all(p.name.startswith("hs_") and p.hubspot_defined for p in DEFAULT_PROPERTIES)


@pytest.mark.parametrize("name", sorted(DEFAULT_PROPERTY_NAMES))
def test_every_default_name_is_reserved(name: str) -> None:
    (violation,) = check_property_names_unique(["make", name])
    assert violation.rule is Rule.RESERVED_PROPERTY_NAME
    assert violation.field == "propertyDefinitions[1].name"
    assert repr(name) in violation.message


# -- enumeration options -------------------------------------------------------------------


def _opts(*values: str) -> list[EnumerationOption]:
    return [EnumerationOption(label=v.upper() or "L", value=v) for v in values]


@pytest.mark.parametrize(
    ("type_", "options", "expected"),
    [
        pytest.param(PropertyType.ENUMERATION, _opts("new"), [], id="one-option"),
        pytest.param(PropertyType.ENUMERATION, _opts("new", "used"), [], id="two-options"),
        pytest.param(
            PropertyType.ENUMERATION, [], [("options", Rule.OPTIONS_REQUIRED)], id="no-options"
        ),
        pytest.param(
            PropertyType.ENUMERATION,
            _opts("new", "used", "new"),
            [("options[2].value", Rule.DUPLICATE_OPTION_VALUE)],
            id="duplicate-value",
        ),
        pytest.param(
            PropertyType.ENUMERATION,
            _opts("new;used"),
            [("options[0].value", Rule.INVALID_VALUE)],
            id="semicolon-in-value",
        ),
        pytest.param(
            PropertyType.ENUMERATION,
            [EnumerationOption(label="", value="new")],
            [("options[0].label", Rule.EMPTY_OPTION)],
            id="empty-label",
        ),
        pytest.param(
            PropertyType.ENUMERATION,
            [EnumerationOption(label="New", value=" ")],
            [("options[0].value", Rule.EMPTY_OPTION)],
            id="blank-value",
        ),
        pytest.param(PropertyType.STRING, [], [], id="string-without-options"),
        pytest.param(
            PropertyType.STRING,
            _opts("new"),
            [("options", Rule.OPTIONS_NOT_ALLOWED)],
            id="string-with-options",
        ),
    ],
)
def test_check_options(
    type_: PropertyType, options: list[EnumerationOption], expected: list[tuple[str, Rule]]
) -> None:
    assert [(v.field, v.rule) for v in check_options(type_, options)] == expected


def test_option_messages_name_the_value() -> None:
    dup, semi = check_options(PropertyType.ENUMERATION, _opts("new", "new", "a;b"))[0:2]
    assert "'new'" in dup.message
    assert "'a;b'" in semi.message
    assert "';'" in semi.message


# -- value lengths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "limit"),
    [
        pytest.param("make", 256, id="make"),
        pytest.param("hs_city", 256, id="hs_city"),
        pytest.param("hs_page_title", 256, id="hs_page_title"),
        pytest.param("hs_page_url", 1024, id="hs_page_url"),
        pytest.param("hs_referrer", 1024, id="hs_referrer"),
        pytest.param("hs_link_href", 1024, id="hs_link_href"),
        pytest.param("listing_url", 1024, id="custom-listing_url"),
        pytest.param("Listing_URL", 1024, id="url-any-case"),
        pytest.param("url", 1024, id="url-alone"),
        pytest.param("referrer", 1024, id="referrer-alone"),
        pytest.param("first_referer", 1024, id="http-spelling-referer"),
        pytest.param("surly_mood", 256, id="url-inside-a-word"),
        pytest.param("blinker", 256, id="link-inside-a-word"),
        pytest.param("purl", 256, id="url-ending-a-word"),
        pytest.param("url_count", 256, id="a-count-of-urls"),
        pytest.param("download_link", 1024, id="a-link-is-a-url"),
        pytest.param("link_clicks", 256, id="a-count-of-links"),
        pytest.param("referrer_type", 256, id="about-a-referrer"),
    ],
)
def test_value_length_at_and_past_the_limit(name: str, limit: int) -> None:
    assert max_value_length(name) == limit
    assert is_url_like(name) is (limit == 1024)
    assert check_value_length(name, "x" * limit, "properties.v") == []
    (violation,) = check_value_length(name, "x" * (limit + 1), "properties.v")
    assert violation.rule is Rule.VALUE_TOO_LONG
    assert violation.field == "properties.v"
    assert (violation.limit, violation.actual) == (limit, limit + 1)
    assert repr(name) in violation.message
    assert f"{limit + 1} characters" in violation.message
    assert f"at most {limit}" in violation.message


# -- duplicates after lowercasing ----------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "kept", "dropped"),
    [
        pytest.param(["make"], {"make": "make"}, [], id="single"),
        pytest.param(["make", "Make"], {"make": "make"}, ["Make"], id="lower-wins"),
        pytest.param(["Make", "make"], {"make": "make"}, ["Make"], id="order-does-not-matter"),
        pytest.param(["MAKE", "Make"], {"make": "Make"}, ["MAKE"], id="last-in-ascending-order"),
        pytest.param(
            ["Make", "year", "MAKE", "make"],
            {"make": "make", "year": "year"},
            ["MAKE", "Make"],
            id="three-variants",
        ),
    ],
)
def test_resolve_case_duplicates(
    names: list[str], kept: dict[str, str], dropped: list[str]
) -> None:
    assert resolve_case_duplicates(names) == (kept, dropped)


# -- generated names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "taken", "name"),
    [
        pytest.param("Viewed Car", (), "viewed_car", id="plain"),
        pytest.param("Viewed Car", ("viewed_car",), "viewed_car_2", id="taken"),
        pytest.param(
            "Viewed Car", ("viewed_car", "viewed_car_2"), "viewed_car_3", id="taken-twice"
        ),
        pytest.param("Crème brûlée!", (), "creme_brulee", id="accents"),
        pytest.param("2024 sale", (), "event_2024_sale", id="leading-digit"),
        pytest.param("!!!", (), "event", id="no-letters"),
        pytest.param("x" * 60, (), "x" * 50, id="long"),
        pytest.param("x" * 60, ("x" * 50,), "x" * 48 + "_2", id="long-and-taken"),
    ],
)
def test_generate_name(label: str, taken: tuple[str, ...], name: str) -> None:
    assert generate_name(label, taken) == name
