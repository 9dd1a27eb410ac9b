"""Use cases for event definitions: create, update, archive, delete; edit their properties."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pydantic import ValidationError, field_validator

from core.clock import Clock
from core.defaults import DEFAULT_PROPERTY_NAMES
from core.errors import (
    NotFound,
    Rule,
    ValidationFailed,
    Violation,
    fail_if,
    violations_from_pydantic,
)
from core.models import (
    CbeModel,
    CustomMatchingId,
    EnumerationOption,
    EventDefinition,
    ObjectType,
    PropertyDefinition,
    PropertyType,
    TrackingMethod,
)
from core.ports import Database
from core.rules import (
    MAX_EVENT_LABEL_LENGTH,
    MAX_PROPERTY_LABEL_LENGTH,
    check_custom_property_count,
    check_definition_count,
    check_internal_name,
    check_label,
    check_name_available,
    check_options,
    check_property_names_unique,
    check_text_tree,
    fully_qualified_name,
    generate_name,
    internal_name_from,
)


class OptionDraft(CbeModel):
    """An enumeration option as a request gives it (HubSpot's examples send label and value)."""

    label: str
    value: str
    display_order: int | None = None
    hidden: bool = False
    description: str = ""


class PropertyDraft(CbeModel):
    """A property to create: HubSpot's property create body."""

    label: str
    name: str | None = None
    type: PropertyType
    description: str = ""
    options: list[OptionDraft] = []


class DefinitionDraft(CbeModel):
    """An event to create: HubSpot's definition create body, plus how it is tracked."""

    label: str
    name: str | None = None
    description: str = ""
    primary_object: ObjectType = ObjectType.CONTACT
    property_definitions: list[PropertyDraft] = []
    include_default_properties: bool = True
    tracking_method: TrackingMethod = TrackingMethod.API
    snippet: str | None = None
    custom_matching_id: CustomMatchingId | None = None

    @field_validator("primary_object", mode="before")
    @classmethod
    def _object_type(cls, value: object) -> object:
        return ObjectType.parse(value) if isinstance(value, str) else value

    @field_validator("description", mode="before")
    @classmethod
    def _no_description(cls, value: object) -> object:
        return "" if value is None else value


class PropertyUpdate(CbeModel):
    """What can change on a property: label, description and (enumerations) options."""

    label: str | None = None
    description: str | None = None
    options: list[OptionDraft] | None = None
    name: str | None = None
    """Only to be refused when it differs: a property's name never changes."""
    type: str | None = None
    """Likewise: to change the type, delete the property and create it again."""


def build_options(drafts: Sequence[OptionDraft]) -> list[EnumerationOption]:
    """Options with display order defaulting to their position."""
    return [
        EnumerationOption(
            label=o.label,
            value=o.value,
            display_order=i if o.display_order is None else o.display_order,
            hidden=o.hidden,
            description=o.description,
        )
        for i, o in enumerate(drafts)
    ]


def build_property(
    draft: PropertyDraft, taken: Collection[str], field: str = ""
) -> tuple[PropertyDefinition | None, list[Violation]]:
    """A property definition from a draft, its name generated from the label when not given."""
    at = f"{field}." if field else ""
    violations = check_label(draft.label, MAX_PROPERTY_LABEL_LENGTH, f"{at}label")
    if draft.name is not None:
        name = draft.name
    else:  # a generated name must not be one of the reserved hs_* default names either
        name = generate_name(draft.label, {*taken, *DEFAULT_PROPERTY_NAMES}, "property")
    violations += check_internal_name(name, f"{at}name")
    options = build_options(draft.options)
    violations += check_options(draft.type, options, f"{at}options")
    if violations:
        return None, violations
    prop = PropertyDefinition(
        name=name,
        label=draft.label,
        type=draft.type,
        description=draft.description,
        options=options,
    )
    return prop, []


def check_event_name(
    label: str, name: str | None, existing: Collection[str], deleted: Collection[str]
) -> tuple[str, list[Violation]]:
    """The wizard's first step: the label, and the internal name it gives (or was given).

    Returns the internal name that would be used and everything wrong with label and name.
    """
    violations = check_label(label, MAX_EVENT_LABEL_LENGTH, "label")
    taken = set(existing) | set(deleted)
    chosen = name if name else generate_name(label, taken, "event")
    if not name and not label.strip():
        return "", violations
    violations += check_internal_name(chosen, "name")
    violations += check_name_available(chosen, existing, deleted, "name")
    return chosen, violations


def validate_properties(
    props: Sequence[PropertyDefinition], field: str = "propertyDefinitions"
) -> list[Violation]:
    """Rules over an event's custom properties together: count and unique names."""
    return check_custom_property_count(len(props), field) + check_property_names_unique(
        [p.name for p in props], field
    )


# What HubSpot's spec (Events/Manage Event Definitions, v3 and 2026-03) requires of each request
# body: ExternalBehavioralEventTypeDefinitionEgg, ExternalBehavioralEventPropertyCreate and
# OptionInput. cbe's own callers (the wizard, imports, plans) may leave out what has a default;
# the HTTP API asks for these (``hubspot_body=True``), so what passes on cbe passes on HubSpot.
DEFINITION_REQUIRED = ("label", "propertyDefinitions", "includeDefaultProperties")
PROPERTY_REQUIRED = ("label", "type")
OPTION_REQUIRED = ("label", "value", "displayOrder", "hidden")
SORT_ORDERS = ("ASC", "DESC")
"""``sortOrder`` of the definitions list; the spec types it a string and names no values."""


def missing_hubspot_fields(raw: object, kind: str, field: str = "") -> list[Violation]:
    """The fields HubSpot's spec requires that ``raw`` leaves out (a null counts as left out),
    nested properties and options included; ``kind`` is ``definition``, ``property`` or
    ``property update`` (a property PATCH, which requires nothing but complete options)."""
    if not isinstance(raw, Mapping):
        return []
    at = f"{field}." if field else ""
    required = {"definition": DEFINITION_REQUIRED, "property": PROPERTY_REQUIRED}.get(kind, ())
    found = _missing(raw, required, at)
    props = raw.get("propertyDefinitions") if kind == "definition" else None
    for i, prop in enumerate(props if isinstance(props, list) else []):
        found += missing_hubspot_fields(prop, "property", f"{at}propertyDefinitions[{i}]")
    options = raw.get("options") if kind != "definition" else None
    for i, option in enumerate(options if isinstance(options, list) else []):
        if isinstance(option, Mapping):
            found += _missing(option, OPTION_REQUIRED, f"{at}options[{i}].")
    return found


def _missing(raw: Mapping[str, Any], names: Sequence[str], at: str) -> list[Violation]:
    """A REQUIRED violation for each of ``names`` that ``raw`` leaves out or sends as null."""
    return [
        Violation(
            field=f"{at}{name}",
            rule=Rule.REQUIRED,
            message=f"{at}{name} is required (HubSpot's spec requires it).",
        )
        for name in names
        if raw.get(name) is None
    ]


def _with(required: Sequence[Violation], error: ValidationFailed) -> ValidationFailed:
    """``error`` with the missing fields first, each named once (pydantic names
    ``propertyDefinitions.0.label`` what the rules name ``propertyDefinitions[0].label``)."""
    missing = {v.field for v in required}
    rest = [
        v
        for v in error.violations
        if not (v.rule is Rule.REQUIRED and re.sub(r"\.(\d+)", r"[\1]", v.field) in missing)
    ]
    return ValidationFailed([*required, *rest])


def check_custom_matching_id(
    matching: CustomMatchingId | None, props: Sequence[PropertyDefinition], with_defaults: bool
) -> list[Violation]:
    """A ``customMatchingId`` names one of the event's own properties (a default one too, when
    the event has them) and a record property to compare it with."""
    if matching is None:
        return []
    rule = matching.primary_object_rule
    at = "customMatchingId.primaryObjectRule"
    found: list[Violation] = []
    names = {p.name for p in props} | (set(DEFAULT_PROPERTY_NAMES) if with_defaults else set())
    if rule.event_property_name not in names:
        found.append(
            Violation(
                field=f"{at}.eventPropertyName",
                rule=Rule.UNKNOWN_PROPERTY,
                message=f"customMatchingId matches by event property "
                f"{rule.event_property_name!r}, which this event does not have.",
                actual=rule.event_property_name,
            )
        )
    if not rule.target_object_property_name.strip():
        found.append(
            Violation(
                field=f"{at}.targetObjectPropertyName",
                rule=Rule.REQUIRED,
                message="customMatchingId needs the record property to compare with.",
            )
        )
    return found


def _parse(model: type[CbeModel], raw: object) -> Any:
    if isinstance(raw, model):
        return raw
    if not isinstance(raw, Mapping):
        raise ValidationFailed(
            [Violation(field="", rule=Rule.INVALID_TYPE, message="The body is a JSON object.")]
        )
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ValidationFailed(violations_from_pydantic(error)) from error


class DefinitionService:
    """Create and change event definitions; the wizard, the API and the CLI call these."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    @property
    def portal_id(self) -> int:
        return self._db.portal.portal_id

    def search(
        self, text: str | None = None, include_archived: bool = True
    ) -> list[EventDefinition]:
        """Definitions, oldest first; ``text`` matches label or name, ignoring case."""
        found = self._db.definitions.list_all()
        if not include_archived:
            found = [d for d in found if not d.archived]
        if text:
            needle = text.lower()
            found = [d for d in found if needle in d.name or needle in d.label.lower()]
        return found

    def search_as_hubspot(
        self, search_string: str | None = None, sort_order: str | None = None
    ) -> list[EventDefinition]:
        """``GET /events/v3/event-definitions``: ``searchString`` is a naive "contains" search
        in the event's (internal) name, ignoring case; ``sortOrder`` is ``ASC`` (oldest first,
        the default) or ``DESC`` (newest first), in any case; anything else is refused."""
        order = (sort_order or "ASC").upper()
        if order not in SORT_ORDERS:
            raise ValidationFailed(
                [
                    Violation(
                        field="sortOrder",
                        rule=Rule.INVALID_VALUE,
                        message=f"sortOrder is ASC or DESC, not {sort_order!r}.",
                        limit="ASC, DESC",
                        actual=sort_order,
                    )
                ]
            )
        found = self._db.definitions.list_all()
        if search_string:
            needle = search_string.lower()
            found = [d for d in found if needle in d.name]
        found.sort(key=lambda d: d.created_at)  # stable: created together, stored order
        return found[::-1] if order == "DESC" else found

    def get(self, event_name: str) -> EventDefinition:
        """A definition by internal or fully qualified name; :class:`NotFound` otherwise."""
        name = internal_name_from(self.portal_id, event_name)
        definition = self._db.definitions.get(name)
        if definition is None:
            raise NotFound(f"Event with fully qualified name {event_name} does not exist.")
        return definition

    def names_in_use(self) -> tuple[set[str], set[str]]:
        """Names of existing definitions, and of deleted ones."""
        repo = self._db.definitions
        return {d.name for d in repo.list_all()}, repo.deleted_names()

    def create(
        self, raw: DefinitionDraft | Mapping[str, Any], *, hubspot_body: bool = False
    ) -> EventDefinition:
        """Create a definition; every rule is checked and all violations reported at once.

        ``hubspot_body``: ``raw`` came to HubSpot's API, and must hold every field HubSpot's
        spec requires (:func:`missing_hubspot_fields`)."""
        required = missing_hubspot_fields(raw, "definition") if hubspot_body else []
        try:
            draft: DefinitionDraft = _parse(DefinitionDraft, raw)
        except ValidationFailed as error:
            raise _with(required, error) from error
        with self._db.transaction() as unit:
            existing, deleted = self.names_in_use()
            name, violations = check_event_name(draft.label, draft.name, existing, deleted)
            violations = [*required, *violations]
            violations += check_definition_count(len(existing) + 1)
            props: list[PropertyDefinition] = []
            names: list[str | None] = []  # by position in the request, None for "no name"
            taken: set[str] = set()
            for i, prop_draft in enumerate(draft.property_definitions):
                prop, problems = build_property(prop_draft, taken, f"propertyDefinitions[{i}]")
                violations += problems
                names.append(prop_draft.name or None if prop is None else prop.name)
                if prop is not None:
                    props.append(prop)
                    taken.add(prop.name)
            violations += check_custom_property_count(len(draft.property_definitions))
            violations += check_property_names_unique(names)
            violations += check_custom_matching_id(
                draft.custom_matching_id, props, draft.include_default_properties
            )
            violations += check_text_tree(draft.model_dump(by_alias=True, exclude_none=True), "")
            fail_if(violations)
            now = self._clock.now()
            definition = EventDefinition(
                id=self._db.definitions.next_id(),
                name=name,
                label=draft.label.strip(),
                fully_qualified_name=fully_qualified_name(self.portal_id, name),
                description=draft.description,
                primary_object=draft.primary_object,
                properties=props,
                include_default_properties=draft.include_default_properties,
                tracking_method=draft.tracking_method,
                snippet=draft.snippet,
                custom_matching_id=draft.custom_matching_id,
                created_at=now,
                updated_at=now,
            )
            self._db.definitions.insert(definition)
            unit.commit()
            return definition

    def update(
        self,
        event_name: str,
        *,
        label: str | None = None,
        description: str | None = None,
        tracking_method: TrackingMethod | None = None,
        snippet: str | None = None,
    ) -> EventDefinition:
        """Change label, description or tracking; the internal name never changes."""
        fail_if(
            check_text_tree({"label": label, "description": description, "snippet": snippet}, "")
        )
        with self._db.transaction() as unit:
            definition = self.get(event_name)
            changes: dict[str, Any] = {}
            if label is not None:
                fail_if(check_label(label, MAX_EVENT_LABEL_LENGTH, "label"))
                changes["label"] = label.strip()
            if description is not None:
                changes["description"] = description
            if tracking_method is not None:
                changes["tracking_method"] = tracking_method
            if snippet is not None:
                changes["snippet"] = snippet
            saved = self._save(definition, changes)
            unit.commit()
            return saved

    def archive(self, event_name: str, archived: bool = True) -> EventDefinition:
        """Archive (or restore) a definition: archived events receive no completions."""
        with self._db.transaction() as unit:
            saved = self._save(self.get(event_name), {"archived": archived})
            unit.commit()
            return saved

    def delete(self, event_name: str) -> int:
        """Delete a definition and all its completions; the name is never used again.

        Returns how many completions were removed.
        """
        with self._db.transaction() as unit:
            definition = self.get(event_name)
            removed = self._db.completions.delete_event(definition.fully_qualified_name)
            self._db.definitions.delete(definition.name)
            unit.commit()
            return removed

    def add_property(
        self,
        event_name: str,
        raw: PropertyDraft | Mapping[str, Any],
        *,
        hubspot_body: bool = False,
    ) -> PropertyDefinition:
        """Add a custom property (at most 50, names unique); ``hubspot_body`` as for
        :meth:`create`."""
        required = missing_hubspot_fields(raw, "property") if hubspot_body else []
        try:
            draft: PropertyDraft = _parse(PropertyDraft, raw)
        except ValidationFailed as error:
            raise _with(required, error) from error
        fail_if(check_text_tree(draft.model_dump(by_alias=True, exclude_none=True), ""))
        with self._db.transaction() as unit:
            definition = self.get(event_name)
            taken = {p.name for p in definition.properties}
            prop, violations = build_property(draft, taken)
            violations = [*required, *violations]
            if prop is not None:
                violations += self._check_new_property(definition, prop)
            fail_if(violations)
            assert prop is not None
            self._save(definition, {"properties": [*definition.properties, prop]})
            unit.commit()
            return prop

    @staticmethod
    def _check_new_property(
        definition: EventDefinition, prop: PropertyDefinition
    ) -> list[Violation]:
        found = check_custom_property_count(len(definition.properties) + 1, "")
        names = [*(p.name for p in definition.properties), prop.name]
        for violation in check_property_names_unique(names, "properties"):
            if violation.field == f"properties[{len(names) - 1}].name":
                found.append(violation.model_copy(update={"field": "name"}))
        return found

    def update_property(
        self,
        event_name: str,
        property_name: str,
        raw: PropertyUpdate | Mapping[str, Any],
        *,
        hubspot_body: bool = False,
    ) -> PropertyDefinition:
        """Change a property's label, description or options; its name and type stay.
        ``hubspot_body`` as for :meth:`create` (options then need all their fields)."""
        required = missing_hubspot_fields(raw, "property update") if hubspot_body else []
        try:
            update: PropertyUpdate = _parse(PropertyUpdate, raw)
        except ValidationFailed as error:
            raise _with(required, error) from error
        fail_if(check_text_tree(update.model_dump(by_alias=True, exclude_none=True), ""))
        with self._db.transaction() as unit:
            definition = self.get(event_name)
            prop = self._custom_property(definition, property_name)
            violations: list[Violation] = list(required)
            for part, current in (("name", prop.name), ("type", prop.type.value)):
                wanted = getattr(update, part)
                if wanted is not None and wanted != current:
                    violations.append(
                        Violation(
                            field=part,
                            rule=Rule.IMMUTABLE,
                            message=(
                                f"A property's {part} cannot change ({current!r} to {wanted!r}); "
                                "delete the property and create a new one instead."
                            ),
                            actual=wanted,
                        )
                    )
            changes: dict[str, Any] = {}
            if update.label is not None:
                violations += check_label(update.label, MAX_PROPERTY_LABEL_LENGTH, "label")
                changes["label"] = update.label.strip()
            if update.description is not None:
                changes["description"] = update.description
            if update.options is not None:
                options = build_options(update.options)
                violations += check_options(prop.type, options, "options")
                changes["options"] = options
            fail_if(violations)
            updated = prop.model_copy(update=changes)
            props = [updated if p.name == prop.name else p for p in definition.properties]
            self._save(definition, {"properties": props})
            unit.commit()
            return updated

    def delete_property(self, event_name: str, property_name: str) -> None:
        """Remove a custom property; completions already stored keep their values."""
        with self._db.transaction() as unit:
            definition = self.get(event_name)
            prop = self._custom_property(definition, property_name)
            matching = definition.custom_matching_id
            if (
                matching is not None
                and matching.primary_object_rule.event_property_name == prop.name
            ):
                fail_if(
                    [
                        Violation(
                            field="propertyName",
                            rule=Rule.IMMUTABLE,
                            message=f"{definition.fully_qualified_name} matches records by "
                            f"{prop.name!r} (its customMatchingId); it cannot be deleted.",
                            actual=prop.name,
                        )
                    ]
                )
            props = [p for p in definition.properties if p.name != prop.name]
            self._save(definition, {"properties": props})
            unit.commit()

    @staticmethod
    def _custom_property(definition: EventDefinition, property_name: str) -> PropertyDefinition:
        prop = definition.custom_property(property_name)
        if prop is None:
            raise NotFound(
                f"{definition.fully_qualified_name} has no custom property named {property_name!r}."
            )
        return prop

    def _save(self, definition: EventDefinition, changes: dict[str, Any]) -> EventDefinition:
        changes["updated_at"] = self._clock.now()
        updated = definition.model_copy(update=changes)
        self._db.definitions.replace(updated)
        return updated
