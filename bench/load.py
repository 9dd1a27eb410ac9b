"""Load on a real ``cbe serve`` over loopback: single sends per second and batched completions
per second, each answered only once durable (204 after fsync).

    uv run python bench/load.py [--seconds 10] [--clients 8] [--preload 0]

Starts its own server on a fresh database in a temporary folder (``--preload N`` stores N
completions first, to see how the cost of a write follows the size of the store) and prints a
table, with the ratio to HubSpot's own limit of 1,250 requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from demodb import build_demo  # noqa: E402  (bench/demodb.py)

HUBSPOT_LIMIT = 1250  # requests per second per account


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(db: Path, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--db", str(db), "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/tracking.js", timeout=1)
            return process
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit("cbe serve did not start")


def token(db: Path) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "cli", "portal", "--db", str(db), "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return str(json.loads(out)["accessToken"])


def setup(client: httpx.Client) -> tuple[str, str]:
    created = client.post(
        "/events/v3/event-definitions",
        json={
            "label": "Bench event",
            "includeDefaultProperties": True,  # HubSpot's spec requires it
            "propertyDefinitions": [
                {
                    "label": "Plan",
                    "type": "enumeration",
                    "options": [
                        {"label": "Pro", "value": "pro", "displayOrder": 0, "hidden": False}
                    ],
                },
                {"label": "Amount", "type": "number"},
                {"label": "Note", "type": "string"},
            ],
        },
    )
    if created.status_code >= 400:
        raise SystemExit(f"creating the event failed: {created.status_code} {created.text[:500]}")
    contact = client.post("/crm/v3/objects/contacts", json={"properties": {"email": "b@x.io"}})
    contact.raise_for_status()
    return created.json()["fullyQualifiedName"], contact.json()["id"]


def body(event: str, contact: str, n: int) -> dict[str, object]:
    return {
        "eventName": event,
        "objectId": contact,
        "properties": {
            "plan": "pro",
            "amount": n,
            "note": f"completion {n}",
            "hs_page_url": "https://example.com/pricing",
        },
    }


async def single_sends(
    url: str, auth: str, event: str, contact: str, seconds: float, clients: int
) -> tuple[int, list[float]]:
    done = 0
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def worker(k: int) -> None:
        nonlocal done
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": auth}) as client:
            n = 0
            while time.monotonic() < stop:
                began = time.perf_counter()
                response = await client.post("/events/v3/send", json=body(event, contact, n))
                if response.status_code != 204:
                    raise SystemExit(f"send failed: {response.status_code} {response.text}")
                latencies.append(time.perf_counter() - began)
                done += 1
                n += 1

    await asyncio.gather(*(worker(k) for k in range(clients)))
    return done, latencies


def batches(client: httpx.Client, event: str, contact: str, seconds: float) -> int:
    done = 0
    stop = time.monotonic() + seconds
    while time.monotonic() < stop:
        inputs = [body(event, contact, done + i) for i in range(500)]
        response = client.post("/events/v3/send/batch", json={"inputs": inputs}, timeout=120)
        if response.status_code != 204:
            raise SystemExit(f"batch failed: {response.status_code} {response.text[:300]}")
        done += 500
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--preload", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "db"
        if args.preload:
            build_demo(db, args.preload, contacts=200)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start(db, port)
        try:
            auth = f"Bearer {token(db)}"
            with httpx.Client(base_url=url, headers={"Authorization": auth}) as client:
                event, contact = setup(client)
                sent, latencies = asyncio.run(
                    single_sends(url, auth, event, contact, args.seconds, args.clients)
                )
                batched = batches(client, event, contact, args.seconds)
        finally:
            server.terminate()
            server.wait(10)

    per_second = sent / args.seconds
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else 0.0
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
    batch_rate = batched / args.seconds
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"store before the run: {args.preload:,} completions; {args.clients} clients; "
        f"{args.seconds:g} s per figure"
    )
    print()
    print("| figure | value | vs HubSpot's 1,250 req/s |")
    print("| --- | --- | --- |")
    print(
        f"| single POST /events/v3/send, durable 204, requests/s | {per_second:,.0f} | "
        f"{per_second / HUBSPOT_LIMIT:.2f}x |"
    )
    print(f"| latency p50 / p99, ms | {p50:.1f} / {p99:.1f} | |")
    print(
        f"| POST /events/v3/send/batch (500 inputs), completions/s | {batch_rate:,.0f} | "
        f"{batch_rate / HUBSPOT_LIMIT:.2f}x (completions) |"
    )


if __name__ == "__main__":
    main()
