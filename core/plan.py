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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any, Protocol

from pydantic import ValidationError

from core.definitions import (
    DefinitionDraft,
    DefinitionService,
    OptionDraft,
    PropertyDraft,
    build_property,
    check_event_name,
)
from core.errors import CbeError, Rule, ValidationFailed, Violation, violations_from_pydantic
from core.models import (
    CbeModel,
    CustomMatchingId,
    EventDefinition,
    ObjectType,
    PropertyDefinition,
    TrackingMethod,
)
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
    custom_matching_id: CustomMatchingId | None = None


class Plan(CbeModel):
    cbe_plan: int = PLAN_FORMAT
    events: list[PlanEvent] = []


# -- export -------------------------------------------------------------------------------------


def export_plan(definitions: Sequence[EventDefinition]) -> str:
    """Every definition as a plan file: stable order, one field per line."""
    events = [_event_json(d) for d in sorted(definitions, key=lambda d: d.name)]
    return (
        json.dumps({"cbePlan": PLAN_FORMAT, "events": events}, indent=2, ensure_ascii=False) + "\n"
    )


def _event_json(d: EventDefinition) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": d.name,
        "label": d.label,
        "description": d.description,
        "primaryObject": d.primary_object.value,
        "trackingMethod": d.tracking_method.value,
        "includeDefaultProperties": d.include_default_properties,
        "archived": d.archived,
        "properties": [_property_json(p) for p in d.properties],
    }
    if d.custom_matching_id is not None:  # only then: plans without one read as before
        data["customMatchingId"] = d.custom_matching_id.to_json()
    return data


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
    affected: int | None = 0
    """Stored completions it would delete (a removed event) or make unusable (the others);
    ``None`` where they cannot be counted (a remote portal)."""

    @property
    def breaking(self) -> bool:
        return self.kind in BREAKING

    @property
    def where(self) -> str:
        """``event``, ``event.property`` or ``event.property.option``."""
        return ".".join(p for p in (self.event, self.prop, self.option) if p)

    def to_json(self) -> dict[str, Any]:
        """The change for a program (``cbe plan diff --json``)."""
        return {
            "kind": self.kind.value,
            "event": self.event,
            "property": self.prop,
            "option": self.option,
            "detail": self.detail,
            "breaking": self.breaking,
            "affected": self.affected,
            "description": self.describe(),
        }

    def describe(self) -> str:
        text = f"{'BREAKING' if self.breaking else 'safe'}: {self.kind} {self.where}: {self.detail}"
        if not self.breaking:
            return text
        if self.affected is None:
            return f"{text} (the remote portal's completions are not counted)"
        if self.kind is ChangeKind.REMOVE_EVENT:
            return f"{text} ({self.affected:,} stored completion(s) would be deleted)"
        return f"{text} ({self.affected:,} stored completion(s) would become unusable)"


def _shown(value: object) -> str:
    """A value as the plan file writes it (JSON: ``false``, ``null``, ``"text"``), never
    Python's repr (``False``, ``None``, ``'text'``)."""
    return json.dumps(value, ensure_ascii=False)


CompletionTest = Callable[[Mapping[str, Any]], bool]


class PlanTarget(Protocol):
    """The portal a plan is diffed against and applied to: this database, or a remote portal
    reached through HubSpot's definitions API (:mod:`core.remote`)."""

    sets_tracking: bool
    """Whether tracking method and archiving are the target's to change (HubSpot's API has
    neither, so a remote portal keeps its own and the diff leaves them out)."""

    def definitions(self) -> list[EventDefinition]:
        """Every definition, archived ones included."""
        ...

    def deleted_names(self) -> set[str]:
        """Names of deleted definitions, never to be used again (empty where unknown)."""
        ...

    def count(self, definition: EventDefinition, test: CompletionTest) -> int | None:
        """How many stored completions of ``definition`` pass ``test``; None: not known."""
        ...

    def create(self, draft: DefinitionDraft, archived: bool) -> None: ...

    def update(self, name: str, event: PlanEvent) -> None:
        """Give the event ``event``'s label and description (and tracking and archiving, where
        :attr:`sets_tracking`)."""
        ...

    def delete(self, name: str) -> None: ...

    def add_property(self, name: str, draft: PropertyDraft) -> None: ...

    def update_property(self, name: str, prop: PlanProperty) -> None:
        """Give the property ``prop``'s label, description and options."""
        ...

    def delete_property(self, name: str, prop: str) -> None: ...


class LocalTarget:
    """This database's definitions, with its completions counted."""

    sets_tracking = True

    def __init__(self, definitions: DefinitionService, occurrences: OccurrenceService) -> None:
        self._definitions = definitions
        self._occurrences = occurrences

    def definitions(self) -> list[EventDefinition]:
        return self._definitions.search(include_archived=True)

    def deleted_names(self) -> set[str]:
        return self._definitions.names_in_use()[1]

    def count(self, definition: EventDefinition, test: CompletionTest) -> int:
        query = CompletionQuery(event_names=frozenset({definition.fully_qualified_name}))
        return sum(1 for c in self._occurrences.iterate(query) if test(c.properties))

    def create(self, draft: DefinitionDraft, archived: bool) -> None:
        created = self._definitions.create(draft)
        if archived:
            self._definitions.archive(created.name)

    def update(self, name: str, event: PlanEvent) -> None:
        service = self._definitions
        service.update(
            name,
            label=event.label,
            description=event.description,
            tracking_method=event.tracking_method,
        )
        if service.get(name).archived != event.archived:
            service.archive(name, archived=event.archived)

    def delete(self, name: str) -> None:
        self._definitions.delete(name)

    def add_property(self, name: str, draft: PropertyDraft) -> None:
        self._definitions.add_property(name, draft)

    def update_property(self, name: str, prop: PlanProperty) -> None:
        self._definitions.update_property(
            name,
            prop.name,
            {
                "label": prop.label,
                "description": prop.description,
                "options": [o.model_dump() for o in prop.options],
            },
        )

    def delete_property(self, name: str, prop: str) -> None:
        self._definitions.delete_property(name, prop)


@dataclass(frozen=True)
class Step:
    """One write of an apply: what it does, and the changes done once it (and the steps before
    it) succeeded. A type change takes two steps: the property deleted, then created again."""

    does: str
    completes: tuple[Change, ...]
    run: Callable[[], None]


class PartlyApplied(CbeError):
    """An apply stopped at a step: what was applied, what failed, and what was not applied.
    Applying the same plan again finishes the job (the diff starts from what is there)."""

    def __init__(
        self, done: Sequence[Step], failed: Step, rest: Sequence[Step], cause: Exception
    ) -> None:
        self.applied = [c for s in done for c in s.completes]
        self.failed = failed
        self.not_applied = [c for s in (failed, *rest) for c in s.completes]
        self.cause = cause
        super().__init__(
            f"Stopped at step {len(done) + 1} of {len(done) + 1 + len(rest)} ({failed.does}): "
            f"{cause}. {len(self.applied)} change(s) applied, {len(self.not_applied)} not "
            "applied; apply the same plan again to finish."
        )

    def to_json(self) -> dict[str, Any]:
        """What was applied, the step that failed and why, and what was not applied."""
        return {
            "applied": [c.to_json() for c in self.applied],
            "failed": {"step": self.failed.does, "error": str(self.cause)},
            "notApplied": [c.to_json() for c in self.not_applied],
        }

    def report(self) -> list[str]:
        """The changes applied and not applied, one per line."""
        return [
            *(f"applied: {c.describe()}" for c in self.applied),
            f"failed: {self.failed.does}: {self.cause}",
            *(f"not applied: {c.describe()}" for c in self.not_applied),
        ]


class PlanOutdated(CbeError):
    """The portal changed between the diff a person approved and the apply: nothing was
    written, so that only approved changes are ever made."""


Progress = Callable[[int, int, str], None]
"""Told before each step of an apply: the step's number (from 1), how many, what it does."""


def diff_plan(raw: object, target: PlanTarget) -> list[Change]:
    """The changes applying ``raw`` to ``target`` would make; :class:`ValidationFailed` if it
    breaks a rule."""
    plan, violations = read_plan(raw)
    if violations or plan is None:
        raise ValidationFailed(violations)
    return _Differ(target).diff(plan)


def apply_plan(
    raw: object,
    target: PlanTarget,
    allow_breaking: bool = False,
    progress: Progress | None = None,
    approved: Sequence[Change] | None = None,
) -> list[Change]:
    """Make ``target``'s definitions what ``raw`` says; returns the changes made.

    With breaking changes and not ``allow_breaking``, nothing is changed and
    :class:`ValidationFailed` lists them. A step that fails raises :class:`PartlyApplied`;
    applying again finishes the job, and applying a plan already applied changes nothing.
    ``approved``: the changes a person saw and accepted; if the diff is no longer exactly
    those, nothing is changed and :class:`PlanOutdated` says so.
    """
    changes = diff_plan(raw, target)
    if approved is not None and changes != list(approved):
        raise PlanOutdated(
            f"The portal changed since the diff ({len(approved)} change(s) approved, "
            f"{len(changes)} now); nothing was written. Diff again."
        )
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
    steps = _steps(plan, changes, target)
    for i, step in enumerate(steps):
        if progress is not None:
            progress(i + 1, len(steps), step.does)
        try:
            step.run()
        except CbeError as failure:
            raise PartlyApplied(steps[:i], step, steps[i + 1 :], failure) from failure
    return changes


class PlanService:
    """Diff and apply plans against the portal's definitions (or, given a target, against a
    remote portal's)."""

    def __init__(self, definitions: DefinitionService, occurrences: OccurrenceService) -> None:
        self._definitions = definitions
        self.local = LocalTarget(definitions, occurrences)

    def export(self) -> str:
        return export_plan(self._definitions.search(include_archived=True))

    def diff(self, raw: object, target: PlanTarget | None = None) -> list[Change]:
        """The changes applying ``raw`` would make; :class:`ValidationFailed` if it breaks a
        rule."""
        return diff_plan(raw, target or self.local)

    def apply(
        self,
        raw: object,
        allow_breaking: bool = False,
        target: PlanTarget | None = None,
        progress: Progress | None = None,
        approved: Sequence[Change] | None = None,
    ) -> list[Change]:
        """See :func:`apply_plan`; the target is this database unless given."""
        return apply_plan(raw, target or self.local, allow_breaking, progress, approved)


class _Differ:
    def __init__(self, target: PlanTarget) -> None:
        self._target = target

    def diff(self, plan: Plan) -> list[Change]:
        current = {d.name: d for d in self._target.definitions()}
        wanted = {e.name: e for e in plan.events}
        deleted = self._target.deleted_names()
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
                        affected=self._target.count(definition, lambda _: True),
                    )
                )
        return changes

    def _event_changes(self, definition: EventDefinition, event: PlanEvent) -> list[Change]:
        name = definition.name
        changes: list[Change] = []
        fields: list[tuple[str, object, object]] = [
            ("label", definition.label, event.label),
            ("description", definition.description, event.description),
        ]
        if self._target.sets_tracking:
            fields += [
                ("trackingMethod", definition.tracking_method.value, event.tracking_method.value),
                ("archived", definition.archived, event.archived),
            ]
        for field, old, new in fields:
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
        if definition.custom_matching_id != event.custom_matching_id:
            raise ValidationFailed(
                [
                    Violation(
                        field=f"events.{name}.customMatchingId",
                        rule=Rule.IMMUTABLE,
                        message=f"{name}'s customMatchingId is set when the event is created "
                        "(HubSpot's PATCH of a definition cannot change it).",
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
                        affected=self._target.count(definition, _unparsable(prop_name, new_prop)),
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
                        affected=self._target.count(definition, _has_property(prop_name)),
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
                        affected=self._target.count(definition, _has_option(prop, value)),
                    )
                )
        if not changes and [o.value for o in old.options] != [o.value for o in new.options]:
            changes.append(Change(ChangeKind.CHANGE_PROPERTY, name, "options reordered", prop))
        return changes


def _steps(plan: Plan, changes: list[Change], target: PlanTarget) -> list[Step]:
    """The writes that make ``changes``, in an order that always works: whole events first,
    then each event's own fields, its removed properties, its added ones, its changed ones."""
    wanted = {e.name: e for e in plan.events}
    steps: list[Step] = []
    for change in changes:
        name = change.event
        if change.kind is ChangeKind.REMOVE_EVENT:
            steps.append(Step(f"delete event {name}", (change,), partial(target.delete, name)))
        elif change.kind is ChangeKind.ADD_EVENT:
            event = wanted[name]
            draft = DefinitionDraft(
                label=event.label,
                name=event.name,
                description=event.description,
                primary_object=event.primary_object,
                include_default_properties=event.include_default_properties,
                tracking_method=event.tracking_method,
                custom_matching_id=event.custom_matching_id,
                property_definitions=[_draft(p) for p in event.properties],
            )
            run = partial(target.create, draft, event.archived)
            steps.append(Step(f"create event {name}", (change,), run))
    for name, event in wanted.items():
        mine = [c for c in changes if c.event == name and c.kind is not ChangeKind.ADD_EVENT]
        if mine:
            steps += _event_steps(event, mine, target)
    return steps


def _event_steps(event: PlanEvent, mine: list[Change], target: PlanTarget) -> list[Step]:
    name = event.name
    want = {p.name: p for p in event.properties}
    steps: list[Step] = []
    own = tuple(c for c in mine if c.kind is ChangeKind.CHANGE_EVENT)
    if own:
        steps.append(Step(f"update event {name}", own, partial(target.update, name, event)))
    for change in mine:
        prop = change.prop or ""
        if change.kind is ChangeKind.REMOVE_PROPERTY:
            run = partial(target.delete_property, name, prop)
            steps.append(Step(f"delete property {name}.{prop}", (change,), run))
        elif change.kind is ChangeKind.CHANGE_TYPE:
            run = partial(target.delete_property, name, prop)
            steps.append(Step(f"delete property {name}.{prop} (to change its type)", (), run))
    for change in mine:
        prop = change.prop or ""
        if change.kind in (ChangeKind.ADD_PROPERTY, ChangeKind.CHANGE_TYPE):
            run = partial(target.add_property, name, _draft(want[prop]))
            steps.append(Step(f"create property {name}.{prop}", (change,), run))
    touched = (ChangeKind.CHANGE_PROPERTY, ChangeKind.ADD_OPTION, ChangeKind.REMOVE_OPTION)
    for prop in sorted({c.prop for c in mine if c.kind in touched and c.prop is not None}):
        done = tuple(c for c in mine if c.kind in touched and c.prop == prop)
        run = partial(target.update_property, name, want[prop])
        steps.append(Step(f"update property {name}.{prop}", done, run))
    return steps


def _draft(prop: PlanProperty) -> PropertyDraft:
    return PropertyDraft.model_validate(prop.model_dump())


def _unparsable(name: str, prop: PropertyDefinition) -> Any:
    """Whether a completion's value of ``name`` would be refused or unusable as ``prop``."""

    def test(properties: Mapping[str, Any]) -> bool:
        if name not in properties:
            return False
        outcome = parse_value(prop, properties[name], name)
        return isinstance(outcome, Violation) or bool(outcome.unusable)

    return test


def _has_property(name: str) -> CompletionTest:
    return lambda properties: name in properties


def _has_option(name: str, value: str) -> Any:
    def test(properties: Mapping[str, Any]) -> bool:
        raw = properties.get(name)
        return raw is not None and value in str(raw).split(";")

    return test
