"""The portal's id, and changing it (``cbe portal set-id``) so that hard-coded fully qualified
names of a real HubSpot portal (``pe{portalId}_{name}``) work against cbe unchanged."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import Rule, Violation, fail_if
from core.ports import Database
from core.rules import fully_qualified_name
from core.workflow_models import DelayUntilEventAction

MAX_PORTAL_ID = 10**12 - 1
"""HubSpot's portal (Hub) ids are positive whole numbers; cbe allows up to 12 digits."""

_QUALIFIED = re.compile(r"pe(\d+)_(.+)", re.S)


def check_portal_id(portal_id: int) -> list[Violation]:
    """A portal id is a whole number from 1 to 999,999,999,999."""
    if 1 <= portal_id <= MAX_PORTAL_ID:
        return []
    return [
        Violation(
            field="portalId",
            rule=Rule.INVALID_VALUE,
            message=f"A portal id is a whole number from 1 to {MAX_PORTAL_ID}, not {portal_id}.",
            limit=f"1 to {MAX_PORTAL_ID}",
            actual=portal_id,
        )
    ]


@dataclass(frozen=True)
class PortalIdChange:
    """What :meth:`PortalService.set_id` changed."""

    old: int
    new: int
    definitions: int
    completions: int
    workflows: int


class PortalService:
    """The portal's own settings."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def set_id(self, portal_id: int) -> PortalIdChange:
        """Give the portal a new id; everything that holds a fully qualified name follows.

        Under the database's lock: the stored completions' event names (rewritten by the store),
        the definitions' fully qualified names, the workflows' events, and last the portal file.
        An interrupted change is finished by running it again: each step renames every
        ``pe{any id}_{name}`` of a defined event to the new id's, so what is done is kept.
        Requests the quarantine kept stay as they were sent.
        """
        fail_if(check_portal_id(portal_id))
        with self._db.transaction() as unit:
            old = self._db.portal.portal_id
            definitions = self._db.definitions.list_all()
            names = {d.name for d in definitions}

            def renamed(event_name: str) -> str:
                match = _QUALIFIED.fullmatch(event_name)
                if match is None or match.group(2) not in names:
                    return event_name
                return fully_qualified_name(portal_id, match.group(2))

            stored = self._db.completions.summaries()
            completions = self._db.completions.rename_events(
                {name: renamed(name) for name in stored if renamed(name) != name}
            )
            changed_definitions = 0
            for definition in definitions:
                fqn = fully_qualified_name(portal_id, definition.name)
                if definition.fully_qualified_name != fqn:
                    self._db.definitions.replace(
                        definition.model_copy(update={"fully_qualified_name": fqn})
                    )
                    changed_definitions += 1
            workflows = 0
            for workflow in self._db.workflows.list_workflows():
                trigger = renamed(workflow.trigger_event) if workflow.trigger_event else None
                actions = [
                    a.model_copy(update={"event_name": renamed(a.event_name)})
                    if isinstance(a, DelayUntilEventAction) and a.event_name
                    else a
                    for a in workflow.actions
                ]
                if trigger != workflow.trigger_event or actions != workflow.actions:
                    self._db.workflows.save_workflow(
                        workflow.model_copy(update={"trigger_event": trigger, "actions": actions})
                    )
                    workflows += 1
            if old != portal_id:
                self._db.replace_portal(self._db.portal.model_copy(update={"portal_id": portal_id}))
            unit.commit()
        return PortalIdChange(old, portal_id, changed_definitions, completions, workflows)
