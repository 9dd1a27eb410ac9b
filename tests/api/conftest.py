"""A real ``cbe serve`` on loopback, started as its own process, for the API tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from api.app import create_app
from cli.main import main
from core.services import Services

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    url: str
    token: str
    portal_id: int
    db: Path
    """The database folder (unused for a server on a PostgreSQL URL: see ``database_url``)."""
    process: subprocess.Popen[str]
    database_url: str | None = None

    def client(self, token: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {token or self.token}"},
            timeout=60,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(db: Path | str, *extra: str, port: int | None = None) -> Server:
    """``cbe serve`` on ``db`` (a folder or a PostgreSQL URL; on ``port``, else a free one),
    once it answers."""
    port = port or free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CBE_ACCESS_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--db", str(db), "--port", str(port), *extra],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    # Generous: on a machine whose cores are busy elsewhere a start can take many seconds.
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{url}/tracking.js", timeout=5)
            break
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()  # before reading: a live server's output never ends
                output, _ = process.communicate()
                raise RuntimeError(f"cbe serve did not start:\n{output}") from None
            time.sleep(0.05)
    # `cbe portal --json` as a user would ask it, in this process: a second interpreter per
    # server (its imports) cost each API test about a CPU second.
    shown = CliRunner().invoke(main, ["portal", "--db", str(db), "--json"], catch_exceptions=False)
    assert shown.exit_code == 0, shown.output
    portal = json.loads(shown.output)
    if isinstance(db, Path):
        return Server(url, portal["accessToken"], portal["portalId"], db, process)
    return Server(url, portal["accessToken"], portal["portalId"], Path(), process, db)


def stop_server(server: Server) -> str:
    server.process.terminate()
    try:
        output, _ = server.process.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        output, _ = server.process.communicate()
    return output


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(tmp_path / "db")
    yield running
    # Shown by pytest when the test failed: the server's log (a 500's traceback).
    print(stop_server(running))


TOKEN = "test-token"
TEST_HOSTS = ("testserver",)
"""The host name TestClient sends; production serves only its own names."""


@pytest.fixture
def http(services: Services) -> Iterator[TestClient]:
    """The API in process (no server), authorised with ``TOKEN``."""
    with TestClient(create_app(services, TOKEN, allowed_hosts=TEST_HOSTS)) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


@pytest.fixture
def strict_http(services: Services) -> Iterator[TestClient]:
    """The API in process as ``cbe serve --strict`` answers, authorised with ``TOKEN``."""
    app = create_app(services, TOKEN, allowed_hosts=TEST_HOSTS, strict=True)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client
