"""Workflows stored by earlier versions read back as the same workflows."""

from __future__ import annotations

from pathlib import Path

from cli.bootstrap import open_services
from core.filters import Operator, PropertyFilter
from core.workflow_models import (
    CreateTaskAction,
    DelayAction,
    DelayUntilEventAction,
    SetPropertyAction,
)
from storage.atomic import AtomicJSONStorage
from tests.storage.helpers import PORTAL_ID, setup_database

_NONE: dict[str, object] = {
    "eventName": None,
    "filters": [],
    "maxWaitMinutes": None,
    "delayMinutes": None,
    "property": None,
    "value": None,
    "title": None,
    "body": None,
}
"""Every kind's fields, as each action carried them before actions were a union."""


def _old_workflow(event: str) -> dict[str, object]:
    """A workflow document as cbe wrote it before actions were a union of kinds."""
    return {
        "id": "1",
        "name": "Trial nurture",
        "objectType": "CONTACT",
        "enabled": False,
        "trigger": "MANUAL",
        "triggerEvent": None,
        "recordIds": [],
        "actions": [
            {
                **_NONE,
                "id": "a1",
                "kind": "DELAY_UNTIL_EVENT",
                "eventName": event,
                "filters": [{"property": "make", "operator": "IS_ANY_OF", "values": ["BMW"]}],
                "maxWaitMinutes": 60,
            },
            {**_NONE, "id": "a2", "kind": "DELAY", "delayMinutes": 30},
            {**_NONE, "id": "a3", "kind": "SET_PROPERTY", "property": "stage", "value": "hot"},
            {**_NONE, "id": "a4", "kind": "CREATE_TASK", "title": "Call", "body": "Soon"},
        ],
        "createdAt": "2026-11-01T00:00:00.000Z",
        "updatedAt": "2026-11-01T00:00:00.000Z",
    }


def test_a_workflow_stored_with_every_kinds_fields_reads_back_as_its_kinds(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "db"
    event = setup_database(folder)
    main = AtomicJSONStorage(folder / "cbe.json")
    data = main.read()
    assert data is not None
    data["workflows"] = {"1": _old_workflow(event)}
    main.write(data)
    main.close()

    services = open_services(folder, portal_id=PORTAL_ID)
    try:
        workflow = services.workflows.get("1")
        assert workflow.actions == [
            DelayUntilEventAction(
                id="a1",
                event_name=event,
                filters=[
                    PropertyFilter(property="make", operator=Operator.IS_ANY_OF, values=["BMW"])
                ],
                max_wait_minutes=60,
            ),
            DelayAction(id="a2", delay_minutes=30),
            SetPropertyAction(id="a3", property="stage", value="hot"),
            CreateTaskAction(id="a4", title="Call", body="Soon"),
        ]
        # saved again, each action keeps the fields of its kind, and reads back the same
        services.workflows.move_action("1", "a4", -1)
        assert [a.id for a in services.workflows.get("1").actions] == ["a1", "a2", "a4", "a3"]
    finally:
        services.close()
    main = AtomicJSONStorage(folder / "cbe.json")
    data = main.read()
    main.close()
    assert data is not None
    stored = data["workflows"]["1"]["actions"]
    assert stored[2] == {"id": "a4", "kind": "CREATE_TASK", "title": "Call", "body": "Soon"}
