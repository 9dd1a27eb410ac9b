"""The prefixes each HubSpot API is served under: ``v3`` and the date-versioned paths.

HubSpot's spec collection (HubSpot/HubSpot-public-api-spec-collection, ``PublicApiSpecs/Events``)
has each events API in ``v3`` and in dated versions whose bodies and answers are the same; only
the paths differ. The app registers one router under every prefix of its API, so a version is a
line here, never a copy of a route.
"""

from __future__ import annotations

SEND = (
    "/events/v3/send",
    "/events/2026-03/send",
    "/events/custom/2025-09/send",
    "/events/custom/2026-09/send",
)
"""``Send Event Completions``: ``POST {prefix}`` and ``{prefix}/batch``."""

DEFINITIONS = (
    "/events/v3/event-definitions",
    "/events/2026-03/event-definitions",
    "/events/custom/2025-09/event-definitions",
    "/events/custom/2026-09/event-definitions",
)
"""``Manage Event Definitions``."""

EVENTS = (
    "/events/v3/events",
    "/events/event-occurrences/2026-03",
    "/events/event-occurrences/2025-09",
    "/events/event-occurrences/2026-09",
)
"""``Events`` (reading completions): ``GET {prefix}`` and ``{prefix}/event-types``."""
