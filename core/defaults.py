"""HubSpot's 32 default event properties (``hs_*``), added to every event unless turned off."""

from __future__ import annotations

from core.models import EnumerationOption, PropertyDefinition, PropertyType

_S, _N, _E = PropertyType.STRING, PropertyType.NUMBER, PropertyType.ENUMERATION


def _options(*pairs: tuple[str, str]) -> list[EnumerationOption]:
    return [
        EnumerationOption(value=value, label=label, display_order=i)
        for i, (value, label) in enumerate(pairs)
    ]


DEVICE_TYPES = _options(
    *[
        (v, v)
        for v in (
            "Game Console",
            "PDA",
            "Personal Computer",
            "Desktop",
            "Smartphone",
            "Smart TV",
            "Tablet",
            "Wearable Computer",
            "Unknown",
        )
    ]
)

PAGE_CONTENT_TYPES = _options(
    ("BLOG_POST", "Blog Post"),
    ("KNOWLEDGE_ARTICLE", "Knowledge Article"),
    ("LANDING_PAGE", "Landing Page"),
    ("LISTING_PAGE", "Listing Page"),
    ("STANDARD_PAGE", "Standard Page"),
    ("WEB_INTERACTIVE", "Web Interactive"),
)

# HubSpot does not publish hs_language's options. cbe offers the language tags browsers
# report most (navigator.language, lowercased), so that real tracking data is usable.
LANGUAGES = _options(
    ("ar", "Arabic"),
    ("cs", "Czech"),
    ("da", "Danish"),
    ("de", "German"),
    ("el", "Greek"),
    ("en", "English"),
    ("en-au", "English - Australia"),
    ("en-ca", "English - Canada"),
    ("en-gb", "English - United Kingdom"),
    ("en-us", "English - United States"),
    ("es", "Spanish"),
    ("es-mx", "Spanish - Mexico"),
    ("fi", "Finnish"),
    ("fr", "French"),
    ("fr-ca", "French - Canada"),
    ("he", "Hebrew"),
    ("hi", "Hindi"),
    ("hu", "Hungarian"),
    ("id", "Indonesian"),
    ("it", "Italian"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("nl", "Dutch"),
    ("no", "Norwegian"),
    ("pl", "Polish"),
    ("pt", "Portuguese"),
    ("pt-br", "Portuguese - Brazil"),
    ("ro", "Romanian"),
    ("ru", "Russian"),
    ("sv", "Swedish"),
    ("th", "Thai"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("vi", "Vietnamese"),
    ("zh-cn", "Chinese - China"),
    ("zh-tw", "Chinese - Taiwan"),
)

TOUCHPOINT_SOURCES = (
    "CONVERSATION",
    "DIRECT_TRAFFIC",
    "EMAIL_MARKETING",
    "HUBSPOT_CRM",
    "INTEGRATION",
    "MARKETING_EVENT",
    "OFFLINE",
    "ORGANIC_SEARCH",
    "OTHER_CAMPAIGNS",
    "PAID_SEARCH",
    "PAID_SOCIAL",
    "REFERRALS",
    "SALES",
    "SOCIAL_MEDIA",
)
"""Documented values of ``hs_touchpoint_source`` (a string property, not an enumeration)."""

_TABLE: list[tuple[str, str, PropertyType, list[EnumerationOption]]] = [
    ("hs_asset_description", "Asset description", _S, []),
    ("hs_asset_type", "Asset type", _S, []),
    ("hs_browser", "Browser", _S, []),
    ("hs_campaign_id", "Campaign ID", _S, []),
    ("hs_city", "City", _S, []),
    ("hs_country", "Country", _S, []),
    ("hs_device_name", "Device name", _S, []),
    ("hs_device_type", "Device type", _E, DEVICE_TYPES),
    ("hs_element_class", "Element class", _S, []),
    ("hs_element_id", "Element ID", _S, []),
    ("hs_element_text", "Element text", _S, []),
    ("hs_language", "Language", _E, LANGUAGES),
    ("hs_link_href", "Link href", _S, []),
    ("hs_operating_system", "Operating system", _S, []),
    ("hs_operating_version", "Operating version", _S, []),
    ("hs_page_content_type", "Page content type", _E, PAGE_CONTENT_TYPES),
    ("hs_page_id", "Page ID", _S, []),
    ("hs_page_title", "Page title", _S, []),
    ("hs_page_url", "Page URL", _S, []),
    ("hs_parent_module_id", "Parent Module ID", _S, []),
    ("hs_referrer", "Referrer", _S, []),
    ("hs_region", "Region", _S, []),
    ("hs_screen_height", "Screen height", _N, []),
    ("hs_screen_width", "Screen width", _N, []),
    ("hs_touchpoint_source", "Touchpoint source", _S, []),
    ("hs_tracking_name", "Tracking name", _S, []),
    ("hs_user_agent", "User agent", _S, []),
    ("hs_utm_campaign", "UTM Campaign", _S, []),
    ("hs_utm_content", "UTM Content", _S, []),
    ("hs_utm_medium", "UTM Medium", _S, []),
    ("hs_utm_source", "UTM Source", _S, []),
    ("hs_utm_term", "UTM Term", _S, []),
]

DEFAULT_PROPERTIES: tuple[PropertyDefinition, ...] = tuple(
    PropertyDefinition(name=name, label=label, type=type_, options=options, hubspot_defined=True)
    for name, label, type_, options in _TABLE
)
"""The default properties, in HubSpot's (alphabetical) order."""

DEFAULT_PROPERTY_NAMES: frozenset[str] = frozenset(p.name for p in DEFAULT_PROPERTIES)
