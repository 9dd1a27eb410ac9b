"""A child process of the storage tests: writes to a cbe database, acknowledging each write.

Run as ``python writer.py MODE DB TAG EVENT [options]``. Every acknowledgement line is printed
and flushed only after the call it reports has returned, so a line the parent has read stands
for a write the storage acknowledged:

``S <uuid> <id>``             a single strict send was stored
``B <batch> <n> <id>,<id>..`` a strict batch of n completions (uuids ``<batch>.<i>``) was stored
``R <email> <id>``            a contact was created
``U <op> <n>``                contact 1's first name became ``<op>-`` and n times ``x``
``DUP <uuid> <rule>``         a send was refused (dupes mode)
``AGAIN <uuid> -``            a send was accepted as a retry, not stored (dupes ``--hubspot``)

Modes:

``crash``  wait for ``GO`` on stdin (imports are done by then), open the database, print
           ``READY``, then write random operations until killed; ``--fsync-delay`` simulates a
           slower disk.

Every mode takes ``--segment-size``: a small one makes the journal fold into segments often.
``load``   open, print ``READY``, wait for ``GO``, run ``--sends`` single sends, ``--batches``
           batches spanning several months and ``--contacts`` contact creations in a shuffled
           order, print ``DONE``.
``dupes``  open, print ``READY``, then for each uuid read from stdin send it at once and print
           ``S`` or ``DUP``; ``DONE`` at the end of input. ``--hubspot``: send as ``cbe serve``
           does by default (a repeated uuid is accepted, not stored: ``AGAIN``).
``serve``  open, print ``READY``, then obey one command per stdin line: ``contact EMAIL``,
           ``send UUID MONTH``, ``define LABEL``, ``state``, ``quit``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

from cli.bootstrap import open_services
from core.errors import ValidationFailed
from core.ingestion import Mode
from core.models import ObjectType
from core.ports import CompletionSelection
from core.services import Services
from storage.completions import segment_file
from tests.sending import send_maybe, send_one

EMAIL = "ann@example.com"
MONTHS = ["2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04"]


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def wait_for_go() -> bool:
    return sys.stdin.readline().strip() == "GO"


class Writer:
    def __init__(self, services: Services, tag: str, event: str, rng: random.Random) -> None:
        self.services = services
        self.tag = tag
        self.event = event
        self.rng = rng
        self.numbers = itertools.count(1)

    def body(self, uuid: str, month: str | None = None) -> dict[str, object]:
        month = month or self.rng.choice(MONTHS)
        day = self.rng.randint(1, 28)
        second = self.rng.randint(0, 86_399)
        return {
            "eventName": self.event,
            "email": EMAIL,
            "occurredAt": f"{month}-{day:02d}T{second // 3600:02d}:{second // 60 % 60:02d}:"
            f"{second % 60:02d}Z",
            "uuid": uuid,
            "properties": {"make": self.rng.choice(["Ford", "Audi", "Kia"])},
        }

    def send(self) -> None:
        uuid = f"{self.tag}-s{next(self.numbers)}"
        stored = send_one(self.services.ingestion, self.body(uuid))
        say(f"S {uuid} {stored.id}")

    def batch(self) -> None:
        size = self.rng.randint(2, 5)
        batch = f"{self.tag}-b{next(self.numbers)}x{size}"
        months = self.rng.sample(MONTHS, k=min(size, len(MONTHS)))
        # Spread over months, so that a batch is not in time order.
        inputs = [self.body(f"{batch}.{i}", months[i % len(months)]) for i in range(size)]
        stored = self.services.ingestion.send_batch({"inputs": inputs})
        say(f"B {batch} {size} {','.join(c.id for c in stored)}")

    def update(self) -> None:
        # A new first name for Ann (contact 1) of random length: the main file grows or shrinks.
        op = f"{self.tag}-u{next(self.numbers)}"
        size = self.rng.randint(0, 3000)
        self.services.records.update(ObjectType.CONTACT, "1", {"firstname": f"{op}-" + "x" * size})
        say(f"U {op} {size}")

    def contact(self) -> None:
        email = f"{self.tag}-r{next(self.numbers)}@example.com"
        record = self.services.records.create(ObjectType.CONTACT, {"email": email})
        say(f"R {email} {record.id}")


def open_for(args: argparse.Namespace) -> Services:
    ids = itertools.count(1)
    return open_services(args.db, create=False, new_id=lambda: f"{args.tag}-{next(ids)}")


def slow_disk(seconds: float) -> None:
    """Make every fsync take ``seconds`` longer, as on a disk slower than this machine's.

    SIGKILL loses nothing from the page cache, so a non-atomic write is only hurt by a kill
    between its steps; a realistic fsync time widens those windows to where kills land.
    """
    real = os.fsync

    def fsync(fd: Any) -> None:
        real(fd)
        time.sleep(seconds)

    os.fsync = fsync


def crash(args: argparse.Namespace) -> None:
    if not wait_for_go():
        return
    slow_disk(args.fsync_delay)
    writer = Writer(open_for(args), args.tag, args.event, random.Random(args.seed))
    say("READY")
    ops: list[Callable[[], None]] = (
        [writer.send] * 4 + [writer.batch] * 3 + [writer.contact] * 1 + [writer.update] * 3
    )
    while True:
        writer.rng.choice(ops)()


def load(args: argparse.Namespace) -> None:
    writer = Writer(open_for(args), args.tag, args.event, random.Random(args.seed))
    say("READY")
    if not wait_for_go():
        return
    ops = (
        [writer.send] * args.sends
        + [writer.batch] * args.batches
        + [writer.contact] * args.contacts
    )
    writer.rng.shuffle(ops)
    for op in ops:
        op()
    writer.services.close()
    say("DONE")


def dupes(args: argparse.Namespace) -> None:
    writer = Writer(open_for(args), args.tag, args.event, random.Random(args.seed))
    say("READY")
    for line in sys.stdin:
        uuid = line.strip()
        try:
            stored = send_maybe(
                writer.services.ingestion,
                writer.body(uuid, "2026-01"),
                mode=Mode.HUBSPOT if args.hubspot else Mode.STRICT,
            )
        except ValidationFailed as error:
            say(f"DUP {uuid} {','.join(v.rule for v in error.violations)}")
        else:
            say(f"AGAIN {uuid} -" if stored is None else f"S {uuid} {stored.id}")
    writer.services.close()
    say("DONE")


def serve(args: argparse.Namespace) -> None:
    services = open_for(args)
    writer = Writer(services, args.tag, args.event, random.Random(args.seed))
    say("READY")
    for line in sys.stdin:
        command, *rest = line.split()
        if command == "contact":
            record = services.records.create(ObjectType.CONTACT, {"email": rest[0]})
            say(f"R {rest[0]} {record.id}")
        elif command == "send":
            stored = send_one(services.ingestion, writer.body(rest[0], rest[1]))
            say(f"S {rest[0]} {stored.id}")
        elif command == "define":
            definition = services.definitions.create({"label": " ".join(rest)})
            say(f"D {definition.name}")
        elif command == "state":
            completions = list(services.db.completions.scan(CompletionSelection()))
            state = {
                "contacts": sorted(
                    r.email or "" for r in services.records.search(ObjectType.CONTACT)
                ),
                "completions": sorted(c.uuid for c in completions),
                "definitions": [d.name for d in services.definitions.search()],
            }
            say("STATE " + orjson.dumps(state).decode())
        elif command == "quit":
            break
    services.close()
    say("DONE")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["crash", "load", "dupes", "serve"])
    parser.add_argument("db")
    parser.add_argument("tag")
    parser.add_argument("event")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fsync-delay", type=float, default=0.0)
    parser.add_argument("--sends", type=int, default=0)
    parser.add_argument("--batches", type=int, default=0)
    parser.add_argument("--contacts", type=int, default=0)
    parser.add_argument("--hubspot", action="store_true", help="dupes: send as HubSpot")
    parser.add_argument(
        "--segment-size", type=int, default=segment_file.SEGMENT_SIZE, help="fold this often"
    )
    args = parser.parse_args()
    segment_file.SEGMENT_SIZE = args.segment_size
    {"crash": crash, "load": load, "dupes": dupes, "serve": serve}[args.mode](args)


if __name__ == "__main__":
    main()
