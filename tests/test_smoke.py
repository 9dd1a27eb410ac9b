from core.models import CrmRecord, EventDefinition
from core.services import Services
from tests.sending import send_one


def test_a_sent_completion_is_listed_on_the_contact(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    send_one(
        services.ingestion,
        {
            "eventName": viewed_car.fully_qualified_name,
            "email": contact.email,
            "properties": {"make": "Ford", "year": 2020},
        },
    )
    page = services.timeline.page(contact)
    assert [e.event_label for e in page.entries] == ["Viewed Car"]
    assert page.entries[0].summary() == "Year: 2020, Make: Ford"
