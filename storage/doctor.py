"""``cbe doctor``: check every file of a database folder and, when asked, repair what can be.

Checks what opening does not (it keeps opening fast by mapping indexes and never reading
segments): every segment is read whole and its sha256 compared with the manifest, and its index
is compared byte for byte with the index the segment makes. Also the manifest against the
folder, every journal line's checksum, and that ``cbe.json`` and ``portal.json`` parse.

Repairing rebuilds indexes from their segments, moves segments that cannot be read into
``damaged/``, cuts damaged journal lines, gives a folder whose ``portal.json`` is gone a new
portal, and rewrites the manifest from what is there; every completion lost is counted and named
(by segment, with the span of time it covered).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from core.clock import SystemClock
from core.models import Portal
from storage.atomic import CorruptFile, fsync_dir, write_atomically
from storage.completions.damage import lost
from storage.completions.index_file import INDEX_VERSION, read_index
from storage.completions.journal import journal_line, parse_journal_line
from storage.completions.segment_file import (
    Salvage,
    SegmentContents,
    index_segment,
    salvage_segment,
    write_salvaged,
)
from storage.locking import DatabaseLock
from storage.manifest import MANIFEST_FILE, Entry, Manifest, read_manifest, write_manifest
from storage.tables import TABLES_DIR, LoggedTables

Progress = Callable[[str], None]

_SEGMENT = re.compile(r"seg-(\d{6})\.json")
_JOURNAL = re.compile(r"journal-(\d{6})\.jsonl")
DAMAGED_DIR = "damaged"


@dataclass
class Finding:
    """One thing wrong, naming its file; ``repaired`` says what repairing did (and lost)."""

    problem: str
    repaired: str | None = None
    repairable: bool = True


@dataclass
class Report:
    folder: Path
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    repaired: bool = False

    @property
    def healthy(self) -> bool:
        return not self.findings

    @property
    def fixed(self) -> bool:
        """Repaired, and nothing left that repairing could not fix."""
        return self.repaired and all(f.repairable for f in self.findings)

    def lines(self) -> list[str]:
        out = [f"cbe doctor: {self.folder}", *(f"  ok  {c}" for c in self.checked)]
        for finding in self.findings:
            out.append(f"  !!  {finding.problem}")
            if self.repaired:
                done = finding.repaired or "not repaired: restore it from a backup"
                out.append(f"      -> {done}")
        if self.healthy:
            out.append("No damage found.")
        elif not self.repaired:
            out.append(
                f"{len(self.findings)} problem(s) found; run `cbe doctor --db {self.folder} "
                "--repair` to repair what can be (writes stay refused until then)."
            )
        elif self.fixed:
            out.append("Repaired: the database accepts writes again.")
        else:
            out.append("Some damage could not be repaired (see above).")
        return out


def doctor(folder: Path, repair: bool = False, progress: Progress | None = None) -> Report:
    """Check (and with ``repair`` repair) the database in ``folder``, under its lock."""
    say = progress or (lambda _: None)
    report = Report(folder, repaired=repair)
    with DatabaseLock(folder):
        _check_main(folder, report)
        _check_tables(folder, report)
        _check_portal(folder, report, repair)
        store = folder / "completions"
        if store.is_dir():
            _check_segments(store, folder / MANIFEST_FILE, report, repair, say)
            _check_journals(store, report, repair)
        if repair:
            fsync_dir(folder)
    return report


def _check_main(folder: Path, report: Report) -> None:
    main = folder / "cbe.json"
    try:
        data = orjson.loads(main.read_bytes())
    except FileNotFoundError:
        return
    except orjson.JSONDecodeError as error:
        report.findings.append(
            Finding(f"{main} is damaged ({error}): definitions and records", repairable=False)
        )
        return
    if not isinstance(data, dict):
        report.findings.append(Finding(f"{main} is not a cbe database file", repairable=False))
        return
    report.checked.append(f"{main.name} parses")


def _check_tables(folder: Path, report: Report) -> None:
    """The records' snapshot parses and every whole line of its log has a good checksum (a
    damaged line is left out of reads: named here, not repaired)."""
    tables = LoggedTables(folder / TABLES_DIR, DatabaseLock(folder))
    try:
        tables.refresh()
        tables.verify()
    except CorruptFile as error:
        report.findings.append(Finding(f"{error}: records", repairable=False))
        return
    finally:
        tables.close()
    for damage in tables.damage:
        report.findings.append(Finding(damage, repairable=False))
    if not tables.damage and (folder / TABLES_DIR).is_dir():
        report.checked.append(f"{TABLES_DIR}/ parses, every log line's checksum holds")


def _check_portal(folder: Path, report: Report, repair: bool) -> None:
    path = folder / "portal.json"
    try:
        Portal.model_validate(orjson.loads(path.read_bytes()))
        report.checked.append(f"{path.name} parses")
        return
    except FileNotFoundError:
        problem = f"{path} is missing"
    except (orjson.JSONDecodeError, ValueError) as error:
        problem = f"{path} is damaged ({error})"
    finding = Finding(problem)
    report.findings.append(finding)
    if not repair:
        return
    if path.exists():
        os.replace(path, path.with_name("portal.json.damaged"))
    portal = Portal.new(SystemClock().now())
    write_atomically(path, orjson.dumps(portal.to_json(), option=orjson.OPT_INDENT_2))
    finding.repaired = (
        f"a new portal {portal.portal_id} with a new access token: give senders the new token "
        "(`cbe portal` shows it); event names keep their old portal id"
    )


def _check_segments(
    store: Path, manifest_path: Path, report: Report, repair: bool, say: Progress
) -> None:
    try:
        manifest = read_manifest(manifest_path)
    except CorruptFile as error:
        report.findings.append(Finding(str(error), "rewritten from the segments"))
        manifest = None
    listed = manifest.segments if manifest is not None else {}
    removing = {n for n, e in manifest.pending.items() if e is None} if manifest else set()
    numbers = sorted(int(m.group(1)) for n in os.listdir(store) if (m := _SEGMENT.fullmatch(n)))
    entries: dict[int, Entry] = {}
    for at, number in enumerate(numbers, 1):
        path = store / f"seg-{number:06d}.json"
        say(f"checking {path.name} ({at}/{len(numbers)})")
        entry = listed.get(number)
        pending = manifest.pending.get(number) if manifest is not None else None
        raw = path.read_bytes()
        try:
            contents, index = index_segment(path, raw)
        except CorruptFile as error:
            tokens = {e.token for e in (entry, pending) if e is not None}
            saved = salvage_segment(path, tokens) if tokens else None
            if saved is not None and saved.docs:
                _salvage(store, path, number, saved, str(error), report, repair, entries)
                continue
            what = lost(entry) if entry is not None else "its completions"
            finding = Finding(f"{error}: {what} cannot be read")
            report.findings.append(finding)
            if repair:
                _move_aside(store, path)
                loss = lost(entry, "lost") if entry is not None else "its completions are lost"
                finding.repaired = f"moved to {DAMAGED_DIR}/; {loss}"
            continue
        new = _entry(raw, contents)
        entries[number] = new
        known = [e for e in (entry, pending) if e is not None and e.token == contents.token]
        if manifest is not None and not known:
            report.findings.append(
                Finding(
                    f"{path} is not in the manifest ({contents.count:,} completions)",
                    f"kept: {lost(new, 'read again')}",
                )
            )
        elif known and known[0].sha256 != new.sha256:
            expected = known[0]
            gone = expected.count - new.count
            loss = f"{gone:,} completions are lost" if gone > 0 else "no completion is lost"
            report.findings.append(
                Finding(
                    f"{path} does not match its checksum (bytes changed on disk); its "
                    f"{new.count:,} completions still read as valid documents, but a value in "
                    "one of them may have changed",
                    f"kept as it reads now; {loss}",
                )
            )
        index_path = path.with_suffix(".idx")
        try:
            on_disk = index_path.read_bytes()
        except FileNotFoundError:
            on_disk = b""
        if on_disk != index and _older_version_of(on_disk, index):
            done = "rewritten with checksums" if repair else "--repair adds checksums"
            report.checked.append(f"{path.name}: index of an earlier cbe matches ({done})")
            if repair:
                write_atomically(index_path, index)
        elif on_disk != index:
            problem = "is missing" if not on_disk else "does not match its segment (damaged)"
            report.findings.append(
                Finding(f"{index_path} {problem}", "rebuilt from its segment; nothing lost")
            )
            if repair:
                write_atomically(index_path, index)
        else:
            report.checked.append(f"{path.name}: {contents.count:,} completions, index matches")
    for number, entry in sorted(listed.items()):
        if number not in numbers and number not in removing:
            finding = Finding(
                f"{store / f'seg-{number:06d}.json'} is missing: {lost(entry, 'lost')}",
                f"removed from the manifest; {lost(entry, 'lost')}",
            )
            report.findings.append(finding)
            if repair:
                (store / f"seg-{number:06d}.idx").unlink(missing_ok=True)
    if repair:
        write_manifest(manifest_path, Manifest(entries, {}))
        fsync_dir(store)


def _salvage(
    store: Path,
    path: Path,
    number: int,
    saved: Salvage,
    error: str,
    report: Report,
    repair: bool,
    entries: dict[int, Entry],
) -> None:
    """A segment with damaged documents whose index still says where each one is: the rest
    are kept."""
    gone = Entry("", len(saved.lost), 0, "", min(saved.lost, default=0), max(saved.lost, default=0))
    finding = Finding(
        f"{error}: {len(saved.lost):,} of its {len(saved.lost) + len(saved.docs):,} "
        "completions cannot be read"
    )
    report.findings.append(finding)
    if not repair:
        return
    aside = store.parent / DAMAGED_DIR
    aside.mkdir(mode=0o700, exist_ok=True)
    os.replace(path, aside / path.name)  # the damaged file is kept for whoever wants it
    path.with_suffix(".idx").unlink(missing_ok=True)
    entries[number] = write_salvaged(path, saved)
    finding.repaired = (
        f"{len(saved.docs):,} completions kept; {lost(gone, 'lost')} (the damaged file is in "
        f"{DAMAGED_DIR}/)"
    )


def _older_version_of(old: bytes, new: bytes) -> bool:
    """Whether ``old`` is ``new`` as an earlier cbe wrote it (same columns and header, no
    checksums)."""
    try:
        before, after = read_index(old), read_index(new)
    except (ValueError, orjson.JSONDecodeError):
        return False
    if before.header.get("version", INDEX_VERSION) >= INDEX_VERSION:
        return False
    sections = {k: v[:2] for k, v in after.header["sections"].items()}
    same = {**after.header, "version": before.header["version"], "sections": sections}
    return before.header == same and bytes(before.body) == bytes(after.body)


def _entry(raw: bytes, contents: SegmentContents) -> Entry:
    return Entry(
        contents.token,
        contents.count,
        len(raw),
        hashlib.sha256(raw).hexdigest(),
        contents.first,
        contents.last,
    )


def _move_aside(store: Path, path: Path) -> None:
    aside = store.parent / DAMAGED_DIR
    aside.mkdir(mode=0o700, exist_ok=True)
    os.replace(path, aside / path.name)
    index = path.with_suffix(".idx")
    if index.exists():
        os.replace(index, aside / index.name)


def _check_journals(store: Path, report: Report, repair: bool) -> None:
    for name in sorted(os.listdir(store)):
        if not _JOURNAL.fullmatch(name):
            continue
        path = store / name
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        kept: list[bytes] = []
        bad = 0
        for number, line in enumerate(data[: max(end - 1, 0)].split(b"\n"), 1):
            if not line:
                continue
            try:
                docs = parse_journal_line(line)
            except ValueError as error:
                bad += 1
                report.findings.append(
                    Finding(
                        f"{path} line {number} is damaged ({len(line):,} bytes: {error})",
                        f"cut; the completions of that line ({_guess(line)}) are lost",
                    )
                )
                continue
            kept.append(journal_line([orjson.dumps(d) for d in docs]) if docs else b"")
        torn = len(data) - end
        if torn and repair:
            # never acknowledged (a writer killed mid-line): not damage, but cut here too
            report.checked.append(f"{name}: a torn last line ({torn} bytes, never acked) cut")
        if not bad:
            report.checked.append(f"{name}: every line's checksum matches")
            if torn and repair:
                with path.open("r+b") as handle:
                    handle.truncate(end)
                    os.fsync(handle.fileno())
        elif repair:
            write_atomically(path, b"".join(kept))


def _guess(line: bytes) -> str:
    count = line.count(b'"eventName"')
    return f"about {count:,} completions" if count else "an unknown number of completions"
