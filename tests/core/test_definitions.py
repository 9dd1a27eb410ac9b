"""Definition use cases: create, update, archive, delete; add, edit and delete properties."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from core.clock import FixedClock
from core.defaults import DEFAULT_PROPERTY_NAMES
from core.errors import NotFound, Rule, ValidationFailed
from core.models import (
    CrmRecord,
    EnumerationOption,
    EventDefinition,
    ObjectType,
    PropertyType,
    TrackingMethod,
)
from core.rules import check_definition_count
from core.services import Services
from tests.conftest import NOW, PORTAL_ID
from tests.core.conftest import body, only_violation, stored, violations_of
from tests.sending import send_one


def _props(count: int) -> list[dict[str, Any]]:
    return [{"name": f"p{i:02d}", "label": f"P {i}", "type": "string"} for i in range(count)]


# -- create --------------------------------------------------------------------------------


def test_create_gives_names_defaults_and_times(
    services: Services, viewed_car: EventDefinition
) -> None:
    assert viewed_car.name == "viewed_car"
    assert viewed_car.fully_qualified_name == f"pe{PORTAL_ID}_viewed_car"
    assert viewed_car.label == "Viewed Car"
    assert viewed_car.description == "Fires when a visitor views a car listing"
    assert viewed_car.primary_object is ObjectType.CONTACT
    assert viewed_car.include_default_properties is True
    assert viewed_car.tracking_method is TrackingMethod.API
    assert viewed_car.archived is False
    assert viewed_car.created_at == viewed_car.updated_at == NOW
    assert [(p.name, p.type) for p in viewed_car.properties] == [
        ("condition", PropertyType.ENUMERATION),
        ("year", PropertyType.NUMBER),
        ("make", PropertyType.STRING),
        ("listed_at", PropertyType.DATETIME),
        ("listing_url", PropertyType.STRING),
    ]
    condition = viewed_car.properties[0]
    assert [(o.value, o.label, o.display_order, o.hidden) for o in condition.options] == [
        ("new", "New", 0, False),
        ("used", "Used", 1, False),
    ]
    assert services.definitions.get("viewed_car") == viewed_car


@pytest.mark.parametrize(
    ("draft", "name"),
    [
        pytest.param({"label": "Viewed Car", "name": "car_view"}, "car_view", id="given-name"),
        pytest.param({"label": "Viewed Car"}, "viewed_car", id="generated-name"),
        pytest.param({"label": "2024 Sale"}, "event_2024_sale", id="generated-leading-digit"),
        pytest.param({"label": "x" * 100}, "x" * 50, id="label-100"),
        pytest.param({"label": "Sale", "name": "s" * 50}, "s" * 50, id="name-50"),
    ],
)
def test_create_accepts(services: Services, draft: dict[str, Any], name: str) -> None:
    created = services.definitions.create(draft)
    assert created.name == name
    assert created.fully_qualified_name == f"pe{PORTAL_ID}_{name}"


@pytest.mark.parametrize(
    ("draft", "expected"),
    [
        pytest.param({"label": "x" * 101}, [("label", "LABEL_TOO_LONG")], id="label-101"),
        pytest.param({"label": ""}, [("label", "REQUIRED")], id="label-empty"),
        pytest.param(
            {"label": "Sale", "name": "s" * 51}, [("name", "NAME_TOO_LONG")], id="name-51"
        ),
        pytest.param({"label": "Sale", "name": "Sale"}, [("name", "NAME_FORMAT")], id="upper"),
        pytest.param({"label": "Sale", "name": "big-sale"}, [("name", "NAME_FORMAT")], id="hyphen"),
        pytest.param({"label": "Sale", "name": "1sale"}, [("name", "NAME_FORMAT")], id="digit"),
        pytest.param(
            {"label": "Sale", "name": "_sale"}, [("name", "NAME_FORMAT")], id="underscore"
        ),
        pytest.param({"labels": "x"}, [("label", "REQUIRED")], id="no-label"),
        pytest.param(
            {"label": "Sale", "primaryObject": "planet"},
            [("primaryObject", "INVALID_TYPE")],
            id="unknown-object",
        ),
        pytest.param(
            {"label": "Sale", "propertyDefinitions": [{"label": "P", "type": "colour"}]},
            [("propertyDefinitions.0.type", "INVALID_TYPE")],
            id="unknown-property-type",
        ),
    ],
)
def test_create_refuses(
    services: Services, draft: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.definitions.create(draft)
    assert violations_of(error) == expected
    assert services.definitions.search() == []


def test_create_reports_every_violation_at_once(services: Services) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.definitions.create(
            {
                "label": "x" * 101,
                "name": "Bad-Name",
                "propertyDefinitions": [
                    {"label": "y" * 51, "name": "ok_name", "type": "string"},
                    {"label": "Colour", "name": "colour", "type": "enumeration"},
                    {"label": "City", "name": "hs_city", "type": "string"},
                    {"label": "Twice", "name": "twice", "type": "number"},
                    {"label": "Twice again", "name": "twice", "type": "number"},
                ],
            }
        )
    assert violations_of(error) == [
        ("label", "LABEL_TOO_LONG"),
        ("name", "NAME_FORMAT"),
        ("propertyDefinitions[0].label", "LABEL_TOO_LONG"),
        ("propertyDefinitions[1].options", "OPTIONS_REQUIRED"),
        ("propertyDefinitions[2].name", "RESERVED_PROPERTY_NAME"),
        ("propertyDefinitions[4].name", "DUPLICATE_PROPERTY_NAME"),
    ]
    assert "(and 5 more)" in str(error.value)
    assert services.definitions.search() == []


def test_create_counts_and_compares_properties_that_broke_other_rules(
    services: Services,
) -> None:
    drafts = _props(51)
    drafts[0]["label"] = "y" * 51
    drafts[1]["name"] = "p00"
    with pytest.raises(ValidationFailed) as error:
        services.definitions.create({"label": "Many", "propertyDefinitions": drafts})
    assert violations_of(error) == [
        ("propertyDefinitions[0].label", "LABEL_TOO_LONG"),
        ("propertyDefinitions", "TOO_MANY_CUSTOM_PROPERTIES"),
        ("propertyDefinitions[1].name", "DUPLICATE_PROPERTY_NAME"),
    ]


@pytest.mark.parametrize(
    ("count", "ok"),
    [pytest.param(50, True, id="50-custom"), pytest.param(51, False, id="51-custom")],
)
def test_custom_properties_on_create(services: Services, count: int, ok: bool) -> None:
    draft = {"label": "Many", "propertyDefinitions": _props(count)}
    if ok:
        assert len(services.definitions.create(draft).properties) == 50
        return
    with pytest.raises(ValidationFailed) as error:
        services.definitions.create(draft)
    violation = only_violation(error)
    assert (violation.field, violation.rule) == (
        "propertyDefinitions",
        Rule.TOO_MANY_CUSTOM_PROPERTIES,
    )
    assert "at most 50 custom properties" in violation.message
    assert "would have 51" in violation.message


@pytest.mark.parametrize(
    ("existing", "ok"),
    [pytest.param(49, True, id="49-then-50th"), pytest.param(50, False, id="50-then-51st")],
)
def test_custom_properties_through_add_property(
    services: Services, existing: int, ok: bool
) -> None:
    services.definitions.create({"label": "Many", "propertyDefinitions": _props(existing)})
    new = {"label": "Extra", "type": "string"}
    if ok:
        assert services.definitions.add_property("many", new).name == "extra"
        assert len(services.definitions.get("many").properties) == 50
        return
    with pytest.raises(ValidationFailed) as error:
        services.definitions.add_property("many", new)
    violation = only_violation(error)
    assert violation.rule is Rule.TOO_MANY_CUSTOM_PROPERTIES
    assert (violation.limit, violation.actual) == (50, 51)
    assert len(services.definitions.get("many").properties) == 50


@pytest.mark.parametrize("name", sorted(DEFAULT_PROPERTY_NAMES))
def test_a_default_name_cannot_be_a_custom_property(
    services: Services, viewed_car: EventDefinition, name: str
) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.definitions.add_property(
            "viewed_car", {"name": name, "label": "Mine", "type": "string"}
        )
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("name", Rule.RESERVED_PROPERTY_NAME)
    assert repr(name) in violation.message


def test_a_default_name_cannot_be_a_custom_property_on_create(services: Services) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.definitions.create(
            {
                "label": "Sale",
                "propertyDefinitions": [{"name": "hs_page_url", "label": "U", "type": "string"}],
            }
        )
    assert violations_of(error) == [("propertyDefinitions[0].name", "RESERVED_PROPERTY_NAME")]


def test_add_property_refuses_a_name_the_event_has(
    services: Services, viewed_car: EventDefinition
) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.definitions.add_property(
            "viewed_car", {"name": "make", "label": "Make again", "type": "string"}
        )
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("name", Rule.DUPLICATE_PROPERTY_NAME)
    assert "'make'" in violation.message


def test_add_property_generates_a_free_name(
    services: Services, viewed_car: EventDefinition
) -> None:
    prop = services.definitions.add_property("viewed_car", {"label": "Make", "type": "string"})
    assert prop.name == "make_2"


@pytest.mark.parametrize(
    ("label", "name"),
    [("HS City", "hs_city_2"), ("hs page url", "hs_page_url_2"), ("HS Town", "hs_town")],
)
def test_a_generated_property_name_is_never_a_reserved_one(
    services: Services, viewed_car: EventDefinition, label: str, name: str
) -> None:
    assert (
        services.definitions.add_property("viewed_car", {"label": label, "type": "string"}).name
        == name
    )
    created = services.definitions.create(
        {"label": "Other", "propertyDefinitions": [{"label": label, "type": "string"}]}
    )
    assert [p.name for p in created.properties] == [name]


@pytest.mark.parametrize(
    ("label_length", "ok"),
    [pytest.param(50, True, id="label-50"), pytest.param(51, False, id="label-51")],
)
def test_property_label_length(
    services: Services, viewed_car: EventDefinition, label_length: int, ok: bool
) -> None:
    new = {"name": "colour", "label": "c" * label_length, "type": "string"}
    if ok:
        assert services.definitions.add_property("viewed_car", new).label == "c" * 50
        return
    with pytest.raises(ValidationFailed) as error:
        services.definitions.add_property("viewed_car", new)
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("label", Rule.LABEL_TOO_LONG)
    assert "51 characters" in violation.message
    assert "at most 50" in violation.message


@pytest.mark.parametrize(
    ("name", "rules"),
    [
        pytest.param("p" * 50, [], id="50"),
        pytest.param("p" * 51, ["NAME_TOO_LONG"], id="51"),
        pytest.param("Colour", ["NAME_FORMAT"], id="uppercase"),
        pytest.param("col-our", ["NAME_FORMAT"], id="hyphen"),
        pytest.param("9lives", ["NAME_FORMAT"], id="leading-digit"),
        pytest.param("_colour", ["NAME_FORMAT"], id="leading-underscore"),
    ],
)
def test_property_internal_name(
    services: Services, viewed_car: EventDefinition, name: str, rules: list[str]
) -> None:
    new = {"name": name, "label": "Colour", "type": "string"}
    if not rules:
        assert services.definitions.add_property("viewed_car", new).name == name
        return
    with pytest.raises(ValidationFailed) as error:
        services.definitions.add_property("viewed_car", new)
    assert violations_of(error) == [("name", rule) for rule in rules]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param([{"label": "Red", "value": "red"}], [], id="one-option"),
        pytest.param([], [("options", "OPTIONS_REQUIRED")], id="no-options"),
        pytest.param(
            [{"label": "Red", "value": "red"}, {"label": "Rood", "value": "red"}],
            [("options[1].value", "DUPLICATE_OPTION_VALUE")],
            id="duplicate-value",
        ),
        pytest.param(
            [{"label": "Red or blue", "value": "red;blue"}],
            [("options[0].value", "INVALID_VALUE")],
            id="semicolon",
        ),
        pytest.param(
            [{"label": "", "value": "red"}], [("options[0].label", "EMPTY_OPTION")], id="no-label"
        ),
    ],
)
def test_enumeration_options_on_add(
    services: Services,
    viewed_car: EventDefinition,
    options: list[dict[str, str]],
    expected: list[tuple[str, str]],
) -> None:
    new = {"name": "colour", "label": "Colour", "type": "enumeration", "options": options}
    if not expected:
        prop = services.definitions.add_property("viewed_car", new)
        assert prop.options == [EnumerationOption(label="Red", value="red", display_order=0)]
        return
    with pytest.raises(ValidationFailed) as error:
        services.definitions.add_property("viewed_car", new)
    assert violations_of(error) == expected


def test_options_on_a_string_property_are_refused(
    services: Services, viewed_car: EventDefinition
) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.definitions.add_property(
            "viewed_car",
            {"label": "Colour", "type": "string", "options": [{"label": "R", "value": "r"}]},
        )
    assert violations_of(error) == [("options", "OPTIONS_NOT_ALLOWED")]


# -- names in use --------------------------------------------------------------------------


def test_a_name_is_not_taken_twice(services: Services, viewed_car: EventDefinition) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.definitions.create({"label": "Another", "name": "viewed_car"})
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("name", Rule.NAME_TAKEN)
    assert "'viewed_car'" in violation.message
    # without a name, the label gives a free one
    assert services.definitions.create({"label": "Viewed Car"}).name == "viewed_car_2"


def test_a_deleted_name_is_never_used_again(
    services: Services, viewed_car: EventDefinition
) -> None:
    services.definitions.delete("viewed_car")
    with pytest.raises(ValidationFailed) as error:
        services.definitions.create({"label": "Viewed Car", "name": "viewed_car"})
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("name", Rule.NAME_DELETED)
    assert "'viewed_car'" in violation.message
    assert "never used again" in violation.message
    again = services.definitions.create({"label": "Viewed Car"})
    assert again.name == "viewed_car_2"
    assert again.id != viewed_car.id


def test_500_definitions_per_portal_directly() -> None:
    assert check_definition_count(500) == []
    (violation,) = check_definition_count(501)
    assert violation.rule is Rule.TOO_MANY_DEFINITIONS
    assert "at most 500 event definitions" in violation.message


@pytest.mark.slow
def test_the_501st_definition_is_refused(services: Services) -> None:
    for i in range(500):
        services.definitions.create({"label": f"Event {i}", "name": f"e{i}"})
    with pytest.raises(ValidationFailed) as error:
        services.definitions.create({"label": "One too many"})
    violation = only_violation(error)
    assert violation.rule is Rule.TOO_MANY_DEFINITIONS
    assert (violation.limit, violation.actual) == (500, 501)
    assert len(services.definitions.search()) == 500


# -- get, search ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["viewed_car", f"pe{PORTAL_ID}_viewed_car"], ids=["internal", "fully-qualified"]
)
def test_get_accepts_both_names(services: Services, viewed_car: EventDefinition, name: str) -> None:
    assert services.definitions.get(name) == viewed_car


@pytest.mark.parametrize("name", ["nope", f"pe{PORTAL_ID}_nope", "pe1_viewed_car"])
def test_get_unknown_is_not_found(
    services: Services, viewed_car: EventDefinition, name: str
) -> None:
    with pytest.raises(NotFound, match=f"Event with fully qualified name {name} does not exist"):
        services.definitions.get(name)


def test_search_matches_label_or_name_and_skips_archived_on_request(
    services: Services, viewed_car: EventDefinition
) -> None:
    login = services.definitions.create({"label": "Logged In", "name": "login_event"})
    services.definitions.archive("login_event")
    assert [d.name for d in services.definitions.search("LOGGED")] == [login.name]
    assert [d.name for d in services.definitions.search("car")] == ["viewed_car"]
    assert [d.name for d in services.definitions.search(include_archived=False)] == ["viewed_car"]


# -- update, archive -----------------------------------------------------------------------


def test_update_changes_label_description_and_tracking(
    services: Services, viewed_car: EventDefinition, clock: FixedClock
) -> None:
    later = clock.advance(timedelta(hours=1))
    updated = services.definitions.update(
        f"pe{PORTAL_ID}_viewed_car",
        label="Car Viewed",
        description="",
        tracking_method=TrackingMethod.JAVASCRIPT,
        snippet="// track",
    )
    assert (updated.label, updated.description) == ("Car Viewed", "")
    assert updated.tracking_method is TrackingMethod.JAVASCRIPT
    assert updated.snippet == "// track"
    assert updated.name == "viewed_car"
    assert updated.fully_qualified_name == viewed_car.fully_qualified_name
    assert (updated.created_at, updated.updated_at) == (NOW, later)
    assert services.definitions.get("viewed_car") == updated


@pytest.mark.parametrize(
    ("length", "ok"), [pytest.param(100, True, id="100"), pytest.param(101, False, id="101")]
)
def test_update_label_length(
    services: Services, viewed_car: EventDefinition, length: int, ok: bool
) -> None:
    if ok:
        assert services.definitions.update("viewed_car", label="L" * length).label == "L" * 100
        return
    with pytest.raises(ValidationFailed) as error:
        services.definitions.update("viewed_car", label="L" * length)
    assert violations_of(error) == [("label", "LABEL_TOO_LONG")]
    assert services.definitions.get("viewed_car").label == "Viewed Car"


def test_archive_and_restore(services: Services, viewed_car: EventDefinition) -> None:
    assert services.definitions.archive("viewed_car").archived is True
    assert services.definitions.get("viewed_car").archived is True
    assert services.definitions.archive("viewed_car", archived=False).archived is False


# -- delete --------------------------------------------------------------------------------


def test_delete_removes_the_event_and_its_completions(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    other = services.definitions.create({"label": "Logged In"})
    for _ in range(3):
        send_one(services.ingestion, body(viewed_car, objectId=contact.id))
    send_one(services.ingestion, body(other, objectId=contact.id))

    assert services.definitions.delete(f"pe{PORTAL_ID}_viewed_car") == 3

    with pytest.raises(NotFound):
        services.definitions.get("viewed_car")
    assert [c.event_name for c in stored(services)] == [other.fully_qualified_name]
    summaries = services.db.completions.summaries()
    assert viewed_car.fully_qualified_name not in summaries
    assert summaries[other.fully_qualified_name].count == 1


def test_delete_without_completions_returns_zero(
    services: Services, viewed_car: EventDefinition
) -> None:
    assert services.definitions.delete("viewed_car") == 0


def test_delete_unknown_is_not_found(services: Services) -> None:
    with pytest.raises(NotFound):
        services.definitions.delete("nope")


# -- edit and delete properties ------------------------------------------------------------


def test_update_property_changes_label_and_description(
    services: Services, viewed_car: EventDefinition, clock: FixedClock
) -> None:
    later = clock.advance(timedelta(minutes=5))
    prop = services.definitions.update_property(
        "viewed_car", "make", {"label": "Brand", "description": "Who built it"}
    )
    assert (prop.name, prop.label, prop.description, prop.type) == (
        "make",
        "Brand",
        "Who built it",
        PropertyType.STRING,
    )
    definition = services.definitions.get("viewed_car")
    assert definition.custom_property("make") == prop
    assert [p.name for p in definition.properties] == [p.name for p in viewed_car.properties]
    assert definition.updated_at == later


def test_update_property_refuses_to_change_type_or_name(
    services: Services, viewed_car: EventDefinition
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        services.definitions.update_property(
            "viewed_car", "condition", {"type": "number", "name": "state", "label": "State"}
        )
    assert [(v.field, v.rule) for v in raised.value.violations] == [
        ("name", Rule.IMMUTABLE),
        ("type", Rule.IMMUTABLE),
    ]
    assert "delete the property and create a new one" in raised.value.violations[0].message
    stored_prop = services.definitions.get("viewed_car").custom_property("condition")
    assert stored_prop is not None
    assert (stored_prop.name, stored_prop.type, stored_prop.label) == (
        "condition",
        PropertyType.ENUMERATION,
        "Condition",
    )


def test_update_property_accepts_the_same_name_and_type(
    services: Services, viewed_car: EventDefinition
) -> None:
    prop = services.definitions.update_property(
        "viewed_car", "condition", {"type": "enumeration", "name": "condition", "label": "State"}
    )
    assert (prop.name, prop.type, prop.label) == ("condition", PropertyType.ENUMERATION, "State")


def test_update_property_edits_enumeration_options(
    services: Services, viewed_car: EventDefinition
) -> None:
    prop = services.definitions.update_property(
        "viewed_car",
        "condition",
        {
            "options": [
                {"label": "New", "value": "new"},
                {"label": "Used", "value": "used"},
                {"label": "Damaged", "value": "damaged", "hidden": True},
            ]
        },
    )
    assert [(o.value, o.display_order, o.hidden) for o in prop.options] == [
        ("new", 0, False),
        ("used", 1, False),
        ("damaged", 2, True),
    ]
    saved = services.definitions.get("viewed_car").custom_property("condition")
    assert saved is not None
    assert saved.option_values() == {"new", "used", "damaged"}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param([], [("options", "OPTIONS_REQUIRED")], id="no-options"),
        pytest.param(
            [{"label": "New", "value": "new"}, {"label": "Nieuw", "value": "new"}],
            [("options[1].value", "DUPLICATE_OPTION_VALUE")],
            id="duplicate-value",
        ),
        pytest.param(
            [{"label": "New or used", "value": "new;used"}],
            [("options[0].value", "INVALID_VALUE")],
            id="semicolon",
        ),
    ],
)
def test_update_property_options_follow_the_same_rules(
    services: Services,
    viewed_car: EventDefinition,
    options: list[dict[str, str]],
    expected: list[tuple[str, str]],
) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.definitions.update_property("viewed_car", "condition", {"options": options})
    assert violations_of(error) == expected
    assert services.definitions.get("viewed_car") == viewed_car


def test_update_property_refuses_options_on_a_number(
    services: Services, viewed_car: EventDefinition
) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.definitions.update_property(
            "viewed_car", "year", {"options": [{"label": "2020", "value": "2020"}]}
        )
    assert violations_of(error) == [("options", "OPTIONS_NOT_ALLOWED")]


@pytest.mark.parametrize(
    ("length", "ok"), [pytest.param(50, True, id="50"), pytest.param(51, False, id="51")]
)
def test_update_property_label_length(
    services: Services, viewed_car: EventDefinition, length: int, ok: bool
) -> None:
    update = {"label": "b" * length}
    if ok:
        assert services.definitions.update_property("viewed_car", "make", update).label == (
            "b" * 50
        )
        return
    with pytest.raises(ValidationFailed) as error:
        services.definitions.update_property("viewed_car", "make", update)
    assert violations_of(error) == [("label", "LABEL_TOO_LONG")]


@pytest.mark.parametrize("name", ["nope", "hs_city"], ids=["unknown", "default-property"])
def test_only_custom_properties_can_be_edited_or_deleted(
    services: Services, viewed_car: EventDefinition, name: str
) -> None:
    with pytest.raises(NotFound, match=f"no custom property named '{name}'"):
        services.definitions.update_property("viewed_car", name, {"label": "X"})
    with pytest.raises(NotFound, match=f"no custom property named '{name}'"):
        services.definitions.delete_property("viewed_car", name)


def test_delete_property_keeps_stored_values_and_refuses_new_ones(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    before = send_one(
        services.ingestion, body(viewed_car, objectId=contact.id, properties={"make": "Ford"})
    )
    assert before is not None
    services.definitions.delete_property("viewed_car", "make")

    definition = services.definitions.get("viewed_car")
    assert definition.custom_property("make") is None
    assert [p.name for p in definition.properties] == [
        "condition",
        "year",
        "listed_at",
        "listing_url",
    ]
    assert [c.properties for c in stored(services)] == [{"make": "Ford"}]
    assert stored(services)[0].id == before.id
    with pytest.raises(ValidationFailed) as error:
        send_one(
            services.ingestion, body(viewed_car, objectId=contact.id, properties={"make": "VW"})
        )
    assert violations_of(error) == [("properties.make", "UNKNOWN_PROPERTY")]


def test_a_deleted_property_name_can_be_added_again(
    services: Services, viewed_car: EventDefinition
) -> None:
    services.definitions.delete_property("viewed_car", "make")
    prop = services.definitions.add_property(
        "viewed_car", {"name": "make", "label": "Make", "type": "number"}
    )
    assert (prop.name, prop.type) == ("make", PropertyType.NUMBER)


def test_event_without_default_properties(services: Services, contact: CrmRecord) -> None:
    bare = services.definitions.create({"label": "Bare", "includeDefaultProperties": False})
    with pytest.raises(ValidationFailed) as error:
        send_one(
            services.ingestion, body(bare, objectId=contact.id, properties={"hs_city": "Utrecht"})
        )
    assert violations_of(error) == [("properties.hs_city", "UNKNOWN_PROPERTY")]
