"""Ingestion through ``services.ingestion``: strict (HTTP API) and lenient (JavaScript) paths."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.clock import FixedClock
from core.defaults import DEFAULT_PROPERTIES
from core.errors import Rule, ValidationFailed
from core.ingestion import IngestResult, Mode
from core.models import (
    Completion,
    CrmRecord,
    Cut,
    EventDefinition,
    ObjectType,
    PropertyType,
    Source,
)
from core.services import Services
from tests.conftest import NOW, PORTAL_ID
from tests.core.conftest import (
    assert_nothing_stored,
    body,
    only_violation,
    stored,
    violations_of,
    wide_names,
)
from tests.sending import send_one

STRICT_AND_LENIENT = [
    pytest.param(Mode.STRICT, id="strict"),
    pytest.param(Mode.LENIENT, id="lenient"),
]


def lenient(services: Services, *bodies: dict[str, Any]) -> IngestResult:
    """What the JavaScript collector does."""
    return services.ingestion.ingest(list(bodies), Mode.LENIENT, Source.JS)


def send_in(services: Services, mode: Mode, request: dict[str, Any]) -> Completion:
    """Send one body strictly (HTTP API) or leniently (JavaScript); the stored completion."""
    if mode is Mode.STRICT:
        return send_one(services.ingestion, request)
    result = lenient(services, request)
    assert result.rejected == []
    (completion,) = result.stored
    return completion


def _cuts(completion: Completion) -> list[tuple[str, str]]:
    return [(c.property, c.reason) for c in completion.cuts]


def _wide_properties(count: int) -> dict[str, str]:
    """``count`` properties ``wide_event`` knows: its 30 custom ones, then string defaults."""
    strings = [p.name for p in DEFAULT_PROPERTIES if p.type is PropertyType.STRING]
    names = [*wide_names(), *strings]
    assert count <= len(names)
    return {name: f"v{i}" for i, name in enumerate(names[:count])}


# -- the happy path ------------------------------------------------------------------------


def test_a_strict_send_is_stored_as_sent(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    completion = send_one(
        services.ingestion,
        body(
            viewed_car,
            email="ANN@example.com",
            occurredAt="2026-10-31T09:30:00Z",
            uuid="order-1",
            properties={"make": "Ford", "year": 2020, "condition": "used"},
        ),
    )
    assert completion is not None
    assert completion.id == "c000001"
    assert completion.uuid == "order-1"
    assert completion.event_name == f"pe{PORTAL_ID}_viewed_car"
    assert (completion.object_type, completion.object_id) == (ObjectType.CONTACT, contact.id)
    assert completion.occurred_at == datetime(2026, 10, 31, 9, 30, tzinfo=UTC)
    assert completion.received_at == NOW
    assert completion.source is Source.API
    assert completion.properties == {"make": "Ford", "year": 2020, "condition": "used"}
    assert (completion.unusable, completion.cuts) == ({}, [])
    assert stored(services) == [completion]
    assert services.db.completions.summaries()[viewed_car.fully_qualified_name].count == 1


def test_occurred_at_defaults_to_the_clock(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, clock: FixedClock
) -> None:
    first = send_one(services.ingestion, body(viewed_car, objectId=contact.id))
    later = clock.advance(timedelta(minutes=3))
    second = send_one(services.ingestion, body(viewed_car, objectId=contact.id))
    assert (first.occurred_at, first.received_at) == (NOW, NOW)
    assert (second.occurred_at, second.received_at) == (later, later)


@pytest.mark.parametrize(
    "occurred_at",
    [
        pytest.param(1704164645000, id="epoch-millis"),
        pytest.param("1704164645000", id="epoch-millis-text"),
        pytest.param("2024-01-02T03:04:05Z", id="iso-z"),
        pytest.param("2024-01-02T05:04:05+02:00", id="iso-offset"),
    ],
)
def test_occurred_at_forms(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, occurred_at: object
) -> None:
    completion = send_one(
        services.ingestion, body(viewed_car, objectId=contact.id, occurredAt=occurred_at)
    )
    assert completion is not None
    assert completion.occurred_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    "occurred_at",
    [
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(1.5, id="fractional-millis"),
        pytest.param("2024-01-02T03:04:05 CET", id="zone-name"),
        pytest.param("next tuesday", id="words"),
    ],
)
def test_strict_refuses_an_occurred_at_that_is_not_a_timestamp(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, occurred_at: object
) -> None:
    with pytest.raises(ValidationFailed) as error:
        send_one(services.ingestion, body(viewed_car, objectId=contact.id, occurredAt=occurred_at))
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("occurredAt", Rule.INVALID_OCCURRED_AT)
    assert repr(occurred_at) in violation.message
    assert_nothing_stored(services)


def test_without_uuid_the_completion_id_is_the_uuid(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    completion = send_one(services.ingestion, body(viewed_car, objectId=contact.id))
    assert completion.uuid == completion.id


# -- strict: every violation at once, nothing stored ---------------------------------------


def test_strict_reports_every_violation_of_a_request_and_stores_nothing(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    long_name = "p" * 51
    with pytest.raises(ValidationFailed) as error:
        send_one(
            services.ingestion,
            body(
                viewed_car,
                email="nobody@example.com",
                occurredAt="soon",
                properties={
                    "colour": "red",
                    "make": "m" * 257,
                    "year": "abc",
                    "listed_at": "noon",
                    long_name: "x",
                    "condition": "damaged",
                    "listing_url": "u" * 1024,
                },
            ),
        )
    assert violations_of(error) == [
        ("email", "UNKNOWN_EMAIL"),
        ("occurredAt", "INVALID_OCCURRED_AT"),
        ("properties.colour", "UNKNOWN_PROPERTY"),
        ("properties.make", "VALUE_TOO_LONG"),
        ("properties.year", "INVALID_NUMBER"),
        ("properties.listed_at", "INVALID_DATETIME"),
        (f"properties.{long_name}", "PROPERTY_NAME_TOO_LONG"),
    ]
    messages = [v.message for v in error.value.violations]
    assert "'nobody@example.com'" in messages[0]
    assert "'soon'" in messages[1]
    assert "'colour'" in messages[2]
    assert "257 characters" in messages[3] and "at most 256" in messages[3]
    assert "'abc'" in messages[4]
    assert "51 characters" in messages[6] and "at most 50" in messages[6]
    assert "(and 6 more)" in str(error.value)
    assert_nothing_stored(services)
    assert services.records.search(ObjectType.CONTACT) == [contact]


def test_strict_batch_prefixes_fields_and_stores_none_of_the_good_inputs(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    good = body(viewed_car, objectId=contact.id, properties={"make": "Ford"})
    with pytest.raises(ValidationFailed) as error:
        services.ingestion.send_batch(
            {
                "inputs": [
                    good,
                    body(viewed_car, objectId=contact.id, properties={"year": "abc", "x": 1}),
                    good,
                    {"eventName": f"pe{PORTAL_ID}_nope", "objectId": contact.id},
                    "not an object",
                    {"properties": {}},
                ]
            }
        )
    assert sorted(violations_of(error)) == [
        ("inputs[1].properties.x", "UNKNOWN_PROPERTY"),
        ("inputs[1].properties.year", "INVALID_NUMBER"),
        ("inputs[3].eventName", "UNKNOWN_EVENT"),
        ("inputs[4]", "INVALID_TYPE"),
        ("inputs[5].eventName", "REQUIRED"),
    ]
    assert_nothing_stored(services)


def test_one_bad_input_spoils_the_whole_batch(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    inputs = [body(viewed_car, objectId=contact.id, uuid=f"u{i}") for i in range(10)]
    inputs[7]["properties"] = {"make": "m" * 257}
    with pytest.raises(ValidationFailed) as error:
        services.ingestion.send_batch({"inputs": inputs})
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("inputs[7].properties.make", "VALUE_TOO_LONG")
    assert_nothing_stored(services)


@pytest.mark.parametrize(
    ("count", "rule"),
    [
        pytest.param(0, Rule.BATCH_EMPTY, id="0"),
        pytest.param(1, None, id="1"),
        pytest.param(500, None, id="500"),
        pytest.param(501, Rule.BATCH_TOO_LARGE, id="501"),
    ],
)
def test_batch_size(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    count: int,
    rule: Rule | None,
) -> None:
    inputs = [body(viewed_car, objectId=contact.id) for _ in range(count)]
    if rule is None:
        assert len(services.ingestion.send_batch({"inputs": inputs})) == count
        assert len(stored(services)) == count
        return
    with pytest.raises(ValidationFailed) as error:
        services.ingestion.send_batch({"inputs": inputs})
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("inputs", rule)
    if rule is Rule.BATCH_TOO_LARGE:
        assert "at most 500" in violation.message and "501" in violation.message
    assert_nothing_stored(services)


@pytest.mark.parametrize(
    "raw",
    [pytest.param({}, id="no-inputs"), pytest.param({"inputs": "x"}, id="inputs-not-a-list")],
)
def test_a_batch_body_needs_inputs(services: Services, raw: object) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.ingestion.send_batch(raw)
    assert violations_of(error) == [("inputs", "REQUIRED")]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param([], [("", "INVALID_TYPE")], id="array"),
        pytest.param({}, [("eventName", "REQUIRED")], id="no-event-name"),
        pytest.param(
            {"eventName": "x", "properties": []},
            [("properties", "INVALID_TYPE")],
            id="properties-not-an-object",
        ),
    ],
)
def test_malformed_bodies(services: Services, raw: object, expected: list[tuple[str, str]]) -> None:
    with pytest.raises(ValidationFailed) as error:
        send_one(services.ingestion, raw)
    assert violations_of(error) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(
            {}, [("eventName", "REQUIRED"), ("properties", "REQUIRED")], id="empty-object"
        ),
        pytest.param({"eventName": "x"}, [("properties", "REQUIRED")], id="no-properties"),
        pytest.param(
            {"eventName": "x", "properties": None}, [("properties", "REQUIRED")], id="null"
        ),
    ],
)
def test_a_hubspot_body_needs_properties(
    services: Services, raw: object, expected: list[tuple[str, str]]
) -> None:
    """HubSpot's send spec requires properties; cbe's own callers may leave them out."""
    with pytest.raises(ValidationFailed) as error:
        send_one(services.ingestion, raw, hubspot_body=True)
    assert violations_of(error) == expected


# -- events --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", STRICT_AND_LENIENT)
@pytest.mark.parametrize(
    "event_name",
    [f"pe{PORTAL_ID}_nope", "pe999_viewed_car", "nope", "viewed_car"],
    ids=["unknown", "other-portal", "unknown-internal", "internal-name-alone"],
)
def test_unknown_events_are_rejected(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    mode: Mode,
    event_name: str,
) -> None:
    request = {"eventName": event_name, "objectId": contact.id}
    if mode is Mode.STRICT:
        with pytest.raises(ValidationFailed) as error:
            send_one(services.ingestion, request)
        violation = only_violation(error)
    else:
        result = lenient(services, request)
        assert result.stored == []
        (rejection,) = result.rejected
        assert rejection.index == 0
        (violation,) = rejection.violations
    assert (violation.field, violation.rule) == ("eventName", Rule.UNKNOWN_EVENT)
    hint = (
        f" 'viewed_car' is an internal name; send the fully qualified name "
        f"{viewed_car.fully_qualified_name}."
        if event_name == "viewed_car"
        else ""
    )
    assert violation.message == (
        f"Event with fully qualified name {event_name} does not exist.{hint}"
    )
    assert_nothing_stored(services)


@pytest.mark.parametrize("mode", STRICT_AND_LENIENT)
def test_archived_events_are_rejected_until_restored(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, mode: Mode
) -> None:
    services.definitions.archive("viewed_car")
    request = body(viewed_car, objectId=contact.id)
    if mode is Mode.STRICT:
        with pytest.raises(ValidationFailed) as error:
            send_one(services.ingestion, request)
        violation = only_violation(error)
    else:
        (rejection,) = lenient(services, request).rejected
        (violation,) = rejection.violations
    assert (violation.field, violation.rule) == ("eventName", Rule.EVENT_ARCHIVED)
    assert "archived" in violation.message
    assert_nothing_stored(services)

    services.definitions.archive("viewed_car", archived=False)
    assert send_in(services, mode, request).event_name == viewed_car.fully_qualified_name


# -- value lengths -------------------------------------------------------------------------

VALUE_LIMITS = [
    pytest.param("make", 256, id="custom-make-256"),
    pytest.param("hs_city", 256, id="hs_city-256"),
    pytest.param("hs_page_title", 256, id="hs_page_title-256"),
    pytest.param("hs_page_url", 1024, id="hs_page_url-1024"),
    pytest.param("hs_referrer", 1024, id="hs_referrer-1024"),
    pytest.param("hs_link_href", 1024, id="hs_link_href-1024"),
    pytest.param("listing_url", 1024, id="custom-listing_url-1024"),
]


@pytest.mark.parametrize(("prop", "limit"), VALUE_LIMITS)
def test_strict_value_length_at_the_limit_is_stored_whole(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, prop: str, limit: int
) -> None:
    value = "v" * limit
    completion = send_one(
        services.ingestion, body(viewed_car, objectId=contact.id, properties={prop: value})
    )
    assert completion is not None
    assert completion.properties == {prop: value}
    assert completion.cuts == []


@pytest.mark.parametrize(("prop", "limit"), VALUE_LIMITS)
def test_strict_value_length_past_the_limit_fails(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, prop: str, limit: int
) -> None:
    with pytest.raises(ValidationFailed) as error:
        send_one(
            services.ingestion,
            body(viewed_car, objectId=contact.id, properties={prop: "v" * (limit + 1)}),
        )
    violation = only_violation(error)
    assert (violation.field, violation.rule) == (f"properties.{prop}", Rule.VALUE_TOO_LONG)
    assert (violation.limit, violation.actual) == (limit, limit + 1)
    assert repr(prop) in violation.message
    assert f"{limit + 1} characters" in violation.message
    assert f"at most {limit}" in violation.message
    assert_nothing_stored(services)


@pytest.mark.parametrize(("prop", "limit"), VALUE_LIMITS)
@pytest.mark.parametrize("extra", [1, 500], ids=["one-over", "far-over"])
def test_lenient_truncates_and_records_the_original_length(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    prop: str,
    limit: int,
    extra: int,
) -> None:
    value = "".join(chr(ord("a") + i % 26) for i in range(limit + extra))
    (completion,) = lenient(
        services, body(viewed_car, objectId=contact.id, properties={prop: value})
    ).stored
    assert completion.properties == {prop: value[:limit]}
    assert completion.source is Source.JS
    assert completion.cuts == [
        Cut(
            property=prop,
            reason="VALUE_TOO_LONG",
            detail=f"Truncated to {limit} characters.",
            original_length=limit + extra,
        )
    ]
    assert stored(services) == [completion]


def test_lenient_keeps_values_at_the_limit_untouched(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    (completion,) = lenient(
        services,
        body(
            viewed_car,
            objectId=contact.id,
            properties={"make": "m" * 256, "hs_page_url": "u" * 1024},
        ),
    ).stored
    assert completion.properties == {"make": "m" * 256, "hs_page_url": "u" * 1024}
    assert completion.cuts == []


# -- properties per completion -------------------------------------------------------------


def test_strict_50_properties_are_stored(
    services: Services, wide_event: EventDefinition, contact: CrmRecord
) -> None:
    sent = _wide_properties(50)
    completion = send_one(
        services.ingestion, body(wide_event, objectId=contact.id, properties=sent)
    )
    assert completion.properties == sent


def test_strict_51_properties_fail(
    services: Services, wide_event: EventDefinition, contact: CrmRecord
) -> None:
    with pytest.raises(ValidationFailed) as error:
        send_one(
            services.ingestion,
            body(wide_event, objectId=contact.id, properties=_wide_properties(51)),
        )
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("properties", Rule.TOO_MANY_PROPERTIES)
    assert (violation.limit, violation.actual) == (50, 51)
    assert "at most 50 properties" in violation.message
    assert_nothing_stored(services)


@pytest.mark.parametrize("count", [51, 55])
def test_lenient_keeps_the_first_50_properties(
    services: Services, wide_event: EventDefinition, contact: CrmRecord, count: int
) -> None:
    sent = _wide_properties(count)
    (completion,) = lenient(services, body(wide_event, objectId=contact.id, properties=sent)).stored
    names = list(sent)
    assert completion.properties == {name: sent[name] for name in names[:50]}
    # The properties left out are one cut, however many: it names the first five.
    assert _cuts(completion) == [("properties", "TOO_MANY_PROPERTIES")]
    detail = completion.cuts[0].detail
    assert detail.startswith(f"{count - 50} propert")
    assert all(repr(name) in detail for name in names[50:55])
    assert ("more" in detail) is (count - 50 > 5)


def test_case_duplicates_do_not_count_twice_toward_50(
    services: Services, wide_event: EventDefinition, contact: CrmRecord
) -> None:
    sent: dict[str, Any] = _wide_properties(50)
    sent["P01"] = "upper"
    completion = send_one(
        services.ingestion, body(wide_event, objectId=contact.id, properties=sent)
    )
    assert len(completion.properties) == 50
    assert completion.properties["p01"] == "v0"
    assert _cuts(completion) == [("P01", "DUPLICATE_AFTER_LOWERCASE")]


# -- property names ------------------------------------------------------------------------


@pytest.fixture
def long_named(services: Services, viewed_car: EventDefinition) -> str:
    """A custom property whose name is exactly 50 characters."""
    return services.definitions.add_property(
        "viewed_car", {"name": "n" * 50, "label": "Long", "type": "string"}
    ).name


@pytest.mark.parametrize("mode", STRICT_AND_LENIENT)
def test_a_50_character_property_name_is_accepted(
    services: Services, contact: CrmRecord, viewed_car: EventDefinition, long_named: str, mode: Mode
) -> None:
    completion = send_in(
        services, mode, body(viewed_car, objectId=contact.id, properties={long_named: "x"})
    )
    assert completion.properties == {long_named: "x"}


def test_strict_a_51_character_property_name_fails(
    services: Services, contact: CrmRecord, viewed_car: EventDefinition, long_named: str
) -> None:
    too_long = long_named + "n"
    with pytest.raises(ValidationFailed) as error:
        send_one(
            services.ingestion, body(viewed_car, objectId=contact.id, properties={too_long: "x"})
        )
    violation = only_violation(error)
    assert (violation.field, violation.rule) == (
        f"properties.{too_long}",
        Rule.PROPERTY_NAME_TOO_LONG,
    )
    assert (violation.limit, violation.actual) == (50, 51)
    assert_nothing_stored(services)


def test_lenient_drops_a_51_character_property_name_and_records_it(
    services: Services, contact: CrmRecord, viewed_car: EventDefinition, long_named: str
) -> None:
    too_long = long_named + "n"
    (completion,) = lenient(
        services,
        body(viewed_car, objectId=contact.id, properties={too_long: "x", "make": "Ford"}),
    ).stored
    assert completion.properties == {"make": "Ford"}
    (cut,) = completion.cuts
    assert (cut.property, cut.reason) == (too_long, "PROPERTY_NAME_TOO_LONG")
    assert "51 characters" in cut.detail


# -- duplicates after lowercasing ----------------------------------------------------------


@pytest.mark.parametrize("mode", STRICT_AND_LENIENT)
@pytest.mark.parametrize(
    ("sent", "value", "dropped"),
    [
        pytest.param({"make": "a", "Make": "b"}, "a", ["Make"], id="lowercase-wins"),
        pytest.param({"Make": "b", "make": "a"}, "a", ["Make"], id="order-does-not-matter"),
        pytest.param(
            {"Make": "b", "MAKE": "c", "make": "a"}, "a", ["MAKE", "Make"], id="three-variants"
        ),
        pytest.param({"MAKE": "c", "Make": "b"}, "b", ["MAKE"], id="last-in-ascending-order"),
        pytest.param({"Make": "b", "MAKE": "c"}, "b", ["MAKE"], id="same-the-other-way-round"),
    ],
)
def test_names_equal_after_lowercasing_keep_one(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    mode: Mode,
    sent: dict[str, str],
    value: str,
    dropped: list[str],
) -> None:
    completion = send_in(services, mode, body(viewed_car, objectId=contact.id, properties=sent))
    assert completion.properties == {"make": value}
    assert _cuts(completion) == [(name, "DUPLICATE_AFTER_LOWERCASE") for name in dropped]
    for cut in completion.cuts:
        assert "same after lowercasing" in cut.detail


@pytest.mark.parametrize("mode", [Mode.STRICT, Mode.LENIENT])
def test_a_null_value_is_as_if_the_property_was_not_sent(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, mode: Mode
) -> None:
    sent = {"MAKE": None, "make": "Ford", "nothing_like_it": None, "year": None}
    completion = send_in(services, mode, body(viewed_car, objectId=contact.id, properties=sent))
    assert completion.properties == {"make": "Ford"}  # no unknown property, no duplicate
    assert completion.cuts == []


# -- unknown properties and unusable options -----------------------------------------------


def test_strict_unknown_property_fails(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    with pytest.raises(ValidationFailed) as error:
        send_one(
            services.ingestion,
            body(viewed_car, objectId=contact.id, properties={"make": "Ford", "colour": "red"}),
        )
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("properties.colour", Rule.UNKNOWN_PROPERTY)
    assert violation.message == f"pe{PORTAL_ID}_viewed_car has no property named 'colour'."
    assert_nothing_stored(services)


def test_lenient_drops_unknown_properties_and_records_them(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    (completion,) = lenient(
        services,
        body(viewed_car, objectId=contact.id, properties={"make": "Ford", "colour": "red"}),
    ).stored
    assert completion.properties == {"make": "Ford"}
    assert _cuts(completion) == [("colour", "UNKNOWN_PROPERTY")]


def test_lenient_drops_unparseable_values_and_records_them(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    (completion,) = lenient(
        services,
        body(
            viewed_car,
            objectId=contact.id,
            occurredAt="soon",
            properties={"year": "abc", "listed_at": "tomorrow", "make": "Ford"},
        ),
    ).stored
    assert completion.properties == {"make": "Ford"}
    assert completion.occurred_at == NOW
    assert _cuts(completion) == [
        ("occurredAt", "INVALID_OCCURRED_AT"),
        ("year", "INVALID_NUMBER"),
        ("listed_at", "INVALID_DATETIME"),
    ]


@pytest.mark.parametrize("mode", STRICT_AND_LENIENT)
def test_enumeration_values_not_in_the_list_are_kept_and_flagged(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, mode: Mode
) -> None:
    completion = send_in(
        services,
        mode,
        body(
            viewed_car,
            objectId=contact.id,
            properties={"condition": "used;damaged;broken", "hs_device_type": "Toaster"},
        ),
    )
    assert completion.properties == {
        "condition": "used;damaged;broken",
        "hs_device_type": "Toaster",
    }
    assert completion.unusable == {
        "condition": ["damaged", "broken"],
        "hs_device_type": ["Toaster"],
    }
    assert _cuts(completion) == [
        ("condition", "UNUSABLE_OPTION"),
        ("hs_device_type", "UNUSABLE_OPTION"),
    ]
    assert stored(services) == [completion]


# -- identity ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("identity", "who"),
    [
        pytest.param(
            {"objectId": "BOB", "email": "ann@example.com", "utk": "utk-ann"},
            "bob",
            id="objectId-first",
        ),
        pytest.param({"email": "bob@example.com", "utk": "utk-ann"}, "bob", id="then-email"),
        pytest.param({"email": "BOB@Example.COM"}, "bob", id="email-ignores-case"),
        pytest.param({"utk": "utk-bob"}, "bob", id="then-utk"),
        pytest.param({"objectId": "ANN"}, "ann", id="objectId"),
    ],
)
def test_identity_resolution_order(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    bob: CrmRecord,
    identity: dict[str, str],
    who: str,
) -> None:
    ids = {"ANN": contact.id, "BOB": bob.id}
    if "objectId" in identity:
        identity = {**identity, "objectId": ids[identity["objectId"]]}
    completion = send_one(services.ingestion, body(viewed_car, **identity))
    assert completion.object_id == {"ann": contact.id, "bob": bob.id}[who]


def test_object_id_may_be_a_number(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    completion = send_one(services.ingestion, body(viewed_car, objectId=int(contact.id)))
    assert completion.object_id == contact.id


@pytest.mark.parametrize("mode", STRICT_AND_LENIENT)
def test_unknown_object_id_is_rejected(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, mode: Mode
) -> None:
    request = body(viewed_car, objectId="999", email=contact.email)
    if mode is Mode.STRICT:
        with pytest.raises(ValidationFailed) as error:
            send_one(services.ingestion, request)
        violation = only_violation(error)
    else:
        (rejection,) = lenient(services, request).rejected
        (violation,) = rejection.violations
    assert (violation.field, violation.rule) == ("objectId", Rule.UNKNOWN_OBJECT)
    assert violation.message == "No contact with id 999 exists."
    assert_nothing_stored(services)


def test_strict_unknown_email_fails(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    with pytest.raises(ValidationFailed) as error:
        send_one(services.ingestion, body(viewed_car, email="new@example.com"))
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("email", Rule.UNKNOWN_EMAIL)
    assert "'new@example.com'" in violation.message
    assert_nothing_stored(services)
    assert services.records.search(ObjectType.CONTACT) == [contact]


def test_lenient_unknown_email_creates_the_contact_once(
    services: Services, viewed_car: EventDefinition
) -> None:
    result = lenient(
        services,
        body(viewed_car, email="new@example.com", utk="utk-new"),
        body(viewed_car, email="NEW@example.com"),
    )
    (created,) = result.created_contacts
    assert created.object_type is ObjectType.CONTACT
    assert created.properties == {"email": "new@example.com", "hubspotutk": "utk-new"}
    assert created.created_at == NOW
    assert [c.object_id for c in result.stored] == [created.id, created.id]
    assert services.records.find_contact("new@example.com") == created
    assert stored(services) == result.stored


def test_lenient_email_of_an_archived_contact_creates_at_most_one_new_contact(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    services.records.archive(ObjectType.CONTACT, contact.id)
    lenient(services, body(viewed_car, email="ann@example.com"))
    lenient(services, body(viewed_car, email="ann@example.com"))
    active = [c for c in services.records.search(ObjectType.CONTACT) if c.email == contact.email]
    assert len(active) <= 1
    assert len({c.object_id for c in stored(services)}) == 1


def test_strict_unknown_utk_fails(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    with pytest.raises(ValidationFailed) as error:
        send_one(services.ingestion, body(viewed_car, utk="utk-stranger"))
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("utk", Rule.UNKNOWN_UTK)
    assert "'utk-stranger'" in violation.message
    assert_nothing_stored(services)


def test_lenient_unknown_utk_stores_an_anonymous_completion(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    result = lenient(services, body(viewed_car, utk="utk-stranger", properties={"make": "VW"}))
    (completion,) = result.stored
    assert completion.object_id is None
    assert completion.utk == "utk-stranger"
    assert completion.properties == {"make": "VW"}
    assert result.created_contacts == []
    assert services.records.search(ObjectType.CONTACT) == [contact]
    assert stored(services) == [completion]


@pytest.mark.parametrize("mode", STRICT_AND_LENIENT)
def test_no_identity_is_rejected(
    services: Services, viewed_car: EventDefinition, mode: Mode
) -> None:
    request = body(viewed_car, properties={"make": "VW"})
    if mode is Mode.STRICT:
        with pytest.raises(ValidationFailed) as error:
            send_one(services.ingestion, request)
        violation = only_violation(error)
    else:
        (rejection,) = lenient(services, request).rejected
        (violation,) = rejection.violations
    assert (violation.field, violation.rule) == ("objectId", Rule.MISSING_IDENTITY)
    assert_nothing_stored(services)


@pytest.mark.parametrize(
    "object_type",
    [ObjectType.COMPANY, ObjectType.DEAL, ObjectType.TICKET],
    ids=lambda t: t.value.lower(),
)
@pytest.mark.parametrize(
    "identity",
    [{"email": "ann@example.com"}, {"utk": "utk-ann"}],
    ids=["email", "utk"],
)
def test_email_and_utk_only_identify_contacts(
    services: Services,
    contact: CrmRecord,
    object_type: ObjectType,
    identity: dict[str, str],
) -> None:
    event = services.definitions.create({"label": "Renewed", "primaryObject": object_type.value})
    with pytest.raises(ValidationFailed) as error:
        send_one(services.ingestion, body(event, **identity))
    violation = only_violation(error)
    field = next(iter(identity))
    assert (violation.field, violation.rule) == (field, Rule.IDENTITY_NOT_FOR_OBJECT)
    assert "send objectId" in violation.message
    assert_nothing_stored(services)

    record = services.records.create(object_type, {"name": "Acme"})
    completion = send_one(services.ingestion, body(event, objectId=record.id))
    assert (completion.object_type, completion.object_id) == (object_type, record.id)


# -- uuids ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", STRICT_AND_LENIENT)
def test_a_uuid_already_stored_is_rejected(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord, mode: Mode
) -> None:
    first = send_one(services.ingestion, body(viewed_car, objectId=contact.id, uuid="u-1"))
    request = body(viewed_car, objectId=contact.id, uuid="u-1", properties={"make": "VW"})
    if mode is Mode.STRICT:
        with pytest.raises(ValidationFailed) as error:
            send_one(services.ingestion, request)
        violation = only_violation(error)
    else:
        (rejection,) = lenient(services, request).rejected
        (violation,) = rejection.violations
    assert (violation.field, violation.rule) == ("uuid", Rule.DUPLICATE_UUID)
    assert "'u-1'" in violation.message
    assert "the first is kept" in violation.message
    assert stored(services) == [first]


def test_the_same_uuid_twice_in_one_batch_is_rejected(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.ingestion.send_batch(
            {
                "inputs": [
                    body(viewed_car, objectId=contact.id, uuid="u-2"),
                    body(viewed_car, objectId=contact.id, uuid="u-3"),
                    body(viewed_car, objectId=contact.id, uuid="u-2"),
                ]
            }
        )
    violation = only_violation(error)
    assert (violation.field, violation.rule) == ("inputs[2].uuid", Rule.DUPLICATE_UUID)
    assert_nothing_stored(services)


def test_the_same_uuid_on_another_event_is_allowed(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    other = services.definitions.create({"label": "Logged In"})
    stored_now = services.ingestion.send_batch(
        {
            "inputs": [
                body(viewed_car, objectId=contact.id, uuid="u-4"),
                body(other, objectId=contact.id, uuid="u-4"),
            ]
        }
    )
    assert [(c.event_name, c.uuid) for c in stored_now] == [
        (viewed_car.fully_qualified_name, "u-4"),
        (other.fully_qualified_name, "u-4"),
    ]
    again = send_one(services.ingestion, body(other, objectId=contact.id, uuid="u-5"))
    assert again.uuid == "u-5"
    assert len(stored(services)) == 3


# -- lenient requests with several inputs --------------------------------------------------


def test_lenient_stores_what_it_can_and_lists_the_rest(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    result = lenient(
        services,
        body(viewed_car, objectId=contact.id, properties={"make": "Ford"}),
        {"eventName": f"pe{PORTAL_ID}_nope", "objectId": contact.id},
        body(viewed_car, properties={"make": "VW"}),
        body(viewed_car, objectId=contact.id, properties={"make": "Opel"}),
    )
    assert [c.properties["make"] for c in result.stored] == ["Ford", "Opel"]
    assert [(r.index, [v.rule.value for v in r.violations]) for r in result.rejected] == [
        (1, ["UNKNOWN_EVENT"]),
        (2, ["MISSING_IDENTITY"]),
    ]
    assert stored(services) == result.stored
    assert all(c.source is Source.JS for c in result.stored)


# -- hostile input (issue 14) --------------------------------------------------------------


def test_lenient_many_dropped_properties_cost_one_cut(
    services: Services, wide_event: EventDefinition, contact: CrmRecord
) -> None:
    sent: dict[str, Any] = _wide_properties(50)
    sent |= {f"x{i}": "" for i in range(100_000)}
    (completion,) = lenient(services, body(wide_event, objectId=contact.id, properties=sent)).stored
    assert len(completion.properties) == 50
    [cut] = completion.cuts
    assert (cut.property, cut.reason) == ("properties", "TOO_MANY_PROPERTIES")
    assert cut.detail.startswith("100000 properties dropped ('x0', 'x1', 'x2', 'x3', 'x4' and")
    assert len(json.dumps(cut.to_json())) < 300


def test_strict_too_many_properties_is_one_violation_not_one_per_name(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    """The request fails on the count; only the first 50 names are checked, so a body of
    100,000 unknown names is answered in kilobytes, not megabytes."""
    sent = {f"x{i}": "" for i in range(100_000)}
    with pytest.raises(ValidationFailed) as error:
        send_one(services.ingestion, body(viewed_car, objectId=contact.id, properties=sent))
    violations = error.value.violations
    assert violations[0].rule == Rule.TOO_MANY_PROPERTIES
    assert "this one has 100000" in violations[0].message
    unknown = [v for v in violations if v.rule == Rule.UNKNOWN_PROPERTY]
    assert [v.actual for v in unknown] == [f"x{i}" for i in range(50)]
    assert len(violations) == 51
    assert_nothing_stored(services)


def test_lenient_many_case_duplicates_cost_a_few_cuts(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    variants = {
        "".join(c.upper() if (i >> k) & 1 else c for k, c in enumerate("make")): "x"
        for i in range(16)
    }
    (completion,) = lenient(
        services, body(viewed_car, objectId=contact.id, properties=variants)
    ).stored
    duplicates = [c for c in completion.cuts if c.reason == "DUPLICATE_AFTER_LOWERCASE"]
    assert len(duplicates) == 6  # five named, then "10 more"
    assert duplicates[-1].property == "properties" and "10 more" in duplicates[-1].detail


def _refused_alone(
    services: Services,
    event: EventDefinition,
    contact: CrmRecord,
    mode: Mode,
    fields: dict[str, Any],
    where: str,
) -> str:
    """Send a good input and one with ``fields``: the good one is stored, the other refused for
    one invalid value at ``where``; the violation's message."""
    good = body(event, objectId=contact.id, properties={"make": "VW"})
    bad = {**good, **fields}
    result = services.ingestion.ingest([good, bad], mode, Source.API, all_or_nothing=False)
    assert len(result.stored) == 1 and result.stored[0].properties == {"make": "VW"}
    [rejection] = result.rejected
    assert rejection.index == 1
    assert [(v.field, v.rule) for v in rejection.violations] == [(where, Rule.INVALID_VALUE)]
    return rejection.violations[0].message


SURROGATE = "\ud800"


@pytest.mark.parametrize("mode", STRICT_AND_LENIENT)
@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"properties": {"make": "VW" + SURROGATE}}, "properties.make"),
        ({"properties": {"make" + SURROGATE: "VW"}}, "properties"),
        ({"properties": {"make": ["a", {"b": SURROGATE}]}}, "properties.make"),
        ({"email": SURROGATE + "@example.com"}, "email"),
        ({"utk": "u" + SURROGATE}, "utk"),
        ({"uuid": SURROGATE}, "uuid"),
        ({"eventName": SURROGATE}, "eventName"),
    ],
    ids=["value", "name", "nested", "email", "utk", "uuid", "eventName"],
)
def test_a_lone_surrogate_refuses_its_input_only(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    mode: Mode,
    fields: dict[str, Any],
    where: str,
) -> None:
    message = _refused_alone(services, viewed_car, contact, mode, fields, where)
    assert "lone surrogate" in message
    assert message.encode()  # showable as UTF-8


NUL = "\x00"


@pytest.mark.parametrize("mode", STRICT_AND_LENIENT)
@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"properties": {"make": "VW" + NUL}}, "properties.make"),
        ({"properties": {"make" + NUL: "VW"}}, "properties"),
        ({"properties": {"make": ["a", {"b": NUL}]}}, "properties.make"),
        ({"utk": "u" + NUL}, "utk"),
        ({"uuid": NUL}, "uuid"),
        ({"eventName": "pe" + NUL}, "eventName"),
    ],
    ids=["value", "name", "nested", "utk", "uuid", "eventName"],
)
def test_a_nul_character_refuses_its_input_only_on_every_store(
    services: Services,
    viewed_car: EventDefinition,
    contact: CrmRecord,
    mode: Mode,
    fields: dict[str, Any],
    where: str,
) -> None:
    """PostgreSQL's text cannot hold U+0000: one rule refuses it, so every store answers alike
    (a 400 naming the field, never a failed write)."""
    assert "NUL character" in _refused_alone(services, viewed_car, contact, mode, fields, where)


def test_a_record_with_a_nul_character_is_refused_on_every_store(services: Services) -> None:
    with pytest.raises(ValidationFailed) as error:
        services.records.create(ObjectType.CONTACT, {"email": "a@example.com", "city": "A" + NUL})
    assert violations_of(error) == [("properties.city", "INVALID_VALUE")]
    assert services.records.search(ObjectType.CONTACT) == []


def test_lenient_refuses_an_invalid_email_before_making_a_contact(
    services: Services, viewed_car: EventDefinition
) -> None:
    result = lenient(services, body(viewed_car, email="not-an-email", utk="u1"))
    assert result.stored == [] and result.created_contacts == []
    assert [(v.field, v.rule) for r in result.rejected for v in r.violations] == [
        ("email", Rule.INVALID_EMAIL)
    ]
    assert services.records.search(ObjectType.CONTACT) == []
    assert_nothing_stored(services)


def test_a_new_contact_does_not_take_a_token_another_contact_holds(
    services: Services, viewed_car: EventDefinition
) -> None:
    ann = services.records.create(
        ObjectType.CONTACT, {"email": "ann@example.com", "hubspotutk": "utk-ann"}
    )
    result = lenient(services, body(viewed_car, email="mallory@example.com", utk="utk-ann"))
    [created] = result.created_contacts
    assert created.properties == {"email": "mallory@example.com"}
    assert services.db.records.find_contact_by_utk("utk-ann") == ann


def test_identify_never_moves_a_token_another_contact_holds(services: Services) -> None:
    ann = services.records.create(
        ObjectType.CONTACT, {"email": "ann@example.com", "hubspotutk": "utk-ann"}
    )
    bob = services.records.create(ObjectType.CONTACT, {"email": "bob@example.com"})
    for email in ("mallory@example.com", "bob@example.com"):
        with pytest.raises(ValidationFailed) as error:
            services.records.identify("utk-ann", email)
        assert violations_of(error) == [("utk", "UTK_IN_USE")]
    assert services.db.records.find_contact_by_utk("utk-ann") == ann
    assert services.records.get(ObjectType.CONTACT, bob.id).utk is None
    assert [c.email for c in services.records.search(ObjectType.CONTACT)] == [
        "ann@example.com",
        "bob@example.com",
    ]
    # Ann naming herself again, and Bob taking a token nobody holds, are fine.
    assert services.records.identify("utk-ann", "ann@example.com")[0].id == ann.id
    assert services.records.identify("utk-bob", "bob@example.com")[0].utk == "utk-bob"
