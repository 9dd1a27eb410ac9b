"""The layers stay apart, and the code stays linted and typed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE_MODULES = sorted(
    f"core.{p.stem}" for p in (ROOT / "core").glob("*.py") if p.stem != "__init__"
)
FORBIDDEN_IN_CORE = [
    "textual",
    "rich",
    "tinydb",
    "fastapi",
    "uvicorn",
    "orjson",
    "click",
    "filelock",
    "tui",
    "storage",
    "api",
]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=False)


LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
PACKAGES = ("core", "storage", "tui", "api", "cli")


def _lint_imports_with(
    tmp_path: Path, offenders: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """lint-imports over a copy of the tree with ``offenders`` (path: source) added: never in
    the tree itself, which other tests lint and type-check at the same time."""
    tree = tmp_path / "tree"
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tree)
    for path, source in offenders.items():
        (tree / path).write_text(source)
    env = {**os.environ, "PYTHONPATH": str(tree)}  # the copy, ahead of the installed tree
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, check=False
    )


def test_import_contracts_are_kept() -> None:
    result = _run(LINT_IMPORTS, "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_importing_core_loads_no_interface_or_storage_engine() -> None:
    code = (
        "import sys\n"
        f"for name in {CORE_MODULES!r}: __import__(name)\n"
        f"print(sorted(m for m in {FORBIDDEN_IN_CORE!r} if m in sys.modules))\n"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_importing_storage_loads_no_interface() -> None:
    code = (
        "import sys, storage.database, storage.doctor\n"
        "print(sorted(m for m in ['textual', 'fastapi', 'click', 'tui'] if m in sys.modules))\n"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_composition_root_loads_no_interface() -> None:
    """cli.bootstrap builds services for the app, the server and the tests: it loads neither."""
    code = (
        "import sys, cli.bootstrap\n"
        "interfaces = ['textual', 'fastapi', 'click', 'tui', 'api']\n"
        "print(sorted(m for m in interfaces if m in sys.modules))\n"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


NOT_FOR_THE_FIRST_SCREEN = [
    "psycopg",  # the PostgreSQL adapter, for a database folder
    "psycopg_pool",
    "storage.postgres.database",
    "fastapi",  # the server and its client
    "uvicorn",
    "httpx",
    "api",
    "storage.hubspot_remote",  # the remote portal's client (urllib, ssl)
    "urllib.request",
    "cli.serve",  # the other commands
    "cli.admin",
    "cli.data",
    "cli.plans",
    "cli.reports",
    "cli.definitions",
    "cli.copy",
    "core.demo",
    "tui.screens.records",  # the other sections and the wizard
    "tui.screens.workflows",
    "tui.screens.analyze",
    "tui.screens.wizard",
]


def test_the_app_starts_with_only_what_its_first_screen_needs(tmp_path: Path) -> None:
    """`cbe` on a folder (cli.main, then the app until the events home is drawn) loads neither
    the PostgreSQL driver, the server, the other commands nor the other sections' screens:
    each costs the app's start time and is imported when it is used."""
    code = (
        "import asyncio, sys\n"
        "import cli.main\n"
        "from cli.bootstrap import open_services\n"
        "from core.ports import MemoryPreferences\n"
        "from tui.app import CbeApp\n"
        "services = open_services(sys.argv[1], preferences=MemoryPreferences())\n"
        "async def start():\n"
        "    app = CbeApp(services, refresh_seconds=0)\n"
        "    async with app.run_test(size=(80, 24)) as pilot:\n"
        "        await app.workers.wait_for_complete()\n"
        "        await pilot.pause()\n"
        "        assert app.screen.query_one('#events')\n"
        "asyncio.run(start())\n"
        "services.close()\n"
        f"print(sorted(m for m in {NOT_FOR_THE_FIRST_SCREEN!r} if m in sys.modules))\n"
    )
    result = _run(sys.executable, "-c", code, str(tmp_path / "db"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_contract_catches_a_forbidden_import(tmp_path: Path) -> None:
    """A module in core that imports textual must break the contract (the check is real)."""
    offender = {"core/_contract_probe.py": "import textual  # deliberately forbidden\n"}
    result = _lint_imports_with(tmp_path, offender)
    assert result.returncode != 0
    assert "core._contract_probe -> textual" in result.stdout


@pytest.mark.parametrize(
    ("package", "imported"),
    [
        ("storage", "cli.bootstrap"),  # upward: an adapter reaching for the entry layer
        ("core", "storage.database"),  # upward: the domain reaching for an adapter
        ("tui", "api.app"),  # sideways: the two interfaces stay apart
        ("api", "tui.app"),
    ],
)
def test_the_layers_contract_catches_an_import_against_the_layers(
    package: str, imported: str, tmp_path: Path
) -> None:
    """cli > tui | api > storage > core: an import up, or across the interfaces, breaks it."""
    offender = {f"{package}/_layers_probe.py": f"import {imported}  # against the layers\n"}
    result = _lint_imports_with(tmp_path, offender)
    assert result.returncode != 0
    assert "the house: cli (the entry) > tui | api (apart) > storage > core BROKEN" in result.stdout
    assert f"{package}._layers_probe -> {imported}" in result.stdout


def test_screens_reach_the_app_only_through_its_protocol(tmp_path: Path) -> None:
    """A screen that imports tui.app (which imports the screens) breaks tui's layers."""
    offender = {"tui/screens/_layers_probe.py": "import tui.app  # deliberately upward\n"}
    result = _lint_imports_with(tmp_path, offender)
    assert result.returncode != 0
    assert "tui.screens._layers_probe -> tui.app" in result.stdout


def test_the_acyclic_contract_catches_a_circle_in_core(tmp_path: Path) -> None:
    """Two core modules that import each other break the contract (as ports and workflows did)."""
    circle = {
        "core/_circle_a.py": "import core._circle_b  # deliberately circular\n",
        "core/_circle_b.py": "import core._circle_a  # deliberately circular\n",
    }
    result = _lint_imports_with(tmp_path, circle)
    assert result.returncode != 0
    assert "core's modules import each other without a circle BROKEN" in result.stdout


@pytest.mark.slow
def test_ruff_finds_nothing() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_code_is_formatted() -> None:
    result = _run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def _readme_command(tool: str) -> list[str]:
    """The arguments of ``uv run TOOL`` in README's Development section."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for line in readme.split("## Development", 1)[1].splitlines():
        words = line.split("#", 1)[0].split()
        if words[:3] == ["uv", "run", tool]:
            return words[3:]
    raise AssertionError(f"README's Development section has no `uv run {tool}` line")


@pytest.mark.slow
def test_mypy_strict_on_every_file_as_readme_runs_it() -> None:
    args = _readme_command("mypy")
    # every file a root: a module mypy only follows into is not reported (the editable
    # install puts the project on the site path), which is how tui's errors went unseen
    assert args == ["."], f"README runs mypy on {args}, not on every file"
    result = _run(sys.executable, "-m", "mypy", *args)
    assert result.returncode == 0, result.stdout + result.stderr
