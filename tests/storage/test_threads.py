"""One process, many threads (the server's request threads, the TUI's workers) on one database."""

from __future__ import annotations

import threading
from collections.abc import Callable

from core.models import CrmRecord, EventDefinition, ObjectType
from core.occurrences import CompletionQuery
from core.services import Services
from tests.sending import send_one


def _run_all(workers: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(len(workers))

    def guarded(work: Callable[[], None]) -> None:
        start.wait()
        try:
            work()
        except BaseException as error:  # collected and reported by the test
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_threads_writing_and_reading_at_once_lose_nothing(
    services: Services, viewed_car: EventDefinition, contact: CrmRecord
) -> None:
    per_thread = 40

    def sender(n: int) -> Callable[[], None]:
        def work() -> None:
            for i in range(per_thread):
                send_one(
                    services.ingestion,
                    {
                        "eventName": viewed_car.fully_qualified_name,
                        "objectId": contact.id,
                        "occurredAt": f"2026-{(i % 3) + 8:02d}-01T00:00:{n:02d}Z",
                        "uuid": f"t{n}-{i}",
                        "properties": {"make": f"t{n}"},
                    },
                )
                services.records.create(ObjectType.CONTACT, {"email": f"t{n}-{i}@example.com"})

        return work

    def reader() -> None:
        for _ in range(per_thread):
            services.occurrences.page(CompletionQuery(limit=20))
            services.db.completions.summaries()
            services.records.search(ObjectType.CONTACT, "example")
            services.definitions.search()

    errors = _run_all([sender(n) for n in range(4)] + [reader, reader])
    assert errors == []
    stored = list(services.occurrences.iterate(CompletionQuery()))
    assert len(stored) == 4 * per_thread
    assert len({c.uuid for c in stored}) == 4 * per_thread
    contacts = services.records.search(ObjectType.CONTACT)
    assert len(contacts) == 1 + 4 * per_thread
    assert len({c.id for c in contacts}) == len(contacts)
