"""Snapshot tests of every screen, on the seeded demo database and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.clock import FixedClock
from core.demo import DEMO_PORTAL_ID, DemoSpec, build_demo
from core.services import Services
from storage.bootstrap import open_services
from tui.app import CbeApp

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
SIZE = (120, 32)


@pytest.fixture(scope="session")
def demo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("snapshots") / "demo"
    services = open_services(folder, clock=FixedClock(NOW), portal_id=DEMO_PORTAL_ID)
    try:
        build_demo(services.db, DemoSpec(seed=7, contacts=60, completions=1500), NOW)
    finally:
        services.close()
    return folder


@pytest.fixture
def demo(demo_folder: Path) -> Iterator[Services]:
    services = open_services(demo_folder, clock=FixedClock(NOW))
    yield services
    services.close()


@pytest.fixture
def empty(tmp_path: Path) -> Iterator[Services]:
    services = open_services(tmp_path / "empty", clock=FixedClock(NOW), portal_id=1234567)
    yield services
    services.close()


class TestEvents:
    def test_home_lists_the_events(self, snap_compare, demo: Services) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(CbeApp(demo), terminal_size=SIZE)

    def test_home_of_an_empty_portal(self, snap_compare, empty: Services) -> None:  # type: ignore[no-untyped-def]
        assert snap_compare(CbeApp(empty), terminal_size=SIZE)
