"""``cbe copy --from A --to B`` on two folders: a whole copy that reads back the same, a copy
killed part-way and finished by the next run, a refusal, and ``--json``."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.bootstrap import open_services
from cli.copy import shown
from cli.main import main
from core.copying import COMPLETIONS, portal_counts
from core.models import CrmRecord, ObjectType
from tests.conftest import NOW
from tests.postgres import fresh_database_url

DEMO_NOW = "2026-11-01T12:00:00+00:00"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def demo(tmp_path: Path, runner: CliRunner) -> Path:
    path = tmp_path / "demo"
    built = runner.invoke(
        main,
        ["demo", "--db", str(path), "--contacts", "20", "--completions", "1500", "--now", DEMO_NOW],
    )
    assert built.exit_code == 0, built.output
    return path


def _counts(path: Path) -> dict[str, int]:
    services = open_services(path, create=False)
    try:
        return portal_counts(services.db)
    finally:
        services.close()


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_a_copy_prints_the_counts_of_both_and_says_they_were_verified(
    demo: Path, tmp_path: Path, runner: CliRunner
) -> None:
    source_files = _fingerprint(demo)
    copy = tmp_path / "copy"

    result = runner.invoke(main, ["copy", "--from", str(demo), "--to", str(copy)])

    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no bar where stderr is not a terminal
    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"Copied portal 24681357 from {demo} to {copy}: "
        f"{sum(_counts(demo).values()):,} items written."
    )
    assert lines[1].split() == ["source", "destination", "written"]
    assert "completions                1,500        1,500        1,500" in lines
    assert lines[-1] == "Verified: the destination holds as much of every kind as the source."
    assert _counts(copy) == _counts(demo)
    assert _fingerprint(demo) == source_files  # the source never written to


REPORTS = [
    ["report", "analyze", "--from", "2026-08-01", "--to", "2026-11-01"],
    ["report", "analyze", "--from", "2026-08-01", "--to", "2026-11-01", "--series", "--csv"],
    ["report", "event", "clicked_buy_button", "--from", "2026-08-01", "--to", "2026-11-01"],
    ["report", "attribution", "started_trial", "--from", "2026-08-01", "--to", "2026-11-01"],
    ["definitions", "export"],
    ["rejections", "--json"],
]


def test_the_demo_copied_gives_the_same_reports_timelines_and_definitions(
    demo: Path, tmp_path: Path, runner: CliRunner
) -> None:
    copy = tmp_path / "copy"
    assert runner.invoke(main, ["copy", "--from", str(demo), "--to", str(copy)]).exit_code == 0
    services = open_services(demo, create=False)
    try:
        emails = [c.email for c in services.db.records.list_records(ObjectType.CONTACT)][:5]
    finally:
        services.close()
    commands = REPORTS + [
        ["timeline", "--email", email or "", "--expand", "--limit", "1000"] for email in emails
    ]
    for command in commands:
        original = runner.invoke(main, [*command, "--db", str(demo)])
        copied = runner.invoke(main, [*command, "--db", str(copy)])
        assert original.exit_code == 0, original.output
        assert original.output.strip(), command
        assert copied.output == original.output, command


def test_the_demo_moved_to_postgresql_and_back_gives_the_same_reports(
    demo: Path, tmp_path: Path, runner: CliRunner
) -> None:
    server = fresh_database_url()
    back = tmp_path / "back"
    to_server = runner.invoke(main, ["copy", "--from", str(demo), "--to", server])
    assert to_server.exit_code == 0, to_server.output
    assert to_server.stdout.splitlines()[-1] == (
        "Verified: the destination holds as much of every kind as the source."
    )
    from_server = runner.invoke(main, ["copy", "--from", server, "--to", str(back)])
    assert from_server.exit_code == 0, from_server.output
    assert _counts(back) == _counts(demo)
    for command in REPORTS:
        original = runner.invoke(main, [*command, "--db", str(demo)])
        on_server = runner.invoke(main, [*command, "--db", server])
        returned = runner.invoke(main, [*command, "--db", str(back)])
        assert original.exit_code == 0, original.output
        assert on_server.output == original.output, command
        assert returned.output == original.output, command


_KILLED_AT_600 = """
import os, signal, sys
import cli.copy

copy_portal = cli.copy.copy_portal

def killed_at_600(source, destination, *, batch, progress):
    def progress(kind, done, total):
        if kind == "completions" and done >= 600:
            os.kill(os.getpid(), signal.SIGKILL)
    return copy_portal(source, destination, batch=batch, progress=progress)

cli.copy.copy_portal = killed_at_600
from cli.main import main
main(sys.argv[1:])
"""


def test_a_copy_killed_part_way_is_finished_by_running_it_again(
    demo: Path, tmp_path: Path, runner: CliRunner
) -> None:
    copy = tmp_path / "copy"
    args = ["copy", "--from", str(demo), "--to", str(copy), "--batch", "100"]
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_AT_600, *args], capture_output=True, check=False
    )
    assert killed.returncode == -9, killed.stderr
    assert _counts(copy)[COMPLETIONS] == 600  # six whole batches

    again = runner.invoke(main, [*args, "--json"])

    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert report["resumed"] and report["verified"]
    assert report["counts"][COMPLETIONS] == {
        "source": 1500,
        "destination": 1500,
        "written": 900,
    }
    assert report["counts"]["contacts"]["written"] == 0  # copied before the kill
    assert _counts(copy) == _counts(demo)


def test_copying_into_another_portals_database_is_refused_and_changes_nothing(
    demo: Path, tmp_path: Path, runner: CliRunner
) -> None:
    other = tmp_path / "other"
    services = open_services(other, portal_id=555)
    services.db.records.insert(
        CrmRecord(object_type=ObjectType.CONTACT, id="1", created_at=NOW, updated_at=NOW)
    )
    services.close()
    before = _fingerprint(other)

    result = runner.invoke(main, ["copy", "--from", str(demo), "--to", str(other)])

    assert result.exit_code == 1
    assert result.output == (
        "Error: The destination other holds portal 555's data, not portal 24681357's. cbe copy "
        "writes only into a new or empty database, or finishes a copy of this same source that "
        "was stopped. Copy into another (new) database, or delete this one first; nothing was "
        "written to it.\n"
    )
    assert _fingerprint(other) == before


def test_another_demo_database_is_refused_though_its_portal_id_is_the_same(
    demo: Path, tmp_path: Path, runner: CliRunner
) -> None:
    other = tmp_path / "other"
    built = runner.invoke(main, ["demo", "--db", str(other), "--completions", "10"])
    assert built.exit_code == 0, built.output

    result = runner.invoke(main, ["copy", "--from", str(demo), "--to", str(other)])

    assert result.exit_code == 1
    assert "holds other data of portal 24681357 (another database with this portal id" in (
        result.output
    )


def test_json_gives_every_count_and_a_second_run_writes_nothing(
    demo: Path, tmp_path: Path, runner: CliRunner
) -> None:
    copy = tmp_path / "copy"
    first = json.loads(
        runner.invoke(main, ["copy", "--from", str(demo), "--to", str(copy), "--json"]).stdout
    )
    assert first["portalId"] == 24681357 and first["verified"] and not first["resumed"]
    assert first["written"] == sum(c["source"] for c in first["counts"].values())
    assert first["counts"]["contacts"] == {"source": 20, "destination": 20, "written": 20}

    second = runner.invoke(main, ["copy", "--from", str(demo), "--to", str(copy)])
    assert second.exit_code == 0, second.output
    assert "nothing to write, the destination held it all already." in second.output


def test_a_copy_onto_itself_or_from_nowhere_is_refused(
    demo: Path, tmp_path: Path, runner: CliRunner
) -> None:
    itself = runner.invoke(main, ["copy", "--from", str(demo), "--to", str(demo) + "/"])
    assert itself.exit_code == 1
    assert f"--from and --to are the same database ({demo})." in itself.output
    nowhere = runner.invoke(
        main, ["copy", "--from", str(tmp_path / "none"), "--to", str(tmp_path / "b")]
    )
    assert nowhere.exit_code == 1
    assert "There is no cbe database at" in nowhere.output
    assert not (tmp_path / "b").exists()


def test_a_database_url_is_shown_without_its_password() -> None:
    assert shown("postgresql://cbe:secret@db:5432/cbe") == "postgresql://cbe:***@db:5432/cbe"
    assert shown("postgresql://cbe@db/cbe") == "postgresql://cbe@db/cbe"
    assert shown("/data/cbe") == "/data/cbe"
