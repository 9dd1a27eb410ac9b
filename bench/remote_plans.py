"""What moving a plan to a remote portal costs: apply, diff and pull against a real ``cbe serve``.

    uv run python bench/remote_plans.py [--events 100 --properties 10]

Starts an empty ``cbe serve`` on loopback (the remote), builds a plan of ``--events`` events with
``--properties`` properties each (one of them an enumeration of five options), then times, through
HubSpot's definitions API as ``cbe plan ... --to`` does: the first apply (a request per event), a
diff (reading every page), a pull, a second apply (nothing to change), and an apply that adds an
option to every event (a request per event). Prints requests per second for each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cli.bootstrap import open_services  # noqa: E402
from core.plan import apply_plan, diff_plan  # noqa: E402
from core.remote import RemoteTarget, pull_plan  # noqa: E402
from storage.hubspot_remote import HubSpotRemote  # noqa: E402
from tests.api.conftest import start_server, stop_server  # noqa: E402


def build_plan(events: int, properties: int, options: int = 5) -> dict[str, Any]:
    plan_events = []
    for i in range(events):
        props: list[dict[str, Any]] = [
            {"name": f"prop_{j}", "label": f"Prop {j}", "type": "string"}
            for j in range(properties - 1)
        ]
        props.append(
            {
                "name": "choice",
                "label": "Choice",
                "type": "enumeration",
                "options": [{"label": f"O{k}", "value": f"o{k}"} for k in range(options)],
            }
        )
        plan_events.append({"name": f"event_{i:04d}", "label": f"Event {i}", "properties": props})
    return {"cbePlan": 1, "events": plan_events}


def timed(what: str, requests: int, run: Any) -> Any:
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    rate = requests / seconds if seconds else float("inf")
    print(f"| {what} | {requests:,} | {seconds:.2f} s | {rate:,.0f}/s |")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--properties", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "remote"
        open_services(db, portal_id=4444).close()
        server = start_server(db)
        try:
            remote = HubSpotRemote(server.url, server.token)
            target = RemoteTarget(remote)
            plan = build_plan(args.events, args.properties)
            pages = -(-args.events // 100)
            print(f"{args.events} events x {args.properties} properties, remote {server.url}\n")
            print("| step | requests | time | requests/s |")
            print("| --- | --- | --- | --- |")
            done = timed("first apply", pages + args.events, lambda: apply_plan(plan, target))
            assert len(done) == args.events
            timed("diff (no changes)", pages, lambda: diff_plan(plan, target))
            timed("pull", pages, lambda: pull_plan(remote))
            again = timed("second apply (no-op)", pages, lambda: apply_plan(plan, target))
            assert again == []
            for event in plan["events"]:
                event["properties"][-1]["options"].append({"label": "New", "value": "new"})
            changed = timed(
                "apply: an option added to every event",
                pages + args.events,
                lambda: apply_plan(plan, target),
            )
            assert len(changed) == args.events
        finally:
            stop_server(server)


if __name__ == "__main__":
    main()
