"""Definitions as code: export, lint, diff (safe or breaking, with what it costs) and apply."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.errors import Rule, ValidationFailed
from core.models import CrmRecord, EventDefinition
from core.plan import ChangeKind, PlanOutdated, read_plan
from core.services import Services
from tests.sending import send_one


def _plan(services: Services) -> dict[str, Any]:
    plan: dict[str, Any] = json.loads(services.plans.export())
    return plan


def _event(plan: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in plan["events"] if e["name"] == name)


def _prop(event: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in event["properties"] if p["name"] == name)


def test_export_is_stable_and_round_trips_without_changes(
    services: Services, viewed_car: EventDefinition
) -> None:
    services.definitions.create({"label": "Added later", "name": "a_first_by_name"})
    text = services.plans.export()
    assert text == services.plans.export()
    plan = json.loads(text)
    assert [e["name"] for e in plan["events"]] == ["a_first_by_name", "viewed_car"]
    assert [p["name"] for p in _event(plan, "viewed_car")["properties"]] == [
        p.name for p in viewed_car.properties
    ]
    assert services.plans.diff(plan) == []
    assert read_plan(plan)[1] == []


def test_lint_names_every_broken_rule(services: Services) -> None:
    plan = {
        "cbePlan": 1,
        "events": [
            {"name": "Bad Name", "label": "x" * 101, "properties": []},
            {
                "name": "ok",
                "label": "Ok",
                "properties": [
                    {"name": "a", "label": "A", "type": "enumeration", "options": []},
                    {"name": "a", "label": "A again", "type": "string"},
                    {"name": "b", "label": "B", "type": "colour"},
                ],
            },
        ],
    }
    _, violations = read_plan(plan)
    found = {(v.field, v.rule) for v in violations}
    assert ("events[0].name", Rule.NAME_FORMAT) in found
    assert ("events[0].label", Rule.LABEL_TOO_LONG) in found
    assert any(f.startswith("events[1].properties[0].options") for f, _ in found)
    assert any(r is Rule.DUPLICATE_PROPERTY_NAME for _, r in found)
    assert any(f.startswith("events[1].properties[2].type") for f, _ in found)
    with pytest.raises(ValidationFailed):
        services.plans.diff(plan)


def test_changes_are_classified_with_what_they_cost(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    for option, year in (("new", 2020), ("used", 2015), ("new;used", 2001)):
        send_one(
            services.ingestion,
            {
                "eventName": viewed_car.fully_qualified_name,
                "objectId": contact.id,
                "properties": {"condition": option, "year": year, "make": "Ford"},
            },
        )
    plan = _plan(services)
    car = _event(plan, "viewed_car")
    car["label"] = "Viewed a car"
    condition = _prop(car, "condition")
    condition["options"] = [o for o in condition["options"] if o["value"] != "used"]
    condition["options"].append({"label": "Damaged", "value": "damaged"})
    car["properties"] = [p for p in car["properties"] if p["name"] != "make"]
    _prop(car, "year")["type"] = "string"
    car["properties"].append({"name": "colour", "label": "Colour", "type": "string"})
    plan["events"].append({"name": "started_trial", "label": "Started trial"})

    changes = {(c.kind, c.prop, c.option): c for c in services.plans.diff(plan)}
    assert set(changes) == {
        (ChangeKind.CHANGE_EVENT, None, None),
        (ChangeKind.REMOVE_OPTION, "condition", "used"),
        (ChangeKind.ADD_OPTION, "condition", "damaged"),
        (ChangeKind.REMOVE_PROPERTY, "make", None),
        (ChangeKind.CHANGE_TYPE, "year", None),
        (ChangeKind.ADD_PROPERTY, "colour", None),
        (ChangeKind.ADD_EVENT, None, None),
    }
    assert changes[(ChangeKind.REMOVE_OPTION, "condition", "used")].affected == 2
    assert changes[(ChangeKind.REMOVE_PROPERTY, "make", None)].affected == 3
    assert changes[(ChangeKind.CHANGE_TYPE, "year", None)].affected == 0  # numbers read as text
    breaking = {c.kind for c in changes.values() if c.breaking}
    assert breaking == {
        ChangeKind.REMOVE_OPTION,
        ChangeKind.REMOVE_PROPERTY,
        ChangeKind.CHANGE_TYPE,
    }
    described = changes[(ChangeKind.REMOVE_OPTION, "condition", "used")].describe()
    assert described.startswith("BREAKING: remove option viewed_car.condition.used")
    assert "2 stored completion(s) would become unusable" in described

    with pytest.raises(ValidationFailed) as refused:
        services.plans.apply(plan)
    assert {v.rule for v in refused.value.violations} == {Rule.BREAKING_CHANGE}
    assert services.definitions.get("viewed_car").label == "Viewed Car"  # nothing changed

    services.plans.apply(plan, allow_breaking=True)
    assert services.plans.diff(plan) == []
    applied = services.definitions.get("viewed_car")
    assert applied.label == "Viewed a car"
    assert [p.name for p in applied.properties] == [
        "condition",
        "listed_at",
        "listing_url",
        "year",
        "colour",
    ]
    assert {p.name: p.type.value for p in applied.properties}["year"] == "string"
    assert services.definitions.get("started_trial").label == "Started trial"


def test_removing_an_event_says_how_many_completions_go(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    send_one(
        services.ingestion, {"eventName": viewed_car.fully_qualified_name, "objectId": contact.id}
    )
    [change] = services.plans.diff({"cbePlan": 1, "events": []})
    assert change.kind is ChangeKind.REMOVE_EVENT and change.affected == 1
    assert "1 stored completion(s) would be deleted" in change.describe()
    services.plans.apply({"cbePlan": 1, "events": []}, allow_breaking=True)
    assert services.definitions.search() == []


def test_a_deleted_events_name_is_refused_before_anything_changes(
    services: Services, viewed_car: EventDefinition
) -> None:
    services.definitions.create({"label": "Gone"})
    services.definitions.delete("gone")
    plan = _plan(services)
    plan["events"][0]["label"] = "Renamed first"
    plan["events"].append({"name": "gone", "label": "Back again"})
    with pytest.raises(ValidationFailed) as refused:
        services.plans.apply(plan)
    assert [(v.field, v.rule) for v in refused.value.violations] == [
        ("events[1].name", Rule.NAME_DELETED)
    ]
    assert services.definitions.get("viewed_car").label == "Viewed Car"  # nothing changed


def test_apply_makes_only_the_approved_changes_or_none(
    services: Services, viewed_car: EventDefinition
) -> None:
    plan = _plan(services)
    _event(plan, "viewed_car")["label"] = "Viewed a car"
    approved = services.plans.diff(plan)
    services.definitions.update("viewed_car", description="changed meanwhile")
    with pytest.raises(PlanOutdated, match="1 change\\(s\\) approved, 2 now"):
        services.plans.apply(plan, approved=approved)
    assert services.definitions.get("viewed_car").label == "Viewed Car"
    assert services.plans.apply(plan, approved=services.plans.diff(plan))
