"""CRM property values as HubSpot's record pages show them: pipeline stages by label, amounts
with separators. The stored values stay HubSpot's internal ones (what the API returns)."""

from __future__ import annotations

from core.models import ObjectType

DEAL_STAGES = {
    "appointmentscheduled": "Appointment scheduled",
    "qualifiedtobuy": "Qualified to buy",
    "presentationscheduled": "Presentation scheduled",
    "decisionmakerboughtin": "Decision maker bought-in",
    "contractsent": "Contract sent",
    "closedwon": "Closed won",
    "closedlost": "Closed lost",
}
"""The stages of HubSpot's default sales pipeline, by internal value."""

TICKET_STAGES = {"1": "New", "2": "Waiting on contact", "3": "Waiting on us", "4": "Closed"}
"""The stages of HubSpot's default support pipeline, by internal value."""

PRIORITIES = {"LOW": "Low", "MEDIUM": "Medium", "HIGH": "High", "URGENT": "Urgent"}


def property_display(object_type: ObjectType, name: str, value: str) -> str:
    """``value`` of the CRM property ``name`` as people read it; unknown values as they are."""
    if object_type is ObjectType.DEAL and name == "dealstage":
        return DEAL_STAGES.get(value, value)
    if object_type is ObjectType.TICKET and name == "hs_pipeline_stage":
        return TICKET_STAGES.get(value, value)
    if object_type is ObjectType.TICKET and name == "hs_ticket_priority":
        return PRIORITIES.get(value, value)
    if name == "amount":
        try:
            amount = float(value)
        except ValueError:
            return value
        return f"{amount:,.0f}" if amount.is_integer() else f"{amount:,.2f}"
    return value
