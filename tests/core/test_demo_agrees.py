"""The demo reads as one world: industries match company names, a deal's contact works at the
deal's company, and stages and amounts read as HubSpot's record pages show them."""

from __future__ import annotations

from pathlib import Path

from cli.bootstrap import open_services
from core.clock import FixedClock
from core.crm_display import property_display
from core.demo import DemoSpec, build_demo
from core.models import ObjectType
from tests.conftest import NOW


def test_the_demos_companies_deals_and_contacts_agree(tmp_path: Path) -> None:
    services = open_services(tmp_path / "demo", clock=FixedClock(NOW))
    try:
        build_demo(services.db, DemoSpec(seed=7, contacts=60, completions=100), NOW)
        companies = {c.properties["name"]: c for c in services.records.search(ObjectType.COMPANY)}
        assert companies["Cobalt Health"].properties["industry"] == "Healthcare"
        assert companies["Acme Logistics"].properties["industry"] == "Logistics"
        for deal in services.records.search(ObjectType.DEAL):
            linked = services.records.associated(ObjectType.DEAL, deal.id)
            (company,) = linked[ObjectType.COMPANY]
            assert deal.properties["dealname"].startswith(company.properties["name"])
            for contact in linked[ObjectType.CONTACT]:
                assert contact.properties["email"].endswith("@" + company.properties["domain"])
    finally:
        services.close()


def test_stages_priorities_and_amounts_read_as_hubspot_shows_them() -> None:
    assert property_display(ObjectType.DEAL, "dealstage", "closedwon") == "Closed won"
    assert property_display(ObjectType.TICKET, "hs_pipeline_stage", "2") == "Waiting on contact"
    assert property_display(ObjectType.TICKET, "hs_ticket_priority", "HIGH") == "High"
    assert property_display(ObjectType.DEAL, "amount", "26000") == "26,000"
    assert property_display(ObjectType.DEAL, "amount", "1234.5") == "1,234.50"
    assert property_display(ObjectType.DEAL, "amount", "lots") == "lots"
    assert property_display(ObjectType.DEAL, "dealstage", "custom_stage") == "custom_stage"
