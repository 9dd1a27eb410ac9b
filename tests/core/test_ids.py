"""Completion ids: random version 4 UUIDs, never shared with a forked child."""

from __future__ import annotations

import os
import uuid

from core.services import random_id


def test_ids_are_unique_version_4_uuids() -> None:
    ids = [random_id() for _ in range(50_000)]
    assert len(set(ids)) == len(ids)
    for text in ids[:2000]:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text


def test_a_forked_child_draws_other_ids_than_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send its next ids to the parent, then leave at once
        os.close(read)
        os.write(write, ",".join(random_id() for _ in range(100)).encode())
        os._exit(0)
    os.close(write)
    parent = [random_id() for _ in range(100)]
    with os.fdopen(read, "rb") as pipe:
        child = pipe.read().decode().split(",")
    os.waitpid(pid, 0)
    assert len(child) == 100
    assert not set(child) & set(parent)
