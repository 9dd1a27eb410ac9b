"""The use cases of one portal, built once by the composition root and shared by every interface."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from core.analytics import ReportService
from core.clock import Clock, SystemClock
from core.definitions import DefinitionService
from core.ingestion import IdFactory, Ingestor
from core.occurrences import OccurrenceService
from core.ports import Database, MemoryPreferences, Preferences
from core.records import RecordService
from core.timeline import TimelineService
from core.workflows import WorkflowService


def random_id() -> str:
    """A new random completion id (a UUID)."""
    return str(uuid.uuid4())


@dataclass
class Services:
    """Everything the TUI, the HTTP API and the CLI may ask of cbe."""

    db: Database
    clock: Clock = field(default_factory=SystemClock)
    new_id: IdFactory = random_id
    preferences: Preferences = field(default_factory=MemoryPreferences)
    definitions: DefinitionService = field(init=False)
    ingestion: Ingestor = field(init=False)
    occurrences: OccurrenceService = field(init=False)
    records: RecordService = field(init=False)
    timeline: TimelineService = field(init=False)
    workflows: WorkflowService = field(init=False)
    reports: ReportService = field(init=False)

    def __post_init__(self) -> None:
        self.definitions = DefinitionService(self.db, self.clock)
        self.ingestion = Ingestor(self.db, self.clock, self.new_id)
        self.occurrences = OccurrenceService(self.db)
        self.records = RecordService(self.db, self.clock)
        self.timeline = TimelineService(self.db, self.occurrences, self.clock)
        self.workflows = WorkflowService(self.db, self.clock, self.occurrences)
        self.reports = ReportService(self.db, self.occurrences)
        # A completion from any path (API, collector, import) moves waiting records at once.
        self.ingestion.listeners.append(self.workflows.on_completions)
        self.timeline.activity_sources.append(self.workflows.timeline_entries)

    def close(self) -> None:
        """Release the database."""
        self.db.close()
