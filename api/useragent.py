"""A small, dependency-free reading of a browser's User-Agent into HubSpot's device properties."""

from __future__ import annotations

import re

_BROWSERS = (
    ("Edge", r"Edg(e|A|iOS)?/"),
    ("Opera", r"OPR/|Opera"),
    ("Samsung Internet", r"SamsungBrowser/"),
    ("Firefox", r"Firefox/|FxiOS/"),
    ("Chrome", r"Chrome/|CriOS/|HeadlessChrome/"),
    ("Safari", r"Safari/"),
)
_SYSTEMS = (
    ("iOS", r"iPhone|iPod"),
    ("iPadOS", r"iPad"),
    ("Android", r"Android"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X|Macintosh"),
    ("ChromeOS", r"CrOS"),
    ("Linux", r"Linux|X11"),
)


def describe(user_agent: str) -> dict[str, str]:
    """``hs_browser``, ``hs_operating_system`` and ``hs_device_type`` (an option value)."""
    found: dict[str, str] = {}
    for name, pattern in _BROWSERS:
        if re.search(pattern, user_agent):
            found["hs_browser"] = name
            break
    for name, pattern in _SYSTEMS:
        if re.search(pattern, user_agent):
            found["hs_operating_system"] = name
            break
    if re.search(r"iPad|Tablet", user_agent):
        found["hs_device_type"] = "Tablet"
    elif re.search(r"Mobi|iPhone|Android", user_agent):
        found["hs_device_type"] = "Smartphone"
    elif found.get("hs_operating_system") in {"Windows", "macOS", "Linux", "ChromeOS"}:
        found["hs_device_type"] = "Personal Computer"
    return found
