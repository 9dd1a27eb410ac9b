"""Issue 19's CLI stumbles, walked as a newcomer typed them: errors in one style, a mistyped
--db, an empty file, an event named as the app names it."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.bootstrap import open_services
from cli.main import main
from core.models import ObjectType
from tests.sending import send_one
from tests.test_cli import _definition


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_send_errors_are_error_lines_without_a_sending_line(
    tmp_path: Path, runner: CliRunner
) -> None:
    db = tmp_path / "db"
    event = _definition(db)
    lines = [
        {"eventName": event, "email": "ann@example.com", "properties": {"year": "old"}},
        {"eventName": event, "email": "ann@example.com", "properties": {"year": 2020}},
    ]
    file = tmp_path / "events.jsonl"
    file.write_text("\n".join(json.dumps(line) for line in lines) + "\n{not json\n")
    result = runner.invoke(main, ["send", str(file), "--db", str(db)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Error: line 1: properties.year: Value 'old' of 'year' is not a number. [INVALID_NUMBER]",
        "Error: line 3: not JSON: Expecting property name enclosed in double quotes at column 2",
    ]
    assert "Sending" not in result.output
    assert result.stdout == f"Stored 1 completion(s) from {file}; rejected 2.\n"


def test_send_to_a_mistyped_db_creates_nothing_and_says_so(
    tmp_path: Path, runner: CliRunner
) -> None:
    file = tmp_path / "events.json"
    file.write_text(json.dumps({"eventName": "pe1_x", "email": "a@b.c", "properties": {}}))
    typo = tmp_path / "dbb"
    for command in (["send", str(file)], ["validate", str(file)], ["timeline", "--email", "a@b.c"]):
        result = runner.invoke(main, [*command, "--db", str(typo)])
        assert result.exit_code == 1, command
        assert result.output == f"Error: There is no cbe database at {typo}.\n", command
    assert not typo.exists()


def test_an_empty_file_is_an_error_not_a_silent_success(tmp_path: Path, runner: CliRunner) -> None:
    db = tmp_path / "db"
    _definition(db)
    for text in ("", "\n\n", "[]"):
        file = tmp_path / "events.json"
        file.write_text(text)
        sent = runner.invoke(main, ["send", str(file), "--db", str(db)])
        assert sent.exit_code == 1
        assert sent.output == f"Error: {file} holds no send bodies; nothing was sent.\n"
        judged = runner.invoke(main, ["validate", str(file), "--db", str(db)])
        assert judged.exit_code == 1
        assert judged.output == f"Error: {file} holds no send bodies; nothing to judge.\n"


def test_codegen_takes_an_event_by_internal_name_qualified_name_or_label(
    tmp_path: Path, runner: CliRunner
) -> None:
    db = tmp_path / "db"
    qualified = _definition(db)
    for typed in ("viewed_car", qualified, "Viewed Car", "viewed car"):
        result = runner.invoke(main, ["codegen", "typescript", "--event", typed, "--db", str(db)])
        assert result.exit_code == 0, (typed, result.output)
        assert qualified in result.output
    wrong = runner.invoke(main, ["codegen", "python", "--event", "Viewed Cars", "--db", str(db)])
    assert wrong.exit_code == 1
    assert wrong.output == (
        "Error: No event is named 'Viewed Cars' (an internal name, fully qualified name or "
        "label); the events are: viewed_car.\n"
    )


def test_report_csvs_keep_the_not_an_option_bucket_and_name_each_share(
    tmp_path: Path, runner: CliRunner
) -> None:
    db = tmp_path / "db"
    services = open_services(db)
    try:
        ann = services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
        event = services.definitions.create(
            {
                "label": "Viewed Car",
                "propertyDefinitions": [
                    {
                        "label": "Condition",
                        "type": "enumeration",
                        "options": [{"label": "New", "value": "new"}],
                    }
                ],
            }
        )
        for value in ("new", "rusty"):
            send_one(
                services.ingestion,
                {
                    "eventName": event.fully_qualified_name,
                    "objectId": ann.id,
                    "occurredAt": (datetime.now(UTC) - timedelta(days=2)).isoformat(),
                    "properties": {"condition": value, "hs_touchpoint_source": "REFERRALS"},
                },
            )
    finally:
        services.close()
    report = runner.invoke(main, ["report", "event", "viewed_car", "--db", str(db), "--csv"])
    assert report.exit_code == 0, report.output
    rows = list(csv.reader(io.StringIO(report.output)))
    assert rows[0] == ["Property", "Internal name", "Value", "Completions", "Share"]
    assert ["Condition", "condition", "New", "1", "1.0000"] in rows
    assert ["Condition", "condition", "(not an option)", "1", ""] in rows
    attribution = runner.invoke(
        main, ["report", "attribution", "viewed_car", "--db", str(db), "--csv"]
    )
    assert attribution.exit_code == 0, attribution.output
    assert next(csv.reader(io.StringIO(attribution.output))) == [
        "Touchpoint source",
        "First touch",
        "First touch share",
        "Last touch",
        "Last touch share",
    ]


def test_timeline_datetimes_read_like_the_entry_times(tmp_path: Path, runner: CliRunner) -> None:
    db = tmp_path / "db"
    services = open_services(db)
    try:
        services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
        event = services.definitions.create(
            {
                "label": "Viewed Car",
                "propertyDefinitions": [{"label": "Listed at", "type": "datetime"}],
            }
        )
        for listed in (1_761_868_800_000, "2026-10-31T08:30:00Z"):  # epoch ms and ISO 8601
            send_one(
                services.ingestion,
                {
                    "eventName": event.fully_qualified_name,
                    "email": "ann@example.com",
                    "occurredAt": "2026-11-01T09:15:00Z",
                    "properties": {"listed_at": listed},
                },
            )
    finally:
        services.close()
    result = runner.invoke(
        main, ["timeline", "--email", "ann@example.com", "--expand", "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    assert "Listed at: Oct 31, 2025 00:00" in result.output
    assert "Listed at: Oct 31, 2026 08:30" in result.output
    assert "1761868800000" not in result.output and "T08:30" not in result.output
