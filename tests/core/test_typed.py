"""Typed tracking code: golden files, compile checks (tsc, mypy) and the code run for real.

``tsc`` comes from ``$CBE_TSC`` or the PATH; without it the TypeScript checks are skipped,
unless ``CBE_REQUIRE_TSC=1`` (set by CI, which installs npm's ``typescript``) makes that an error.
Golden files are rewritten with ``CBE_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cli.bootstrap import open_services
from core.clock import FixedClock
from core.demo import DEMO_DEFINITIONS, DEMO_PORTAL_ID
from core.models import EventDefinition, ObjectType
from core.services import Services
from core.typed import event_line, python_module, typescript_module
from tests.api.conftest import start_server, stop_server
from tests.conftest import NOW
from tests.core.test_codegen import HOSTILE, NODE, hostile_event

GOLDEN = Path(__file__).parent / "golden"
TSC = os.environ.get("CBE_TSC") or shutil.which("tsc")
if TSC is None and os.environ.get("CBE_REQUIRE_TSC"):
    raise RuntimeError("CBE_REQUIRE_TSC is set but tsc is not installed (npm install typescript)")
needs_tsc = pytest.mark.skipif(TSC is None, reason="tsc is not installed (npm i -g typescript)")


@pytest.fixture(scope="module")
def demo_definitions(tmp_path_factory: pytest.TempPathFactory) -> list[EventDefinition]:
    folder = tmp_path_factory.mktemp("typed") / "db"
    services = open_services(folder, clock=FixedClock(NOW), portal_id=DEMO_PORTAL_ID)
    try:
        return [services.definitions.create(d) for d in DEMO_DEFINITIONS]
    finally:
        services.close()


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CBE_UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert path.read_text(encoding="utf-8") == text, f"{name} changed: CBE_UPDATE_GOLDEN=1"


def test_typescript_golden(demo_definitions: list[EventDefinition]) -> None:
    _golden("events.ts", typescript_module(demo_definitions))


def test_python_golden(demo_definitions: list[EventDefinition]) -> None:
    _golden("events.py", python_module(demo_definitions))


def _tsc(folder: Path, *files: Path, emit: bool = False) -> subprocess.CompletedProcess[str]:
    assert TSC is not None
    options = ["--strict", "--target", "es2020", "--lib", "es2020,dom", "--module", "commonjs"]
    options += ["--outDir", str(folder / "out")] if emit else ["--noEmit"]
    return subprocess.run(
        [TSC, *options, *map(str, files)], capture_output=True, text=True, timeout=120
    )


def _mypy(*files: Path) -> subprocess.CompletedProcess[str]:
    # run where the files are, so that the project's own mypy settings do not apply
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", *map(str, files)],
        cwd=files[0].parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_event_line_is_where_an_events_own_code_begins(
    demo_definitions: list[EventDefinition],
) -> None:
    for definition in demo_definitions:
        for module, starts in (
            (typescript_module([definition]), f"// {definition.label}"),
            (python_module([definition]), _pascal(definition.name)),
        ):
            lines = module.splitlines()
            line = event_line(module, definition)
            assert lines[line].startswith(starts)
            assert definition.name not in "\n".join(lines[:line])  # nothing of it above
    other = demo_definitions[1]
    assert event_line(typescript_module([demo_definitions[0]]), other) == 0


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


@needs_tsc
def test_the_typescript_compiles_and_its_types_refuse_a_wrong_value(
    tmp_path: Path, demo_definitions: list[EventDefinition]
) -> None:
    (tmp_path / "events.ts").write_text(typescript_module(demo_definitions))
    good = tmp_path / "good.ts"
    good.write_text(
        'import { identify, trackClickedBuyButton } from "./events";\n'
        'identify({ email: "ann@example.com" });\n'
        'trackClickedBuyButton({ button_location: "header", price: 29, hs_language: "nl" });\n'
    )
    bad = tmp_path / "bad.ts"
    bad.write_text(
        'import { trackClickedBuyButton } from "./events";\n'
        'trackClickedBuyButton({ button_location: "sidebar", price: "cheap" });\n'
    )
    compiled = _tsc(tmp_path, tmp_path / "events.ts", good)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    refused = _tsc(tmp_path, tmp_path / "events.ts", bad)
    assert refused.returncode != 0
    assert '"sidebar"' in refused.stdout and "'string' is not assignable" in refused.stdout


@needs_tsc
@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_typescript_pushes_what_hubspots_script_expects(
    tmp_path: Path, demo_definitions: list[EventDefinition]
) -> None:
    (tmp_path / "events.ts").write_text(typescript_module(demo_definitions))
    emitted = _tsc(tmp_path, tmp_path / "events.ts", emit=True)
    assert emitted.returncode == 0, emitted.stdout
    script = (
        "global.window = {};"
        f"const m = require({json.dumps(str(tmp_path / 'out' / 'events.js'))});"
        'm.identify({email: "ann@example.com"});'
        'm.trackViewedPricingPage({plan_viewed: "starter", time_on_page: 12});'
        "console.log(JSON.stringify(window._hsq));"
    )
    assert NODE is not None
    out = subprocess.run([NODE, "-e", script], capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout) == [
        ["identify", {"email": "ann@example.com"}],
        [
            "trackCustomBehavioralEvent",
            {
                "name": f"pe{DEMO_PORTAL_ID}_viewed_pricing_page",
                "properties": {"plan_viewed": "starter", "time_on_page": 12},
            },
        ],
    ]


def test_the_python_passes_mypy_strict_and_refuses_a_wrong_value(
    tmp_path: Path, demo_definitions: list[EventDefinition]
) -> None:
    (tmp_path / "events.py").write_text(python_module(demo_definitions))
    good = tmp_path / "good.py"
    good.write_text(
        "from events import CbeServe, track_clicked_buy_button\n"
        'sender = CbeServe("token")\n'
        "track_clicked_buy_button(\n"
        '    sender, {"button_location": "header", "price": 29}, email="ann@example.com"\n'
        ")\n"
    )
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from events import CbeServe, track_clicked_buy_button\n"
        'track_clicked_buy_button(CbeServe("token"), {"button_location": "sidebar"})\n'
    )
    checked = _mypy(tmp_path / "events.py", good)
    assert checked.returncode == 0, checked.stdout
    refused = _mypy(tmp_path / "events.py", bad)
    assert refused.returncode == 1
    assert 'expected "ClickedBuyButtonProperties | None"' in refused.stdout  # "sidebar"


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_stays_in_strings_and_comments(tmp_path: Path, text: str) -> None:
    definition = hostile_event(text)
    module = python_module([definition])
    tree = ast.parse(module)  # it parses: nothing broke out of a literal or a comment
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions == ["_body", f"track_{definition.name}"]
    typescript = typescript_module([definition])
    assert "alert(1)" not in "".join(
        line.split("//", 1)[0] for line in typescript.splitlines() if '"' not in line
    )


def test_every_hostile_text_at_once_compiles(tmp_path: Path) -> None:
    """All hostile events in one module (their names clash, so the names made unique are
    checked too): tsc and mypy accept it."""
    definitions = [hostile_event(str(p.values[0])) for p in HOSTILE]
    (tmp_path / "hostile.py").write_text(python_module(definitions))
    checked = _mypy(tmp_path / "hostile.py")
    assert checked.returncode == 0, checked.stdout
    if TSC is not None:
        (tmp_path / "hostile.ts").write_text(typescript_module(definitions))
        compiled = _tsc(tmp_path, tmp_path / "hostile.ts")
        assert compiled.returncode == 0, compiled.stdout


@pytest.mark.slow
def test_the_python_sends_to_cbe_serve_and_through_hubspots_sdk(tmp_path: Path) -> None:
    db = tmp_path / "db"
    services = open_services(db, portal_id=DEMO_PORTAL_ID)
    definition = services.definitions.create(DEMO_DEFINITIONS[2])  # clicked buy button
    services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
    services.close()
    (tmp_path / "events.py").write_text(python_module([definition]))
    server = start_server(db)
    try:
        script = (
            "import sys; sys.path.insert(0, sys.argv[1])\n"
            "from hubspot import HubSpot\n"
            "from events import CbeServe, HubSpotSdk, track_clicked_buy_button\n"
            "url, token = sys.argv[2], sys.argv[3]\n"
            'props = {"button_location": "footer", "plan": "starter", "price": 29}\n'
            'track_clicked_buy_button(CbeServe(token, url), props, email="ann@example.com")\n'
            "sdk = HubSpotSdk(HubSpot(access_token=token, host=url, base_url=url))\n"
            'track_clicked_buy_button(sdk, props, email="ann@example.com", uuid="u-1")\n'
        )
        ran = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path), server.url, server.token],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert ran.returncode == 0, ran.stderr
    finally:
        stop_server(server)
    services = open_services(db, create=False)
    try:
        _assert_two_stored(services)
    finally:
        services.close()


def _assert_two_stored(services: Services) -> None:
    from core.occurrences import CompletionQuery

    stored = list(services.occurrences.iterate(CompletionQuery(newest_first=False)))
    assert [c.properties for c in stored] == [
        {"button_location": "footer", "plan": "starter", "price": 29}
    ] * 2
    assert stored[1].uuid == "u-1"
