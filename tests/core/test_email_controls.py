"""An email holding control characters is refused on every path: it never names a contact."""

from __future__ import annotations

import pytest

from core.errors import Rule, ValidationFailed
from core.ingestion import Mode
from core.models import CrmRecord, EventDefinition, ObjectType, Source
from core.records import check_email
from core.services import Services
from tests.core.conftest import assert_nothing_stored, body, violations_of
from tests.sending import send_one

HOSTILE = [
    "bob\x1b]52;c;Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlL3ggfCBzaA==\x07@example.com",
    "bob\x1b[2J@example.com",
    "bob@exa\x9bmple.com",
    "bob\x7f@example.com",
    "moc.elpmaxe@\u202ebob",
    "bob\u2066@example.com",
]


@pytest.mark.parametrize("email", HOSTILE)
def test_the_rule_refuses_control_characters_and_says_which(email: str) -> None:
    (violation,) = check_email(email)
    assert violation.rule is Rule.INVALID_EMAIL
    assert violation.field == "properties.email"
    assert "holds control characters" in violation.message
    assert "printable text with one @" in violation.message
    assert "\x1b" not in violation.message and "\u202e" not in violation.message
    assert "\x9b" not in violation.message


def test_the_message_shows_the_value_neutralised() -> None:
    (violation,) = check_email("bob\x1b[2J@example.com")
    assert "'bob\\x1b[2J@example.com'" in violation.message
    assert "(\\x1b)" in violation.message


def test_ordinary_emails_still_pass() -> None:
    assert check_email("zoë.müller+cbe@example.com") == []


@pytest.mark.parametrize("email", HOSTILE)
def test_crm_create_and_update_refuse_it(
    services: Services, contact: CrmRecord, email: str
) -> None:
    with pytest.raises(ValidationFailed) as created:
        services.records.create(ObjectType.CONTACT, {"email": email})
    assert violations_of(created) == [("properties.email", "INVALID_EMAIL")]
    with pytest.raises(ValidationFailed):
        services.records.update(ObjectType.CONTACT, contact.id, {"email": email})
    assert [c.email for c in services.records.search(ObjectType.CONTACT)] == [contact.email]


def test_identify_refuses_it(services: Services) -> None:
    with pytest.raises(ValidationFailed) as refused:
        services.records.identify("utk-1", HOSTILE[0])
    assert violations_of(refused) == [("email", "INVALID_EMAIL")]
    assert services.records.search(ObjectType.CONTACT) == []


def test_a_strict_send_refuses_it(services: Services, viewed_car: EventDefinition) -> None:
    with pytest.raises(ValidationFailed) as refused:
        send_one(services.ingestion, body(viewed_car, email=HOSTILE[1]))
    assert violations_of(refused) == [("email", "INVALID_EMAIL")]
    assert_nothing_stored(services)


def test_the_lenient_path_stores_nothing_and_creates_no_contact(
    services: Services, viewed_car: EventDefinition
) -> None:
    result = services.ingestion.ingest(
        [body(viewed_car, email=HOSTILE[0], utk="utk-visitor")], Mode.LENIENT, Source.JS
    )
    assert result.stored == [] and result.created_contacts == []
    (rejection,) = result.rejected
    assert [(v.field, v.rule) for v in rejection.violations] == [("email", Rule.INVALID_EMAIL)]
    assert services.records.search(ObjectType.CONTACT) == []
    assert_nothing_stored(services)
