"""Write the README's screenshots: the app on the seeded demo database at a fixed time.

uv run python screenshots/export.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.clock import FixedClock  # noqa: E402
from core.demo import DEMO_PORTAL_ID, DemoSpec, build_demo  # noqa: E402
from storage.bootstrap import open_services  # noqa: E402
from tui.app import CbeApp  # noqa: E402

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SIZE = (120, 32)
OUT = ROOT / "screenshots"


async def export(folder: Path) -> list[Path]:
    services = open_services(folder, clock=FixedClock(NOW))
    written = []
    try:
        app = CbeApp(services)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            written.append(Path(app.save_screenshot("events.svg", path=str(OUT))))
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
