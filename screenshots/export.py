"""Write the README's screenshots: the app on the seeded demo database at a fixed time.

uv run python screenshots/export.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from textual.pilot import Pilot  # noqa: E402

from cli.bootstrap import open_services  # noqa: E402
from core.clock import FixedClock  # noqa: E402
from core.demo import DEMO_PORTAL_ID, DemoSpec, build_demo  # noqa: E402
from core.ports import MemoryPreferences  # noqa: E402
from tui.app import CbeApp  # noqa: E402

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SIZE = (120, 32)
OUT = ROOT / "screenshots"


async def _type(pilot: Pilot[None], text: str) -> None:
    await pilot.press(*("space" if c == " " else c for c in text))


async def _settle(pilot: Pilot[None]) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def _wizard_properties(pilot: Pilot[None]) -> None:
    await pilot.press("n")
    await _type(pilot, "Viewed car")
    await pilot.press("ctrl+n", "p", "down", "down", "down", "enter")
    await _type(pilot, "Condition")
    await pilot.press("ctrl+n")
    for option in ("New", "Used", "Certified"):
        await _type(pilot, option)
        await pilot.press("enter")
    await pilot.press("ctrl+s", "p", "down", "enter")
    await _type(pilot, "Year")
    await pilot.press("enter")
    await _settle(pilot)


async def _wizard_api(pilot: Pilot[None]) -> None:
    await _wizard_properties(pilot)
    await pilot.press("ctrl+n", "right", "enter")
    await _settle(pilot)


async def _details(pilot: Pilot[None]) -> None:
    await pilot.press("enter")
    await _settle(pilot)


async def _timeline(pilot: Pilot[None]) -> None:
    await pilot.press("2")
    await _settle(pilot)
    await pilot.press("down", "enter")
    await _settle(pilot)
    await pilot.press("down", "enter")
    await _settle(pilot)


async def _delay_editor(pilot: Pilot[None]) -> None:
    await pilot.press("3")
    await _settle(pilot)
    await pilot.press("enter")
    await _settle(pilot)
    await pilot.press("enter")
    await _settle(pilot)


async def _analyze(pilot: Pilot[None]) -> None:
    await pilot.press("4")
    await _settle(pilot)


SHOTS: dict[str, Callable[[Pilot[None]], Awaitable[None]]] = {
    "events.svg": _settle,
    "wizard-properties.svg": _wizard_properties,
    "wizard-api.svg": _wizard_api,
    "event-details.svg": _details,
    "timeline.svg": _timeline,
    "delay-until-event.svg": _delay_editor,
    "analyze.svg": _analyze,
}


async def export(folder: Path) -> list[Path]:
    written = []
    for filename, steps in SHOTS.items():
        services = open_services(folder, clock=FixedClock(NOW), preferences=MemoryPreferences())
        try:
            app = CbeApp(services, refresh_seconds=0)
            async with app.run_test(size=SIZE) as pilot:
                await _settle(pilot)
                await steps(pilot)
                written.append(Path(app.save_screenshot(filename, path=str(OUT))))
        finally:
            services.close()
    return written


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "demo"
        services = open_services(folder, clock=FixedClock(NOW), portal_id=DEMO_PORTAL_ID)
        try:
            build_demo(services.db, DemoSpec(), NOW)
        finally:
            services.close()
        for path in asyncio.run(export(folder)):
            print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
