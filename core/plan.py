"""Definitions as code: export every event definition as a reviewable file, then diff, apply
and lint such a file.

A plan is JSON with a stable order (events by internal name, properties and options as
defined), so that it reads well in a review and diffs cleanly in git. Each change between a plan
and the portal is classified: *safe* (nothing stored changes meaning) or *breaking* (a removed
event, property or option, a type change), with how many stored completions it would delete or
make unusable. Applying a plan with breaking changes needs to be asked for explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from core.definitions import (
    DefinitionDraft,
    DefinitionService,
    OptionDraft,
    PropertyDraft,
    build_property,
    check_event_name,
)
from core.errors import Rule, ValidationFailed, Violation, violations_from_pydantic
from core.models import CbeModel, EventDefinition, ObjectType, PropertyDefinition, TrackingMethod
from core.occurrences import CompletionQuery, OccurrenceService
from core.rules import (
    check_custom_property_count,
    check_definition_count,
    check_property_names_unique,
)
from core.values import parse_value

PLAN_FORMAT = 1


class PlanProperty(CbeModel):
    name: str
    label: str
    type: str
    description: str = ""
    options: list[OptionDraft] = []


class PlanEvent(CbeModel):
    name: str
    label: str
    description: str = ""
    primary_object: ObjectType = ObjectType.CONTACT
    tracking_method: TrackingMethod = TrackingMethod.API
    include_default_properties: bool = True
    archived: bool = False
    properties: list[PlanProperty] = []


class Plan(CbeModel):
    cbe_plan: int = PLAN_FORMAT
    events: list[PlanEvent] = []


# -- export -------------------------------------------------------------------------------------


def export_plan(definitions: Sequence[EventDefinition]) -> str:
    """Every definition as a plan file: stable order, one field per line."""
    events = [
        {
            "name": d.name,
            "label": d.label,
            "description": d.description,
            "primaryObject": d.primary_object.value,
            "trackingMethod": d.tracking_method.value,
            "includeDefaultProperties": d.include_default_properties,
            "archived": d.archived,
            "properties": [_property_json(p) for p in d.properties],
        }
        for d in sorted(definitions, key=lambda d: d.name)
    ]
    return (
        json.dumps({"cbePlan": PLAN_FORMAT, "events": events}, indent=2, ensure_ascii=False) + "\n"
    )


def _property_json(prop: PropertyDefinition) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": prop.name,
        "label": prop.label,
        "type": prop.type.value,
        "description": prop.description,
    }
    if prop.options:
        data["options"] = [
            {
                "label": o.label,
                "value": o.value,
                "description": o.description,
                "hidden": o.hidden,
                "displayOrder": o.display_order,
            }
            for o in prop.options
        ]
    return data


# -- lint ---------------------------------------------------------------------------------------


def read_plan(raw: object) -> tuple[Plan | None, list[Violation]]:
    """A plan from parsed JSON, and every rule it breaks (HubSpot's limits and names)."""
    if not isinstance(raw, Mapping):
        return None, [Violation(field="", rule=Rule.INVALID_TYPE, message="A plan is an object.")]
    try:
        plan = Plan.model_validate(raw)
    except ValidationError as error:
        return None, violations_from_pydantic(error)
    violations: list[Violation] = []
    if plan.cbe_plan != PLAN_FORMAT:
        violations.append(
            Violation(
                field="cbePlan",
                rule=Rule.INVALID_VALUE,
                message=f"This cbe reads plan format {PLAN_FORMAT}, not {plan.cbe_plan}.",
                actual=plan.cbe_plan,
            )
        )
    violations += check_definition_count(len(plan.events))
    names = [e.name for e in plan.events]
    for i, event in enumerate(plan.events):
        at = f"events[{i}]"
        others = names[:i] + names[i + 1 :]
        _, problems = check_event_name(event.label, event.name, others, ())
        violations += [p.prefixed(at) for p in problems]
        taken: set[str] = set()
        for j, prop in enumerate(event.properties):
            built, problems = _build(prop, taken, f"{at}.properties[{j}]")
            violations += problems
            if built is not None:
                taken.add(built.name)
        violations += [
            v.prefixed(at) for v in check_custom_property_count(len(event.properties), "properties")
        ]
        violations += [
            v.prefixed(at)
            for v in check_property_names_unique([p.name for p in event.properties], "properties")
        ]
    return plan, violations


def _build(
    prop: PlanProperty, taken: set[str], field: str
) -> tuple[PropertyDefinition | None, list[Violation]]:
    try:
        draft = PropertyDraft.model_validate(prop.model_dump())
    except ValidationError as error:
        return None, [v.prefixed(field) for v in violations_from_pydantic(error)]
    return build_property(draft, taken, field)


# -- diff ---------------------------------------------------------------------------------------


class ChangeKind(StrEnum):
    ADD_EVENT = "add event"
    REMOVE_EVENT = "remove event"
    CHANGE_EVENT = "change event"
    ADD_PROPERTY = "add property"
    REMOVE_PROPERTY = "remove property"
    CHANGE_TYPE = "change property type"
    CHANGE_PROPERTY = "change property"
    ADD_OPTION = "add option"
    REMOVE_OPTION = "remove option"


BREAKING = {
    ChangeKind.REMOVE_EVENT,
    ChangeKind.REMOVE_PROPERTY,
    ChangeKind.CHANGE_TYPE,
    ChangeKind.REMOVE_OPTION,
}


@dataclass(frozen=True)
class Change:
    """One difference between a plan and the portal, as applying the plan would make it."""

    kind: ChangeKind
    event: str
    detail: str
    prop: str | None = None
    option: str | None = None
    affected: int = 0
    """Stored completions it would delete (a removed event) or make unusable (the others)."""

    @property
    def breaking(self) -> bool:
        return self.kind in BREAKING

    def describe(self) -> str:
        where = ".".join(p for p in (self.event, self.prop, self.option) if p)
        text = f"{'BREAKING' if self.breaking else 'safe'}: {self.kind} {where}: {self.detail}"
        if self.kind is ChangeKind.REMOVE_EVENT:
            return f"{text} ({self.affected:,} stored completion(s) would be deleted)"
        if self.breaking:
            return f"{text} ({self.affected:,} stored completion(s) would become unusable)"
        return text


def _shown(value: object) -> str:
    """A value as the plan file writes it (JSON: ``false``, ``null``, ``"text"``), never
    Python's repr (``False``, ``None``, ``'text'``)."""
    return json.dumps(value, ensure_ascii=False)


class PlanService:
    """Diff and apply plans against the portal's definitions."""

    def __init__(self, definitions: DefinitionService, occurrences: OccurrenceService) -> None:
        self._definitions = definitions
        self._occurrences = occurrences

    def export(self) -> str:
        return export_plan(self._definitions.search(include_archived=True))

    def diff(self, raw: object) -> list[Change]:
        """The changes applying ``raw`` would make; :class:`ValidationFailed` if it breaks a
        rule."""
        plan, violations = read_plan(raw)
        if violations or plan is None:
            raise ValidationFailed(violations)
        current = {d.name: d for d in self._definitions.search(include_archived=True)}
        wanted = {e.name: e for e in plan.events}
        _, deleted = self._definitions.names_in_use()
        reused = [
            Violation(
                field=f"events[{i}].name",
                rule=Rule.NAME_DELETED,
                message=f"{e.name!r} belonged to a deleted event; names are never used again.",
                actual=e.name,
            )
            for i, e in enumerate(plan.events)
            if e.name not in current and e.name in deleted
        ]
        if reused:  # found before anything changes: apply never stops half-way on this
            raise ValidationFailed(reused)
        changes: list[Change] = []
        for name, event in wanted.items():
            definition = current.get(name)
            if definition is None:
                count = len(event.properties)
                changes.append(Change(ChangeKind.ADD_EVENT, name, f"{count} custom properties"))
            else:
                changes += self._event_changes(definition, event)
        for name, definition in current.items():
            if name not in wanted:
                changes.append(
                    Change(
                        ChangeKind.REMOVE_EVENT,
                        name,
                        "deleted with its completions; the name is never used again",
                        affected=self._count(definition, lambda _: True),
                    )
                )
        return changes

    def _event_changes(self, definition: EventDefinition, event: PlanEvent) -> list[Change]:
        name = definition.name
        changes: list[Change] = []
        for field, old, new in (
            ("label", definition.label, event.label),
            ("description", definition.description, event.description),
            ("trackingMethod", definition.tracking_method.value, event.tracking_method.value),
            ("archived", definition.archived, event.archived),
        ):
            if old != new:
                detail = f"{field} {_shown(old)} -> {_shown(new)}"
                changes.append(Change(ChangeKind.CHANGE_EVENT, name, detail))
        if definition.primary_object is not event.primary_object:
            raise ValidationFailed(
                [
                    Violation(
                        field=f"events.{name}.primaryObject",
                        rule=Rule.IMMUTABLE,
                        message=f"{name}'s object cannot change "
                        f"({definition.primary_object.value} to {event.primary_object.value}).",
                    )
                ]
            )
        have = {p.name: p for p in definition.properties}
        want = {p.name: p for p in event.properties}
        for prop_name, prop in want.items():
            old_prop = have.get(prop_name)
            if old_prop is None:
                changes.append(Change(ChangeKind.ADD_PROPERTY, name, prop.type, prop_name))
                continue
            new_prop, _ = _build(prop, set(), "")
            assert new_prop is not None  # read_plan checked it
            if old_prop.type is not new_prop.type:
                changes.append(
                    Change(
                        ChangeKind.CHANGE_TYPE,
                        name,
                        f"{old_prop.type.value} -> {new_prop.type.value} (deleted and created "
                        "again)",
                        prop_name,
                        affected=self._count(definition, _unparsable(prop_name, new_prop)),
                    )
                )
                continue
            changes += self._property_changes(definition, old_prop, new_prop)
        for prop_name in have:
            if prop_name not in want:
                changes.append(
                    Change(
                        ChangeKind.REMOVE_PROPERTY,
                        name,
                        "stored values stay, but no filter or report can use them",
                        prop_name,
                        affected=self._count(definition, lambda c, p=prop_name: p in c),
                    )
                )
        return changes

    def _property_changes(
        self, definition: EventDefinition, old: PropertyDefinition, new: PropertyDefinition
    ) -> list[Change]:
        name, prop = definition.name, old.name
        changes: list[Change] = []
        for field in ("label", "description"):
            if getattr(old, field) != getattr(new, field):
                detail = f"{field} {_shown(getattr(old, field))} -> {_shown(getattr(new, field))}"
                changes.append(Change(ChangeKind.CHANGE_PROPERTY, name, detail, prop))
        old_options = {o.value: o for o in old.options}
        new_options = {o.value: o for o in new.options}
        for value, option in new_options.items():
            if value not in old_options:
                changes.append(
                    Change(
                        ChangeKind.ADD_OPTION, name, f"label {_shown(option.label)}", prop, value
                    )
                )
            elif old_options[value].model_dump() != option.model_dump():
                changes.append(
                    Change(ChangeKind.CHANGE_PROPERTY, name, "option changed", prop, value)
                )
        for value in old_options:
            if value not in new_options:
                changes.append(
                    Change(
                        ChangeKind.REMOVE_OPTION,
                        name,
                        "stored values stay, but count as not an option",
                        prop,
                        value,
                        affected=self._count(definition, _has_option(prop, value)),
                    )
                )
        if not changes and [o.value for o in old.options] != [o.value for o in new.options]:
            changes.append(Change(ChangeKind.CHANGE_PROPERTY, name, "options reordered", prop))
        return changes

    def _count(self, definition: EventDefinition, test: Any) -> int:
        query = CompletionQuery(event_names=frozenset({definition.fully_qualified_name}))
        return sum(1 for c in self._occurrences.iterate(query) if test(c.properties))

    def apply(self, raw: object, allow_breaking: bool = False) -> list[Change]:
        """Make the portal's definitions what ``raw`` says; returns the changes made.

        With breaking changes and not ``allow_breaking``, nothing is changed and
        :class:`ValidationFailed` lists them.
        """
        changes = self.diff(raw)
        breaking = [c for c in changes if c.breaking]
        if breaking and not allow_breaking:
            raise ValidationFailed(
                [
                    Violation(field=c.event, rule=Rule.BREAKING_CHANGE, message=c.describe())
                    for c in breaking
                ]
            )
        plan, _ = read_plan(raw)
        assert plan is not None
        wanted = {e.name: e for e in plan.events}
        service = self._definitions
        for change in changes:
            event = wanted.get(change.event)
            if change.kind is ChangeKind.REMOVE_EVENT:
                service.delete(change.event)
            elif change.kind is ChangeKind.ADD_EVENT:
                assert event is not None
                created = service.create(
                    DefinitionDraft(
                        label=event.label,
                        name=event.name,
                        description=event.description,
                        primary_object=event.primary_object,
                        include_default_properties=event.include_default_properties,
                        tracking_method=event.tracking_method,
                        property_definitions=[
                            PropertyDraft.model_validate(p.model_dump()) for p in event.properties
                        ],
                    )
                )
                if event.archived:
                    service.archive(created.name)
        for name, event in wanted.items():
            if any(c.event == name and c.kind is not ChangeKind.ADD_EVENT for c in changes):
                self._apply_event(name, event, changes)
        return changes

    def _apply_event(self, name: str, event: PlanEvent, changes: list[Change]) -> None:
        service = self._definitions
        mine = [c for c in changes if c.event == name]
        if any(c.kind is ChangeKind.CHANGE_EVENT for c in mine):
            service.update(
                name,
                label=event.label,
                description=event.description,
                tracking_method=event.tracking_method,
            )
            definition = service.get(name)
            if definition.archived != event.archived:
                service.archive(name, archived=event.archived)
        want = {p.name: p for p in event.properties}
        for change in mine:
            if change.kind in (ChangeKind.REMOVE_PROPERTY, ChangeKind.CHANGE_TYPE):
                assert change.prop is not None
                service.delete_property(name, change.prop)
        for change in mine:
            if change.kind in (ChangeKind.ADD_PROPERTY, ChangeKind.CHANGE_TYPE):
                assert change.prop is not None
                prop = want[change.prop]
                service.add_property(name, PropertyDraft.model_validate(prop.model_dump()))
        touched = {
            c.prop
            for c in mine
            if c.kind
            in (ChangeKind.CHANGE_PROPERTY, ChangeKind.ADD_OPTION, ChangeKind.REMOVE_OPTION)
        }
        for prop_name in sorted(p for p in touched if p is not None):
            prop = want[prop_name]
            service.update_property(
                name,
                prop_name,
                {
                    "label": prop.label,
                    "description": prop.description,
                    "options": [o.model_dump() for o in prop.options],
                },
            )


def _unparsable(name: str, prop: PropertyDefinition) -> Any:
    """Whether a completion's value of ``name`` would be refused or unusable as ``prop``."""

    def test(properties: Mapping[str, Any]) -> bool:
        if name not in properties:
            return False
        outcome = parse_value(prop, properties[name], name)
        return isinstance(outcome, Violation) or bool(outcome.unusable)

    return test


def _has_option(name: str, value: str) -> Any:
    def test(properties: Mapping[str, Any]) -> bool:
        raw = properties.get(name)
        return raw is not None and value in str(raw).split(";")

    return test
