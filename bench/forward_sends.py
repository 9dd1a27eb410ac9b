"""What ``cbe serve --forward`` costs each send: single sends per second with STORED completions
in the database, all still owed (the remote is down) and all already forwarded (it is up).

    uv run python bench/forward_sends.py [STORED ...] [--sends N]

Each STORED (default 10,000 and 100,000) gets a fresh database: the completions are sent in
batches of 500 to the forwarding server, then N single sends (default 300) are timed one after
another from one client; then the remote starts, the relay drains, and N more are timed.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from tests.api.conftest import Server, free_port, start_server, stop_server
from tests.api.test_forwarding import LOCAL_ID, REMOTE_ID, _define, _portal


def _drain(server: Server) -> None:
    """Read the server's log as it comes (a full pipe would stop it)."""
    stream = server.process.stdout
    assert stream is not None
    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()


def _stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def _body(n: int) -> dict[str, object]:
    return {
        "eventName": f"pe{LOCAL_ID}_viewed",
        "email": "ann@example.com",
        "uuid": f"u-{n}",
        "properties": {"n": str(n)},
    }


def _load(local: Server, count: int) -> float:
    began = time.perf_counter()
    with local.client() as client:
        for first in range(0, count, 500):
            inputs = [_body(n) for n in range(first, min(first + 500, count))]
            answer = client.post("/events/v3/send/batch", json={"inputs": inputs})
            assert answer.status_code == 204, answer.text
    return time.perf_counter() - began


def _singles(local: Server, start: int, sends: int) -> float:
    with local.client() as client:
        began = time.perf_counter()
        for n in range(start, start + sends):
            assert client.post("/events/v3/send", json=_body(n)).status_code == 204
        return sends / (time.perf_counter() - began)


def _status(local: Server) -> dict[str, int]:
    with local.client() as client:
        status: dict[str, int] = client.get("/cbe/v1/forwarding").json()
        return status


def measure(stored: int, sends: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port = free_port()
        remote_db = folder / "remote"
        first = start_server(remote_db, port=port)
        _define(first)
        stop_server(first)
        token = _portal(remote_db, REMOTE_ID)
        local_db = folder / "local"
        plain = start_server(local_db)
        _define(plain)
        stop_server(plain)
        _portal(local_db, LOCAL_ID)
        local = start_server(
            local_db, "--forward", f"http://127.0.0.1:{port}", "--forward-token", token
        )
        _drain(local)
        remote: Server | None = None
        try:
            loaded = _load(local, stored)
            down = _singles(local, stored, sends)
            owed = _status(local)["owed"]
            remote = start_server(remote_db, port=port)
            _drain(remote)
            while _status(local)["owed"]:
                time.sleep(0.1)
            up = _singles(local, stored + sends, sends)
            print(
                f"{stored:>7,} stored (loaded in {loaded:.1f} s): remote down, {owed:,} owed: "
                f"{down:,.1f} sends/s; remote up, all sent: {up:,.1f} sends/s",
                flush=True,
            )
        finally:
            _stop(local)
            if remote is not None:
                _stop(remote)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stored", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--sends", type=int, default=300)
    args = parser.parse_args()
    for stored in args.stored:
        measure(stored, args.sends)


if __name__ == "__main__":
    main()
