"""What owing a completion costs a send, in process (no HTTP, no relay): single sends per second
with ``forwarding`` on, with STORED completions all owed, then all settled, beside the same
sends without forwarding.

    uv run python bench/outbox_cost.py [STORED ...] [--sends N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from cli.bootstrap import open_services
from core.ingestion import Mode
from core.models import ObjectType, Source
from core.services import Services

PORTAL = 111111


def _body(n: int) -> dict[str, object]:
    return {
        "eventName": f"pe{PORTAL}_viewed",
        "email": "ann@example.com",
        "uuid": f"u-{n}",
        "properties": {"n": str(n)},
    }


def _singles(services: Services, start: int, sends: int) -> float:
    began = time.perf_counter()
    for n in range(start, start + sends):
        services.ingestion.ingest([_body(n)], Mode.HUBSPOT, Source.API)
    return sends / (time.perf_counter() - began)


def measure(stored: int, sends: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        services = open_services(Path(tmp) / "db", portal_id=PORTAL)
        try:
            services.definitions.create(
                {
                    "label": "Viewed",
                    "name": "viewed",
                    "primaryObject": "CONTACT",
                    "includeDefaultProperties": False,
                    "propertyDefinitions": [{"name": "n", "label": "N", "type": "string"}],
                },
                hubspot_body=True,
            )
            services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
            services.ingestion.forwarding = True
            began = time.perf_counter()
            for first in range(0, stored, 500):
                bodies = [_body(n) for n in range(first, min(first + 500, stored))]
                services.ingestion.ingest(bodies, Mode.HUBSPOT, Source.API, batch=True)
            loaded = time.perf_counter() - began
            owed = _singles(services, stored, sends)
            db = services.db
            while entries := db.outbox.owed(500):  # the relay's part, without a remote
                with db.transaction() as unit:
                    db.outbox.settle([e.id for e in entries], {})
                    unit.commit()
            settled = _singles(services, stored + sends, sends)
            services.ingestion.forwarding = False
            plain = _singles(services, stored + 2 * sends, sends)
            print(
                f"{stored:>7,} stored (loaded in {loaded:.1f} s): forwarding, all owed "
                f"{owed:,.1f} sends/s; forwarding, all sent {settled:,.1f} sends/s; "
                f"not forwarding {plain:,.1f} sends/s",
                flush=True,
            )
        finally:
            services.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stored", nargs="*", type=int, default=[10_000, 100_000])
    parser.add_argument("--sends", type=int, default=300)
    args = parser.parse_args()
    for stored in args.stored:
        measure(stored, args.sends)


if __name__ == "__main__":
    main()
