"""The relay's decisions, against a remote that answers as told (the real remote is tests/api)."""

from __future__ import annotations

from collections.abc import Sequence

from cli.bootstrap import memory_services
from core.forwarding import Forwarder, replay_refused
from core.outbox import OutboxEntry
from core.ports import Database
from core.remote import JSON, RemoteRefused, RemoteUnreachable


class _Remote:
    url = "http://remote.example"

    def __init__(self) -> None:
        self.received: list[JSON] = []
        self.down = False
        self.refuse: set[str] = set()

    def definitions_page(self, after: str | None) -> JSON:
        if self.down:
            raise RemoteUnreachable("down")
        return {"results": [{"name": "viewed", "fullyQualifiedName": "pe222_viewed"}]}

    def send_batch(self, inputs: Sequence[JSON]) -> None:
        if self.down:
            raise RemoteUnreachable("down")
        if any(i["uuid"] in self.refuse for i in inputs):
            raise RemoteRefused("400 VALIDATION_ERROR: refused", 400, "VALIDATION_ERROR")
        self.received += inputs

    def send_one(self, body: JSON) -> None:
        self.send_batch([body])


def _owe(db: Database, *uuids: str) -> None:
    with db.transaction() as unit:
        db.outbox.add(
            [
                OutboxEntry(u, {"eventName": "pe111_viewed", "uuid": u, "properties": {}})
                for u in uuids
            ]
        )
        unit.commit()


def test_completions_go_under_the_remote_prefix_and_leave_the_outbox() -> None:
    services = memory_services(portal_id=111)
    remote = _Remote()
    forwarder = Forwarder(services.db, remote)
    _owe(services.db, "a", "b")
    assert forwarder.step() == 0.0
    assert forwarder.step() is None
    assert [(r["eventName"], r["uuid"]) for r in remote.received] == [
        ("pe222_viewed", "a"),
        ("pe222_viewed", "b"),
    ]
    assert forwarder.status().to_json()["owed"] == 0
    assert forwarder.status().to_json()["sent"] == 2
    assert forwarder.status().to_json()["remotePortalId"] == 222


def test_a_remote_that_is_down_keeps_everything_owed_and_pauses_longer_each_time() -> None:
    services = memory_services(portal_id=111)
    remote = _Remote()
    remote.down = True
    forwarder = Forwarder(services.db, remote)
    _owe(services.db, "a")
    pauses = [forwarder.step() or 0.0 for _ in range(3)]
    assert 0 < pauses[0] < pauses[1] < pauses[2]
    assert forwarder.status().owed == 1
    assert forwarder.status().last_error == "down"
    remote.down = False
    assert forwarder.step() == 0.0
    assert [r["uuid"] for r in remote.received] == ["a"]


def test_a_refused_batch_keeps_only_what_the_remote_refuses() -> None:
    services = memory_services(portal_id=111)
    remote = _Remote()
    remote.refuse = {"b"}
    forwarder = Forwarder(services.db, remote)
    _owe(services.db, "a", "b", "c")
    forwarder.step()
    assert sorted(r["uuid"] for r in remote.received) == ["a", "c"]
    (refused,) = forwarder.refused()
    assert (refused.id, refused.refused) == ("b", "400 VALIDATION_ERROR: refused")
    remote.refuse = set()
    assert forwarder.replay() == 1
    forwarder.step()
    assert sorted(r["uuid"] for r in remote.received) == ["a", "b", "c"]
    assert forwarder.status().refused == 0


def test_the_last_error_and_the_remote_are_kept_in_the_database_for_the_app() -> None:
    services = memory_services(portal_id=111)
    remote = _Remote()
    remote.down = True
    forwarder = Forwarder(services.db, remote)
    _owe(services.db, "a")
    forwarder.step()
    counts = services.db.outbox.counts()
    assert (counts.remote, counts.last_error) == ("http://remote.example", "down")


def test_replaying_the_refused_owes_them_again() -> None:
    services = memory_services(portal_id=111)
    remote = _Remote()
    remote.refuse = {"b"}
    forwarder = Forwarder(services.db, remote)
    _owe(services.db, "a", "b")
    forwarder.step()
    assert [e.id for e in services.db.outbox.refused()] == ["b"]
    remote.refuse = set()
    assert replay_refused(services.db) == 1
    assert forwarder.step() == 0.0
    assert [r["uuid"] for r in remote.received] == ["a", "b"]
