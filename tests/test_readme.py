"""The README's examples work as shown: its curl and Python blocks run against a real server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.api.conftest import start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _block(language: str, containing: str) -> str:
    for match in re.finditer(rf"```{language}\n(.*?)```", README, re.S):
        if containing in match.group(1):
            return match.group(1)
    raise AssertionError(f"README has no {language} block with {containing!r}")


def test_quick_start_is_two_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    commands = [line.split("#")[0].strip() for line in _block_in(quick, "sh").splitlines()]
    assert [c for c in commands if c] == ["uv run cbe --demo", "uv run pytest"]


def _block_in(text: str, language: str) -> str:
    match = re.search(rf"```{language}\n(.*?)```", text, re.S)
    assert match, text
    return match.group(1)


def _require_uv() -> None:
    """README's examples call ``uv run cbe``, as a reader would: without uv they cannot run."""
    if shutil.which("uv") is None:
        pytest.fail(
            "uv is not on PATH, and README's examples run `uv run cbe ...` as a reader does: "
            "install it (python3 -m pip install uv, as README's quick start assumes) and put it on "
            "PATH; .ci/run does so on a fresh machine."
        )


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_serve_examples_work_as_shown(tmp_path: Path) -> None:
    _require_uv()
    # The examples use --demo: the demo database here is under a data directory of the test's.
    db = tmp_path / "data" / "cbe" / "demo"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("CBE_DB", None)
    env.pop("CBE_ACCESS_TOKEN", None)
    running = start_server(db)
    try:
        here = running.url.rsplit(":", 1)[1]

        def local(text: str) -> str:
            return text.replace("8765", here)

        curl = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", local(_block("sh", "curl -s -X POST"))],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert curl.returncode == 0, curl.stderr
        assert curl.stdout.strip().endswith("204")

        python = subprocess.run(
            [sys.executable, "-c", local(_block("python", "from hubspot import HubSpot"))],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert python.returncode == 0, python.stderr
        assert python.stdout.strip() == "['Volvo', 'Ford']"

        event = f"pe{running.portal_id}_viewed_car"
        verdict = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", local(_block("sh", "/cbe/v1/validate"))],
            cwd=ROOT,
            env={**env, "TOKEN": running.token, "EVENT": event},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert verdict.returncode == 0, verdict.stderr
        answer = json.loads(verdict.stdout)
        assert answer["valid"] is False
        assert answer["message"] == "Invalid: 1 broken rule; nothing would be stored."
        assert [e["code"] for e in answer["results"][0]["errors"]] == ["VALUE_TOO_LONG"]

        isolated = local(_block("python", "X-Cbe-Tag"))
        prelude = f"token = {running.token!r}\nevent = {event!r}\n"
        ran = subprocess.run(
            [sys.executable, "-c", prelude + isolated],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ran.returncode == 0, ran.stderr
    finally:
        stop_server(running)
