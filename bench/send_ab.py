"""Single sends over HTTP, two checkouts in turn: ``scale.py``'s ``wrk`` run against each.

```sh
uv run python bench/send_ab.py --db /tmp/copy-of-the-million [--pairs 3] [--seconds 10] \
    before=/work/main after=.
```

Each named checkout serves the same folder with its own environment (``.venv/bin/python -m cli
serve``), one after the other, alternating, for ``--pairs`` rounds. Prints, per run, the
requests a second, the non-2xx answers, and the server's CPU time per request (its user and
system time from ``/proc`` over the ``wrk`` run, divided by the requests ``wrk`` counted), with
the load average beside. The folder grows by every send: use a copy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale import until_serving, wrk_figures, wrk_sends  # bench/scale.py

ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system time of ``pid`` and its threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def run(checkout: Path, folder: Path, seconds: int, connections: int) -> dict[str, float]:
    """One ``wrk`` run against a ``cbe serve`` of ``checkout`` on ``folder``."""
    token = json.loads((folder / "portal.json").read_text())["accessToken"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    python = checkout / ".venv" / "bin" / "python"
    server = subprocess.Popen(
        [str(python), "-m", "cli", "serve", "--db", str(folder), "--port", str(port)],
        cwd=checkout,
        env=ENV,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        until_serving(base, 30)
        wrk = shutil.which("wrk") or sys.exit("wrk is not installed")
        script = folder.parent / f"{folder.name}-send.lua"
        before = cpu_seconds(server.pid)
        out = wrk_sends(wrk, base, token, script, seconds, connections)
        used = cpu_seconds(server.pid) - before
    finally:
        server.terminate()
        server.wait()
    figures = wrk_figures(out)
    return {
        "rate": figures["rate"],
        "errors": figures["errors"],
        "us_per_request": used / figures["requests"] * 1e6,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, required=True, help="a copy of the million")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("checkouts", nargs="+", help="label=path of a checkout with its .venv")
    args = parser.parse_args()
    checkouts = [(c.split("=", 1)[0], Path(c.split("=", 1)[1]).resolve()) for c in args.checkouts]
    for round_ in range(args.pairs):
        for label, path in checkouts:
            got = run(path, args.db, args.seconds, args.connections)
            print(
                f"{round_ + 1} {label:8} {got['rate']:7.0f} requests/s  "
                f"{got['us_per_request']:5.0f} us CPU a request  non-2xx {got['errors']}  "
                f"load {got['load']:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
