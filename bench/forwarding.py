"""The relay's throughput: completions per second ``cbe serve --forward`` moves to a local remote
(a second ``cbe serve``), and what an outage of the remote costs once it is back.

    uv run python bench/forwarding.py [COUNT] [OUTAGE_SECONDS]
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.api.conftest import free_port, start_server, stop_server
from tests.api.test_forwarding import LOCAL_ID, REMOTE_ID, _define, _portal


def _status(server: object) -> dict[str, object]:
    with server.client() as client:  # type: ignore[attr-defined]
        status: dict[str, object] = client.get("/cbe/v1/forwarding").json()
        return status


def _send(local: object, start: int, count: int) -> None:
    with local.client() as client:  # type: ignore[attr-defined]
        for first in range(start, start + count, 500):
            inputs = [
                {
                    "eventName": f"pe{LOCAL_ID}_viewed",
                    "email": "ann@example.com",
                    "uuid": f"u-{n}",
                    "properties": {"n": str(n)},
                }
                for n in range(first, min(first + 500, start + count))
            ]
            assert client.post("/events/v3/send/batch", json={"inputs": inputs}).status_code == 204


def _drained(local: object, sent: int) -> float:
    began = time.perf_counter()
    while _status(local)["sent"] != sent:
        time.sleep(0.02)
    return time.perf_counter() - began


def main(count: int, outage: float) -> None:
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
        remote = start_server(remote_db, port=port)
        local = start_server(
            local_db, "--forward", f"http://127.0.0.1:{port}", "--forward-token", token
        )
        try:
            # The remote holds the sends back: all are owed, then the relay is timed alone.
            stop_server(remote)
            _send(local, 0, count)
            remote = start_server(remote_db, port=port)
            began = time.perf_counter()
            _drained(local, count)
            took = time.perf_counter() - began
            print(f"{count} completions forwarded in {took:.2f} s: {count / took:,.0f}/s")
            stop_server(remote)
            _send(local, count, 100)
            time.sleep(outage)  # the outage itself (a benchmark, not a test)
            remote = start_server(remote_db, port=port)
            back = time.perf_counter()
            _drained(local, count + 100)
            lag = time.perf_counter() - back
            print(f"after a {outage:.0f} s outage, the 100 owed arrived {lag:.2f} s after")
        finally:
            stop_server(local)
            stop_server(remote)


if __name__ == "__main__":
    main(
        int(sys.argv[1]) if len(sys.argv) > 1 else 5000,
        float(sys.argv[2]) if len(sys.argv) > 2 else 60,
    )
