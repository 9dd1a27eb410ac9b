"""The ``cbe`` command as a person uses it: output, exit status, and what ends up stored."""

from __future__ import annotations

import csv
import io
import json
import stat
import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.bootstrap import open_services
from cli.main import COMMANDS, main
from core.analytics import DateRange, Frequency
from core.errors import Rule, ValidationFailed
from core.models import ObjectType
from core.occurrences import CompletionQuery
from core.workflow_models import DelayUntilEventAction, TriggerKind
from storage.tables import Folding, LoggedTables, log_name
from tests.sending import send_one

NOW = "2026-11-01T12:00:00+00:00"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_help_lists_every_command_each_loaded_by_its_name(runner: CliRunner) -> None:
    """The commands' modules load when a command is asked for (cli.main.COMMANDS): `cbe
    --help` still lists them all, and each name finds the command of that name."""
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listing = result.output.split("Commands:\n", 1)[1].splitlines()
    assert [line.split()[0] for line in listing if line.startswith("  ")] == sorted(COMMANDS)
    with click.Context(main) as ctx:
        for name in COMMANDS:
            command = main.get_command(ctx, name)
            assert isinstance(command, click.Command) and command.name == name


@pytest.fixture
def demo_db(tmp_path: Path, runner: CliRunner) -> Path:
    path = tmp_path / "demo"
    result = runner.invoke(
        main,
        ["demo", "--db", str(path), "--contacts", "12", "--completions", "300", "--now", NOW],
    )
    assert result.exit_code == 0, result.output
    return path


def _ids_and_values(path: Path) -> list[tuple[str, str, dict[str, object]]]:
    services = open_services(path, create=False)
    try:
        return [
            (c.id, c.event_name, dict(c.properties))
            for c in services.occurrences.iterate(CompletionQuery())
        ]
    finally:
        services.close()


class TestDemo:
    def test_demo_reports_what_it_built(self, tmp_path: Path, runner: CliRunner) -> None:
        path = tmp_path / "demo"
        result = runner.invoke(
            main, ["demo", "--db", str(path), "--contacts", "12", "--completions", "300"]
        )
        assert result.exit_code == 0, result.output
        assert "7 events, 12 contacts" in result.output
        assert "300 completions" in result.output

    def test_same_seed_gives_the_same_data(self, tmp_path: Path, runner: CliRunner) -> None:
        args = ["--contacts", "10", "--completions", "200", "--now", NOW, "--seed", "3"]
        for name in ("a", "b"):
            result = runner.invoke(main, ["demo", "--db", str(tmp_path / name), *args])
            assert result.exit_code == 0, result.output
        assert _ids_and_values(tmp_path / "a") == _ids_and_values(tmp_path / "b")

    def test_another_seed_gives_other_data(self, tmp_path: Path, runner: CliRunner) -> None:
        for name, seed in (("a", "1"), ("b", "2")):
            result = runner.invoke(
                main,
                ["demo", "--db", str(tmp_path / name), "--completions", "50", "--seed", seed],
            )
            assert result.exit_code == 0, result.output
        assert _ids_and_values(tmp_path / "a") != _ids_and_values(tmp_path / "b")

    def test_refuses_to_overwrite_without_replace(self, demo_db: Path, runner: CliRunner) -> None:
        result = runner.invoke(main, ["demo", "--db", str(demo_db), "--completions", "10"])
        assert result.exit_code == 1
        assert "already holds a cbe database; pass --replace" in result.output
        replaced = runner.invoke(
            main, ["demo", "--db", str(demo_db), "--completions", "10", "--replace"]
        )
        assert replaced.exit_code == 0, replaced.output
        assert "10 completions" in replaced.output

    def test_refuses_a_folder_that_is_not_a_database(
        self, tmp_path: Path, runner: CliRunner
    ) -> None:
        (tmp_path / "notes.txt").write_text("mine")
        result = runner.invoke(main, ["demo", "--db", str(tmp_path), "--replace"])
        assert result.exit_code == 1
        assert "is not empty and is not a cbe database" in result.output
        assert (tmp_path / "notes.txt").read_text() == "mine"

    def test_bad_now_is_one_clear_line(self, tmp_path: Path, runner: CliRunner) -> None:
        result = runner.invoke(main, ["demo", "--db", str(tmp_path / "d"), "--now", "yesterday"])
        assert result.exit_code == 1
        assert result.output.strip() == (
            "Error: --now 'yesterday' is not ISO 8601 with an offset, e.g. 2026-11-01T12:00Z"
        )


def _definition(path: Path) -> str:
    """A database with a contact and an event of a string and a number property."""
    services = open_services(path)
    try:
        services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
        return services.definitions.create(
            {
                "label": "Viewed Car",
                "propertyDefinitions": [
                    {"label": "Make", "type": "string"},
                    {"label": "Year", "type": "number"},
                ],
            }
        ).fully_qualified_name
    finally:
        services.close()


class TestSend:
    def test_strict_jsonl_stores_good_lines_and_reports_bad_ones(
        self, tmp_path: Path, runner: CliRunner
    ) -> None:
        db = tmp_path / "db"
        event = _definition(db)
        lines = [
            {"eventName": event, "email": "ann@example.com", "properties": {"make": "Ford"}},
            {"eventName": event, "email": "ann@example.com", "properties": {"year": "old"}},
            {"eventName": event, "email": "nobody@example.com", "properties": {}},
            {"eventName": event, "email": "ann@example.com", "properties": {"year": 2020}},
        ]
        file = tmp_path / "events.jsonl"
        text = "\n".join(json.dumps(line) for line in lines) + "\n{not json\n"
        file.write_text(text)
        result = runner.invoke(main, ["send", str(file), "--db", str(db), "--strict"])
        assert result.exit_code == 1
        assert (
            "line 2: properties.year: Value 'old' of 'year' is not a number. [INVALID_NUMBER]"
            in (result.output)
        )
        assert "line 3: email: No contact with email 'nobody@example.com' exists." in result.output
        assert "line 5: not JSON" in result.output
        assert f"Stored 2 completion(s) from {file}; rejected 3." in result.output
        assert len(_ids_and_values(db)) == 2

    def test_as_hubspot_an_unknown_record_is_kept_and_a_retry_stored_once(
        self, tmp_path: Path, runner: CliRunner
    ) -> None:
        db = tmp_path / "db"
        event = _definition(db)
        lines = [
            {"eventName": event, "email": "nobody@example.com", "properties": {}, "uuid": "a"},
            {"eventName": event, "email": "ann@example.com", "properties": {"year": "old"}},
            {"eventName": event, "email": "nobody@example.com", "properties": {}, "uuid": "a"},
        ]
        file = tmp_path / "events.jsonl"
        file.write_text("\n".join(json.dumps(line) for line in lines))
        result = runner.invoke(main, ["send", str(file), "--db", str(db)])
        assert result.exit_code == 1  # line 2 breaks a rule HubSpot checks at once
        assert "line 2: properties.year" in result.output
        assert "nobody" not in result.output
        assert (
            f"Stored 1 completion(s) from {file}; rejected 1; 1 already received (stored once)."
            in result.output
        )
        assert len(_ids_and_values(db)) == 1
        traced = runner.invoke(main, ["trace", "a", "--db", str(db)])
        assert traced.exit_code == 0, traced.output
        assert "from cbe send" in traced.output
        assert "No contact had email 'nobody@example.com' when it arrived" in traced.output
        assert "Timeline: on no record's timeline." in traced.output
        assert "Retry: received" in traced.output

    def test_a_batch_body_is_all_or_nothing(self, tmp_path: Path, runner: CliRunner) -> None:
        db = tmp_path / "db"
        event = _definition(db)
        batch = {
            "inputs": [
                {"eventName": event, "email": "ann@example.com", "properties": {"make": "Ford"}},
                {"eventName": event, "email": "ann@example.com", "properties": {"make": "x" * 257}},
            ]
        }
        file = tmp_path / "batch.json"
        file.write_text(json.dumps(batch))
        result = runner.invoke(main, ["send", str(file), "--db", str(db)])
        assert result.exit_code == 1
        assert "inputs[1].properties.make" in result.output
        assert "at most 256 are allowed" in result.output
        assert _ids_and_values(db) == []

    def test_all_good_exits_zero(self, tmp_path: Path, runner: CliRunner) -> None:
        db = tmp_path / "db"
        event = _definition(db)
        file = tmp_path / "events.json"
        body = {"eventName": event, "email": "ann@example.com", "properties": {"make": "Kia"}}
        file.write_text(json.dumps([body, body]))
        result = runner.invoke(main, ["send", str(file), "--db", str(db)])
        assert result.exit_code == 0, result.output
        assert "Stored 2 completion(s)" in result.output

    def test_missing_file_is_one_line(self, tmp_path: Path, runner: CliRunner) -> None:
        result = runner.invoke(main, ["send", str(tmp_path / "nope.json")])
        assert result.exit_code == 2
        assert "does not exist" in result.output
        assert "Traceback" not in result.output


class TestValidate:
    def test_judges_each_body_and_stores_nothing(self, tmp_path: Path, runner: CliRunner) -> None:
        db = tmp_path / "db"
        event = _definition(db)
        lines = [
            {"eventName": event, "email": "ann@example.com", "properties": {"make": "Ford"}},
            {"eventName": event, "email": "ann@example.com", "properties": {"year": "old"}},
            {"inputs": [{"eventName": event, "email": "nobody@example.com", "properties": {}}]},
        ]
        file = tmp_path / "events.jsonl"
        file.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
        result = runner.invoke(main, ["validate", str(file), "--db", str(db)])
        assert result.exit_code == 1, result.output
        assert "line 1: Valid: the completion would be stored." in result.output
        assert "line 2: properties.year: Value 'old' of 'year' is not a number." in result.output
        assert "line 3: Invalid: 1 of 1 inputs break a rule" in result.output
        assert "[UNKNOWN_EMAIL]" in result.output
        as_json = runner.invoke(main, ["validate", str(file), "--db", str(db), "--json"])
        verdicts = json.loads(as_json.output)
        assert [v["valid"] for v in verdicts] == [True, False, False]
        assert verdicts[0]["results"][0]["completion"]["properties"] == {"make": "Ford"}
        assert _ids_and_values(db) == []

    def test_all_valid_exits_zero(self, tmp_path: Path, runner: CliRunner) -> None:
        db = tmp_path / "db"
        event = _definition(db)
        file = tmp_path / "one.json"
        file.write_text(
            json.dumps({"eventName": event, "email": "ann@example.com", "properties": {}})
        )
        result = runner.invoke(main, ["validate", str(file), "--db", str(db)])
        assert result.exit_code == 0, result.output


class TestDefinitions:
    def test_export_then_import_recreates_the_definitions(
        self, demo_db: Path, tmp_path: Path, runner: CliRunner
    ) -> None:
        exported = tmp_path / "definitions.json"
        result = runner.invoke(
            main, ["definitions", "export", "--db", str(demo_db), "-o", str(exported)]
        )
        assert result.exit_code == 0, result.output
        data = json.loads(exported.read_text())
        assert data["total"] == 7
        first = data["results"][0]
        assert first["fullyQualifiedName"] == "pe24681357_viewed_pricing_page"
        assert first["labels"]["singular"] == "Viewed pricing page"
        assert 'name: "pe24681357_viewed_pricing_page"' in first["snippet"]

        fresh = tmp_path / "fresh"
        imported = runner.invoke(main, ["definitions", "import", str(exported), "--db", str(fresh)])
        assert imported.exit_code == 0, imported.output
        assert "Imported 7 event definition(s)" in imported.output

        services = open_services(fresh)
        try:
            again = {d.name: d for d in services.definitions.search()}
        finally:
            services.close()
        original = open_services(demo_db)
        try:
            for definition in original.definitions.search():
                copy = again[definition.name]
                assert copy.label == definition.label
                assert copy.primary_object == definition.primary_object
                assert copy.properties == definition.properties
                assert copy.tracking_method == definition.tracking_method
                assert copy.snippet == definition.snippet
        finally:
            original.close()

    def test_import_reports_refused_definitions(self, tmp_path: Path, runner: CliRunner) -> None:
        file = tmp_path / "defs.json"
        file.write_text(
            json.dumps(
                [
                    {"label": "Good one", "propertyDefinitions": []},
                    {"label": "Bad", "name": "Bad-Name", "propertyDefinitions": []},
                ]
            )
        )
        db = tmp_path / "db"
        result = runner.invoke(main, ["definitions", "import", str(file), "--db", str(db)])
        assert result.exit_code == 1
        assert "definition 2 (Bad-Name): name: Internal name 'Bad-Name' is not allowed" in (
            result.output
        )
        assert "Imported 1 event definition(s)" in result.output

    def test_export_of_a_missing_database_is_one_line(
        self, tmp_path: Path, runner: CliRunner
    ) -> None:
        result = runner.invoke(main, ["definitions", "export", "--db", str(tmp_path / "none")])
        assert result.exit_code == 1
        assert result.output.strip() == f"Error: There is no cbe database at {tmp_path / 'none'}."


class TestTimelineAndPortal:
    def test_timeline_prints_months_newest_first(self, demo_db: Path, runner: CliRunner) -> None:
        services = open_services(demo_db)
        try:
            contact = services.records.search(ObjectType.CONTACT)[0]
            count = len(services.timeline.page(contact, limit=1000).entries)
        finally:
            services.close()
        result = runner.invoke(
            main,
            ["timeline", "--db", str(demo_db), "--email", contact.email or "", "--limit", "1000"],
        )
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"{contact.display_name} <{contact.email}>")
        months = [line for line in result.output.splitlines() if line and line[0].isalpha()][1:]
        dates = [datetime.strptime(month, "%B %Y") for month in months]
        assert len(dates) >= 2
        assert dates == sorted(dates, reverse=True)
        assert sum(1 for line in result.output.splitlines() if line.startswith("  ")) == count

    def test_unknown_email(self, demo_db: Path, runner: CliRunner) -> None:
        result = runner.invoke(main, ["timeline", "--db", str(demo_db), "--email", "x@y.z"])
        assert result.exit_code == 1
        assert result.output.strip() == "Error: No contact with email 'x@y.z' exists."

    def test_portal_json_and_token_file_mode(self, tmp_path: Path, runner: CliRunner) -> None:
        result = runner.invoke(main, ["portal", "--db", str(tmp_path / "p"), "--json"])
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        assert isinstance(data["portalId"], int)
        assert len(data["accessToken"]) > 30
        token_file = tmp_path / "p" / "portal.json"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        plain = runner.invoke(main, ["portal", "--db", str(tmp_path / "p")])
        assert f"Portal id:    {data['portalId']}" in plain.output
        assert data["accessToken"] not in plain.output


class TestReports:
    def test_analyze_csv_matches_the_service(self, demo_db: Path, runner: CliRunner) -> None:
        result = runner.invoke(
            main,
            [
                "report",
                "analyze",
                "--db",
                str(demo_db),
                "--from",
                "2026-10-01",
                "--to",
                "2026-10-31",
                "--csv",
            ],
        )
        assert result.exit_code == 0, result.output
        rows = list(csv.reader(io.StringIO(result.output)))
        assert rows[0] == ["Event", "Internal name", "Completions", "Unique records"]
        services = open_services(demo_db)
        try:
            period = DateRange(date(2026, 10, 1), date(2026, 10, 31))
            expected = services.reports.analyze(period, Frequency.DAILY)
        finally:
            services.close()
        assert [(r[1], int(r[2]), int(r[3])) for r in rows[1:]] == [
            (e.definition.name, e.completions, e.unique_records) for e in expected.rows
        ]

    def test_analyze_series(self, demo_db: Path, runner: CliRunner) -> None:
        result = runner.invoke(
            main,
            [
                "report",
                "analyze",
                "--db",
                str(demo_db),
                "--from",
                "2026-10-01",
                "--to",
                "2026-10-31",
                "--frequency",
                "weekly",
                "--series",
                "--csv",
            ],
        )
        assert result.exit_code == 0, result.output
        rows = list(csv.reader(io.StringIO(result.output)))
        assert rows[0][0] == "Bucket"
        assert rows[1][0] == "2026-09-27"  # the Sunday the first week starts on
        assert len(rows) == 1 + 5

    def test_event_report_with_a_filter(self, demo_db: Path, runner: CliRunner) -> None:
        result = runner.invoke(
            main,
            [
                "report",
                "event",
                "clicked_buy_button",
                "--db",
                str(demo_db),
                "--range",
                "last_90_days",
                "--filter",
                "plan IS_ANY_OF starter",
                "--csv",
            ],
        )
        assert result.exit_code == 0, result.output
        rows = list(csv.reader(io.StringIO(result.output)))
        assert rows[0] == ["Property", "Internal name", "Value", "Completions", "Share"]
        plans = [r for r in rows[1:] if r[1] == "plan"]
        assert [r[2] for r in plans] == ["Starter"]

    def test_attribution_text(self, demo_db: Path, runner: CliRunner) -> None:
        result = runner.invoke(
            main,
            [
                "report",
                "attribution",
                "started_trial",
                "--db",
                str(demo_db),
                "--range",
                "last_90_days",
                "--dimension",
                "referrer",
            ],
        )
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[1].startswith("Referrer")

    def test_bad_input_is_one_line(self, demo_db: Path, runner: CliRunner) -> None:
        bad_range = runner.invoke(
            main, ["report", "analyze", "--db", str(demo_db), "--range", "someday"]
        )
        assert bad_range.exit_code == 1
        assert "--range 'someday' is not one of" in bad_range.output
        bad_filter = runner.invoke(
            main,
            [
                "report",
                "event",
                "clicked_buy_button",
                "--db",
                str(demo_db),
                "--filter",
                "price CONTAINS 3",
            ],
        )
        assert bad_filter.exit_code == 1
        assert "does not apply to a number property" in bad_filter.output
        assert "Traceback" not in bad_range.output + bad_filter.output


class TestRejections:
    def test_refused_lines_are_kept_listed_and_replayed(
        self, tmp_path: Path, runner: CliRunner
    ) -> None:
        db = tmp_path / "db"
        event = _definition(db)
        file = tmp_path / "events.jsonl"
        bad = {"eventName": event, "email": "ann@example.com", "properties": {"colour": "red"}}
        file.write_text(json.dumps(bad) + "\n")
        assert runner.invoke(main, ["send", str(file), "--db", str(db)]).exit_code == 1
        listed = runner.invoke(main, ["rejections", "--db", str(db)])
        assert listed.exit_code == 0, listed.output
        assert f"import send  {event}" in listed.output
        assert "properties.colour:" in listed.output and "[UNKNOWN_PROPERTY]" in listed.output
        as_json = json.loads(runner.invoke(main, ["rejections", "--db", str(db), "--json"]).output)
        assert as_json[0]["body"] == bad
        still = runner.invoke(main, ["rejections", "replay", "--db", str(db)])
        assert still.exit_code == 1 and "1 still breaks a rule" in still.output

        services = open_services(db)
        services.definitions.add_property(
            event.split("_", 1)[1], {"label": "Colour", "type": "string"}
        )
        services.close()
        replayed = runner.invoke(main, ["rejections", "--db", str(db), "replay"])
        assert replayed.exit_code == 0, replayed.output
        assert "1 request now passes (1 completion stored)" in replayed.output
        assert [values for _, _, values in _ids_and_values(db)] == [{"colour": "red"}]
        empty = runner.invoke(main, ["rejections", "--db", str(db)])
        assert "No rejected requests kept." in empty.output

    def test_the_bound_is_shown_and_set(self, tmp_path: Path, runner: CliRunner) -> None:
        db = tmp_path / "db"
        _definition(db)
        shown = runner.invoke(main, ["rejections", "bound", "--db", str(db)])
        assert "at most 1000" in shown.output
        runner.invoke(main, ["rejections", "bound", "25", "--db", str(db)])
        assert "at most 25" in runner.invoke(main, ["rejections", "bound", "--db", str(db)]).output


class TestPlan:
    def test_export_diff_apply_and_lint(self, tmp_path: Path, runner: CliRunner) -> None:
        db = tmp_path / "db"
        _definition(db)
        file = tmp_path / "plan.json"
        exported = runner.invoke(main, ["plan", "export", "--db", str(db), "-o", str(file)])
        assert exported.exit_code == 0, exported.output
        assert runner.invoke(main, ["plan", "lint", str(file)]).exit_code == 0
        same = runner.invoke(main, ["plan", "diff", str(file), "--db", str(db)])
        assert same.exit_code == 0 and "No changes." in same.output

        plan = json.loads(file.read_text())
        plan["events"][0]["properties"].pop()  # year
        plan["events"][0]["properties"].append(
            {"name": "colour", "label": "Colour", "type": "string"}
        )
        file.write_text(json.dumps(plan))
        diff = runner.invoke(main, ["plan", "diff", str(file), "--db", str(db)])
        assert diff.exit_code == 2, diff.output
        assert "BREAKING: remove property viewed_car.year" in diff.output
        assert "safe: add property viewed_car.colour: string" in diff.output
        refused = runner.invoke(main, ["plan", "apply", str(file), "--db", str(db)])
        assert refused.exit_code == 1
        assert "apply with --allow-breaking" in refused.output
        applied = runner.invoke(
            main, ["plan", "apply", str(file), "--db", str(db), "--allow-breaking"]
        )
        assert applied.exit_code == 0, applied.output
        assert "Applied 2 change(s)." in applied.output
        after = runner.invoke(main, ["plan", "diff", str(file), "--db", str(db)])
        assert "No changes." in after.output

        plan["events"][0]["name"] = "Viewed Car!"
        file.write_text(json.dumps(plan))
        lint = runner.invoke(main, ["plan", "lint", str(file)])
        assert lint.exit_code == 1
        assert "events[0].name:" in lint.output and "[NAME_FORMAT]" in lint.output


def test_send_tags_what_it_stores(tmp_path: Path, runner: CliRunner) -> None:
    db = tmp_path / "db"
    event = _definition(db)
    file = tmp_path / "one.json"
    file.write_text(json.dumps({"eventName": event, "email": "ann@example.com", "properties": {}}))
    result = runner.invoke(main, ["send", str(file), "--db", str(db), "--tag", "ci-7"])
    assert result.exit_code == 0, result.output
    services = open_services(db, create=False)
    try:
        [stored] = services.occurrences.iterate(CompletionQuery(tag="ci-7"))
        assert stored.tag == "ci-7"
    finally:
        services.close()


def test_a_command_folds_the_records_log_in_a_thread_that_its_close_waits_for(
    tmp_path: Path, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "db"
    event = _definition(db)
    file = tmp_path / "one.json"
    file.write_text(json.dumps({"eventName": event, "email": "ann@example.com", "properties": {}}))
    monkeypatch.setattr("storage.tables.FOLD_FLOOR", 1)  # the log's contact: the send's unit folds
    inline: list[str] = []
    built: list[str] = []
    finished: list[bool] = []
    fold, build, finish = LoggedTables.fold, LoggedTables.build_fold, LoggedTables.finish_fold

    def folding(self: LoggedTables) -> None:
        inline.append(threading.current_thread().name)
        fold(self)

    def building(self: LoggedTables, made: Folding) -> bool:
        built.append(threading.current_thread().name)
        return build(self, made)

    def finishing(self: LoggedTables, made: Folding) -> bool:
        finished.append(finish(self, made))
        return finished[-1]

    monkeypatch.setattr(LoggedTables, "fold", folding)
    monkeypatch.setattr(LoggedTables, "build_fold", building)
    monkeypatch.setattr(LoggedTables, "finish_fold", finishing)
    result = runner.invoke(main, ["send", str(file), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert inline == []  # no write folded
    assert built == ["cbe records fold"]
    assert finished == [True]  # done when the command returned: its close waited
    logs = sorted(p.name for p in (db / "records").glob("log-*.jsonl"))
    assert logs == [log_name(2)]  # the new snapshot's log; the first one gone
    assert (db / "records" / "snapshot.idx").exists()  # and its index
    monkeypatch.undo()
    services = open_services(db, create=False)
    try:
        [contact] = services.records.search(ObjectType.CONTACT, None)
        assert contact.email == "ann@example.com"
    finally:
        services.close()


def test_a_bad_tag_is_one_clear_line_and_stores_nothing(tmp_path: Path, runner: CliRunner) -> None:
    db = tmp_path / "db"
    event = _definition(db)
    file = tmp_path / "one.json"
    file.write_text(json.dumps({"eventName": event, "email": "ann@example.com", "properties": {}}))
    result = runner.invoke(main, ["send", str(file), "--db", str(db), "--tag", "no spaces"])
    assert result.exit_code != 0
    assert "A tag is 1 to 100 letters" in result.output
    assert _ids_and_values(db) == []


class TestPortalSetId:
    """``cbe portal set-id``: hard-coded fully qualified names of a real portal work on cbe."""

    def _filled(self, db: Path) -> str:
        """A database of portal 12345678 with an event, a completion and a workflow on it."""
        services = open_services(db, portal_id=12345678)
        try:
            make = {"label": "Make", "type": "string"}
            event = services.definitions.create(
                {"label": "Viewed Car", "propertyDefinitions": [make]}
            )
            ann = services.records.create(ObjectType.CONTACT, {"email": "ann@example.com"})
            send_one(
                services.ingestion,
                {
                    "eventName": event.fully_qualified_name,
                    "objectId": ann.id,
                    "uuid": "u1",
                    "properties": {"make": "Kia"},
                },
            )
            workflow = services.workflows.create("Nurture", ObjectType.CONTACT)
            services.workflows.update(
                workflow.id, trigger=TriggerKind.EVENT, trigger_event=event.fully_qualified_name
            )
            services.workflows.add_action(
                workflow.id,
                DelayUntilEventAction(id="a1", event_name=event.name),
            )
            return ann.id
        finally:
            services.close()

    def test_portal_set_id_renames_every_fully_qualified_name(
        self, tmp_path: Path, runner: CliRunner
    ) -> None:
        db = tmp_path / "db"
        ann = self._filled(db)
        result = runner.invoke(main, ["portal", "set-id", "87654321", "--db", str(db)])
        assert result.exit_code == 0, result.output
        assert "Portal id: 12345678 -> 87654321" in result.output
        assert "1 event definition(s), 1 completion(s), 1 workflow(s)" in result.output
        shown = json.loads(runner.invoke(main, ["portal", "--db", str(db), "--json"]).output)
        assert shown["portalId"] == 87654321

        services = open_services(db, create=False)
        try:
            [event] = services.definitions.search()
            assert event.fully_qualified_name == "pe87654321_viewed_car"
            [stored] = services.occurrences.iterate(CompletionQuery())
            assert stored.event_name == "pe87654321_viewed_car"
            [workflow] = services.db.workflows.list_workflows()
            assert workflow.trigger_event == "pe87654321_viewed_car"
            assert isinstance(workflow.actions[0], DelayUntilEventAction)
            assert workflow.actions[0].event_name == "pe87654321_viewed_car"
            # the hard-coded name of the real portal is sent as is; the stored uuid still counts
            new = {"eventName": "pe87654321_viewed_car", "objectId": ann, "properties": {}}
            send_one(services.ingestion, {**new, "uuid": "u2"})
            with pytest.raises(ValidationFailed) as again:
                send_one(services.ingestion, {**new, "uuid": "u1"})
            assert again.value.violations[0].rule is Rule.DUPLICATE_UUID
            with pytest.raises(ValidationFailed) as old:
                send_one(services.ingestion, {**new, "eventName": "pe12345678_viewed_car"})
            assert old.value.violations[0].rule is Rule.UNKNOWN_EVENT
        finally:
            services.close()

        same = runner.invoke(main, ["portal", "--db", str(db), "set-id", "87654321"])
        assert same.exit_code == 0, same.output
        assert "The portal id is 87654321 already." in same.output

    def test_portal_set_id_refuses_what_is_no_portal_id(
        self, tmp_path: Path, runner: CliRunner
    ) -> None:
        db = tmp_path / "db"
        self._filled(db)
        for bad in ("0", "-5", "1000000000000"):
            result = runner.invoke(main, ["portal", "set-id", "--db", str(db), "--", bad])
            assert result.exit_code != 0
            assert "A portal id is a whole number from 1 to 999999999999" in result.output
        missing = runner.invoke(main, ["portal", "set-id", "1", "--db", str(tmp_path / "none")])
        assert missing.exit_code != 0
        assert "There is no cbe database" in missing.output


class TestTrace:
    def test_a_refused_send_names_every_rule_and_json_is_the_apis(
        self, tmp_path: Path, runner: CliRunner
    ) -> None:
        db = tmp_path / "db"
        event = _definition(db)
        body = {
            "eventName": event,
            "email": "ann@example.com",
            "uuid": "r-1",
            "properties": {"year": "old", "colour": "\x1b[31mred"},
        }
        file = tmp_path / "one.json"
        file.write_text(json.dumps(body))
        assert runner.invoke(main, ["send", str(file), "--db", str(db)]).exit_code == 1
        result = runner.invoke(main, ["trace", "r-1", "--db", str(db)])
        assert result.exit_code == 0, result.output
        assert "Refused: received" in result.output and "from cbe send" in result.output
        assert "[INVALID_NUMBER]" in result.output and "[UNKNOWN_PROPERTY]" in result.output
        assert "\x1b" not in result.output  # what a sender wrote never reaches the terminal
        as_json = runner.invoke(main, ["trace", "r-1", "--db", str(db), "--json"])
        got = json.loads(as_json.output)
        assert got["accepted"] is False
        assert [v["code"] for v in got["refused"][0]["violations"]] == [
            "INVALID_NUMBER",
            "UNKNOWN_PROPERTY",
        ]

    def test_a_stored_send_says_how_it_matched_and_where_it_is(
        self, tmp_path: Path, runner: CliRunner
    ) -> None:
        db = tmp_path / "db"
        event = _definition(db)
        file = tmp_path / "one.json"
        body = {"eventName": event, "email": "ANN@example.com", "uuid": "k", "properties": {}}
        file.write_text(json.dumps(body))
        assert runner.invoke(main, ["send", str(file), "--db", str(db)]).exit_code == 0
        result = runner.invoke(main, ["trace", "k", "--db", str(db)])
        assert result.exit_code == 0, result.output
        assert "Accepted: " + event in result.output
        assert "Matched a contact by email 'ANN@example.com'." in result.output
        assert "Timeline: on contact 1 (ann@example.com)." in result.output

    def test_nothing_found_exits_one(self, tmp_path: Path, runner: CliRunner) -> None:
        db = tmp_path / "db"
        _definition(db)
        result = runner.invoke(main, ["trace", "never", "--db", str(db)])
        assert result.exit_code == 1
        assert "Nothing with uuid or id 'never' was received" in result.output


class TestDemoEverywhere:
    """Issue 19: `--demo` names the same database for every command, wherever it is given."""

    @pytest.fixture
    def homes(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runner: CliRunner) -> Path:
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        monkeypatch.delenv("CBE_DB", raising=False)
        built = runner.invoke(
            main, ["demo", "--contacts", "12", "--completions", "50", "--now", NOW]
        )
        assert built.exit_code == 0, built.output
        return tmp_path / "data" / "cbe"

    def _portal(self, runner: CliRunner, args: list[str]) -> dict[str, object]:
        result = runner.invoke(main, args)
        assert result.exit_code == 0, result.output
        answer: dict[str, object] = json.loads(result.output)
        return answer

    def test_portal_serve_and_timeline_take_demo_before_or_after_the_command(
        self, homes: Path, runner: CliRunner
    ) -> None:
        from core.demo import DEMO_PORTAL_ID

        for args in (["--demo", "portal", "--json"], ["portal", "--json", "--demo"]):
            answer = self._portal(runner, args)
            assert answer["portalId"] == DEMO_PORTAL_ID
            assert Path(str(answer["database"])) == homes / "demo"
        default = self._portal(runner, ["portal", "--json"])
        assert default["portalId"] != DEMO_PORTAL_ID  # the default portal is another one

        services = open_services(homes / "demo", create=False)
        try:
            email = next(r.email for r in services.records.search(ObjectType.CONTACT) if r.email)
        finally:
            services.close()
        for args in (["--demo", "timeline"], ["timeline", "--demo"]):
            shown = runner.invoke(main, [*args, "--email", email])
            assert shown.exit_code == 0, shown.output
            assert email in shown.output

    def test_every_command_that_takes_db_takes_demo(self) -> None:
        def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
            yield path, command
            if isinstance(command, click.Group):
                for name, sub in command.commands.items():
                    yield from walk(sub, f"{path} {name}")

        for path, command in walk(main, "cbe"):
            options = {o for p in command.params for o in getattr(p, "opts", [])}
            if "--db" in options:
                assert "--demo" in options, f"{path} takes --db but not --demo"

    def test_demo_and_db_together_are_refused(self, homes: Path, tmp_path: Path) -> None:
        result = CliRunner().invoke(main, ["portal", "--demo", "--db", str(tmp_path / "other")])
        assert result.exit_code != 0
        assert "--demo and --db name different databases" in result.output


def test_version_names_cbe_and_its_version(runner: CliRunner) -> None:
    from importlib.metadata import version

    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"cbe {version('cbe')}\n"
