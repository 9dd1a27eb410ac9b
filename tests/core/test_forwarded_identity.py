"""What a forwarded completion says about whose it is: what a real portal can match (the
contact's email, the visitor's utk, the event's customMatchingId property), never this
database's record id; a completion with nothing else is refused at once, saying why."""

from __future__ import annotations

from typing import Any

import pytest

from core.ingestion import Mode
from core.models import ObjectType
from core.outbox import OutboxEntry
from core.services import Services
from core.trace import trace
from tests.sending import send_one


@pytest.fixture
def forwarding(services: Services) -> Services:
    services.ingestion.forwarding = True
    for name, kind, rule in (
        ("viewed", "CONTACT", None),
        ("renewed", "COMPANY", None),
        ("paid", "COMPANY", {"eventPropertyName": "domain", "targetObjectPropertyName": "domain"}),
    ):
        body: dict[str, Any] = {
            "label": name.title(),
            "name": name,
            "primaryObject": kind,
            "includeDefaultProperties": False,
            "propertyDefinitions": [{"name": "domain", "label": "Domain", "type": "string"}],
        }
        if rule:
            body["customMatchingId"] = {"primaryObjectRule": rule}
        services.definitions.create(body, hubspot_body=True)
    return services


def _owed(services: Services, body: dict[str, Any]) -> OutboxEntry:
    portal = services.db.portal.portal_id
    stored = send_one(
        services.ingestion,
        {"properties": {}} | body | {"eventName": f"pe{portal}_{body['eventName']}"},
        mode=Mode.HUBSPOT,
        hubspot_body=True,
    )
    assert stored is not None
    (entry,) = [
        e for e in services.db.outbox.owed(100) + services.db.outbox.refused() if e.id == stored.id
    ]
    return entry


def test_a_contact_sent_by_object_id_is_forwarded_by_its_email(forwarding: Services) -> None:
    ann = forwarding.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
    entry = _owed(forwarding, {"eventName": "viewed", "objectId": ann.id})
    assert entry.refused is None
    assert entry.body["email"] == "ann@example.com"
    assert "objectId" not in entry.body


def test_an_anonymous_visitor_is_forwarded_by_utk(forwarding: Services) -> None:
    entry = _owed(forwarding, {"eventName": "viewed", "utk": "visitor-1"})
    assert entry.refused is None
    assert entry.body["utk"] == "visitor-1"
    assert "email" not in entry.body
    assert "objectId" not in entry.body


def test_a_contact_known_by_email_and_utk_is_forwarded_with_both(forwarding: Services) -> None:
    forwarding.records.create(
        ObjectType.CONTACT, {"email": "bo@example.com", "hubspotutk": "visitor-2"}
    )
    entry = _owed(forwarding, {"eventName": "viewed", "utk": "visitor-2"})
    assert (entry.body["email"], entry.body["utk"]) == ("bo@example.com", "visitor-2")


def test_a_company_matched_by_custom_matching_id_is_forwarded_by_that_property(
    forwarding: Services,
) -> None:
    acme = forwarding.records.create(ObjectType.COMPANY, {"name": "Acme", "domain": "acme.test"})
    entry = _owed(
        forwarding,
        {"eventName": "paid", "objectId": acme.id, "properties": {"domain": "acme.test"}},
    )
    assert entry.refused is None
    assert entry.body["properties"] == {"domain": "acme.test"}
    assert "objectId" not in entry.body


def test_a_company_known_only_by_its_local_id_is_refused_saying_how_to_match_it(
    forwarding: Services,
) -> None:
    acme = forwarding.records.create(ObjectType.COMPANY, {"name": "Acme"})
    entry = _owed(forwarding, {"eventName": "renewed", "objectId": acme.id})
    assert entry.refused is not None
    assert f"company {acme.id} is this database's id" in entry.refused.lower()
    assert "customMatchingId" in entry.refused
    assert forwarding.db.outbox.counts().refused == 1
    assert forwarding.db.outbox.counts().owed == 0
    said = trace(forwarding.db, entry.id).lines()
    assert f"  Forwarding: {entry.refused}" in said  # not "the remote refused it": never sent


def test_a_matched_event_sent_without_its_property_is_refused_naming_it(
    forwarding: Services,
) -> None:
    acme = forwarding.records.create(ObjectType.COMPANY, {"name": "Acme", "domain": "acme.test"})
    entry = _owed(forwarding, {"eventName": "paid", "objectId": acme.id})
    assert entry.refused is not None
    assert "send domain with each completion" in entry.refused
