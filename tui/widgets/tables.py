"""Tables that more than one screen fills the same way (the wizard, an event's details)."""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from core.models import PropertyDefinition, PropertyType
from tui.formatting import plain


def property_details(prop: PropertyDefinition) -> str:
    """A short line about a property for tables: its options or its description."""
    if prop.type is PropertyType.ENUMERATION:
        values = ", ".join(o.value for o in prop.options[:4])
        more = f" +{len(prop.options) - 4}" if len(prop.options) > 4 else ""
        return f"{len(prop.options)} option(s): {values}{more}"
    return prop.description


def fill_property_table(table: DataTable[Any], props: list[PropertyDefinition]) -> None:
    """Rows of label, internal name, type and details, keyed by internal name."""
    table.clear()
    for prop in props:
        table.add_row(
            plain(prop.label),
            prop.name,
            prop.type.label,
            plain(property_details(prop)),
            key=prop.name,
        )
