"""The bronze step as a plain function: discover raw files, apply the rules, merge `events_all`.

Order of writes (why it is crash-safe): `events_all` and `events_rejected` commit first, then the
processed-files log, then the arrival cursor. A crash in between leaves files the log lacks; the next tick
processes them again, finds their events already in the table (keyed on event_date, tenant_id, event_id)
and adds nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.io_stats import measure
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL, EVENTS_REJECTED
from clawtrace_pipelines.lib.bronze_dedup import classify, reused_rejections
from clawtrace_pipelines.lib.bronze_parse import candidate_table, parse_files, workers_for
from clawtrace_pipelines.lib.bronze_rules import ParsedFile
from clawtrace_pipelines.lib.discovery import ActiveAgents, Discovery, FileDiscovery, prune_arrivals, write_cursor
from clawtrace_pipelines.lib.lake_lock import LakeLock
from clawtrace_pipelines.lib.processed_log import LogEntry, ProcessedLog, folder_date
from clawtrace_pipelines.lib.silver_pending import PendingTraces, queued_events

log = logging.getLogger(__name__)


@dataclass
class BronzeReport:
    """What one bronze run did; the asset puts these figures in its materialization metadata."""

    mode: str
    files: int = 0
    bytes: int = 0
    records_read: int = 0
    accepted: int = 0
    rejected: int = 0
    shadow_duplicates: int = 0
    duplicates: int = 0
    missing_files: int = 0
    arrival_days_pruned: int = 0
    reused_event_ids: int = 0  # records quarantined for reusing an event id with another time
    listings: int = 0
    seconds: float = 0.0
    sources: dict[str, int] = field(default_factory=dict)
    event_dates: set[str] = field(default_factory=set)
    touched_traces: set[tuple[str, str]] = field(default_factory=set)
    processed_paths: list[str] = field(default_factory=list)
    io: dict[str, int] = field(default_factory=dict)  # listings and lake reads (core/lake/io_stats.py)

    def add(self, entry: LogEntry, size: int) -> None:
        self.files += 1
        self.bytes += size
        self.records_read += entry.records_read
        self.accepted += entry.accepted
        self.rejected += entry.rejected
        self.shadow_duplicates += entry.shadow_duplicates
        self.duplicates += entry.duplicates
        self.processed_paths.append(entry.path)


def run_bronze(
    settings: Settings,
    *,
    now: datetime | None = None,
    reconcile: bool = False,
    hours: list[datetime] | None = None,
    run_id: str | None = None,
    chunk_records: int = 100_000,
    progress: bool = False,
) -> BronzeReport:
    """Load new raw files (a tick), every file of some event hours (`hours`: a backfill), or whatever the
    log lacks anywhere (`reconcile`) into `events_all`.

    Args:
        settings: lake location and format.
        now: the tick's time (arrival cursor, lateness window, ingest_ts); defaults to the wall clock.
        reconcile: also sweep the whole raw zone.
        hours: event hours to re-process regardless of the log (a backfill); disables discovery.
        run_id: recorded in the processed-files log.
        chunk_records: records per commit, which bounds memory on big backfills.
        progress: show a progress bar on stderr.

    Returns:
        The run's counts.
    """
    # One bronze run per lake at a time: a purge holds this lock while it removes an agent's raw files and
    # rows, so no run can load a file it is deleting.
    with LakeLock(LakeStorage(settings), "bronze").hold(), measure() as io:
        report = _run_bronze(settings, now, reconcile, hours, run_id, chunk_records, progress)
    report.io = io.metadata()
    return report


def _run_bronze(
    settings: Settings,
    now: datetime | None,
    reconcile: bool,
    hours: list[datetime] | None,
    run_id: str | None,
    chunk_records: int,
    progress: bool,
) -> BronzeReport:
    started = time.perf_counter()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    storage = LakeStorage(settings)
    processed = ProcessedLog(settings)
    active = ActiveAgents(storage, settings.listing_active_days)
    discovery = FileDiscovery(storage, processed, active)
    if hours is not None:
        found = discovery.for_hours(hours)
        mode = "backfill"
    else:
        found = discovery.for_tick(
            now,
            lateness_window_hours=settings.lateness_window_hours,
            overlap_hours=settings.arrival_overlap_hours,
            reconcile=reconcile,
        )
        mode = "reconcile" if reconcile else "tick"
    report = BronzeReport(mode=mode, listings=found.listings, sources=dict(found.sources))
    fingerprints = {f.path: f.fingerprint for f in found.files if f.fingerprint}
    loader = _Loader(settings, processed, now, run_id, report, fingerprints, backfill=hours is not None)
    for files, candidates, missing in _chunks(settings, found, now, chunk_records, progress):
        for path in missing:
            # Named by an arrival record but gone (or unreadable): not logged, so a later sweep retries.
            log.warning("cannot read %s", path)
        report.missing_files += len(missing)
        loader.flush(files, candidates)
    processed.record(
        [
            LogEntry(path=a.path, kind="arrival", dt=folder_date(a.path), size=a.size, fingerprint=a.fingerprint)
            for a in found.arrivals
        ],
        processed_at=now,
        run_id=run_id,
    )
    active.update(report.processed_paths, now)
    if hours is None:
        write_cursor(storage, now)
        report.arrival_days_pruned = prune_arrivals(storage, settings.arrival_overlap_hours)
    report.seconds = time.perf_counter() - started
    return report


def _chunks(
    settings: Settings, found: Discovery, now: datetime, chunk_records: int, progress: bool
) -> Iterator[tuple[list[ParsedFile], pa.Table, list[str]]]:
    """Parsed files in chunks of about `chunk_records` candidate rows (one table commit each)."""
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(found.files), unit="file", desc="bronze", leave=False)
    files: list[ParsedFile] = []
    tables: list[pa.Table] = []
    missing: list[str] = []
    rows = 0
    workers = workers_for(settings, found.files)
    for group in parse_files(settings, found.files, now, workers):
        offset = len(files)
        files.extend(group.files)
        tables.append(
            group.rows.set_column(
                group.rows.schema.get_field_index("_file"), "_file", pc.add(group.rows.column("_file"), offset)
            )
        )
        missing.extend(group.missing)
        rows += group.rows.num_rows
        if bar is not None:
            bar.update(len(group.files) + len(group.missing))
        if rows >= chunk_records:
            yield files, pa.concat_tables(tables), missing
            files, tables, missing, rows = [], [], [], 0
    if files or missing:
        yield files, pa.concat_tables(tables) if tables else candidate_table([], now), missing
    if bar is not None:
        bar.close()


class _Loader:
    def __init__(
        self,
        settings: Settings,
        processed: ProcessedLog,
        now: datetime,
        run_id: str | None,
        report: BronzeReport,
        fingerprints: dict[str, str],
        *,
        backfill: bool = False,
    ) -> None:
        self.backfill = backfill
        self.events = open_table(EVENTS_ALL, settings)
        self.rejected = open_table(EVENTS_REJECTED, settings)
        self.processed = processed
        self.pending = PendingTraces(LakeStorage(settings))
        self.now = now
        self.run_id = run_id
        self.report = report
        # ETag or modification time as listed (absent for files named by an arrival record, never stat'ed).
        self.fingerprints = fingerprints
        self.horizon_days = settings.event_id_horizon_days
        self.excerpt_chars = settings.rejected_excerpt_chars

    def flush(self, readable: list[ParsedFile], candidates: pa.Table) -> None:
        if not readable:
            return
        file_index = candidates.column("_file").to_numpy()
        read_version = self.events.version()
        classified = classify(candidates, self.events, self.horizon_days)
        is_new = classified.new
        new_rows = candidates.filter(pa.array(is_new)).drop_columns(["_file", "line"])
        reused = reused_rejections(candidates, classified, self.excerpt_chars)
        self.report.reused_event_ids += len(reused)
        # Silver's queue first: a crash before the events commit then costs a needless recompute, never a
        # trace silver does not hear about. A backfill queues every trace of its hours, new rows or not, so
        # re-running hours re-derives silver for them.
        # (Never a record quarantined as reusing an id: its event will not land, so its queue file would wait.)
        queued = candidates.filter(pa.array(~classified.reused)) if self.backfill else new_rows
        if queued.num_rows:
            self.pending.add(queued_events(queued), self.now)
        if new_rows.num_rows:
            # The rows are new as of `read_version`: append them as the next commit, or merge when another
            # writer has committed since (the merge then skips whatever that writer inserted).
            if self.events.append_if_unchanged(new_rows, read_version):
                inserted = new_rows.num_rows
            else:
                inserted = self.events.merge(new_rows, update_matched=False).inserted
            if inserted != new_rows.num_rows:
                log.warning(
                    "concurrent writer: %d of %d new rows were already present",
                    new_rows.num_rows - inserted,
                    new_rows.num_rows,
                )
            self.report.event_dates.update(str(d) for d in pc.unique(new_rows.column("event_date")).to_pylist())
            self.report.touched_traces.update(
                zip(
                    new_rows.column("tenant_id").to_pylist(),
                    new_rows.column("trace_id").to_pylist(),
                    strict=True,
                )
            )
        rejections = [r for f in readable for r in f.rejections] + reused
        if rejections:
            # Insert-if-absent on (raw_path, line): re-processing a file leaves its quarantine rows as they were.
            self.rejected.merge(_rejected_table(rejections, self.now), update_matched=False)
        accepted_per_file = np.bincount(file_index[is_new], minlength=len(readable))
        reused_per_file = np.bincount(file_index[classified.reused], minlength=len(readable))
        entries = []
        for i, f in enumerate(readable):
            accepted = int(accepted_per_file[i])
            reused_here = int(reused_per_file[i])
            entry = LogEntry(
                path=f.path,
                kind="raw",
                dt=folder_date(f.path),
                size=f.size,
                fingerprint=self.fingerprints.get(f.path),
                records_read=f.records_read,
                accepted=accepted,
                rejected=len(f.rejections) + reused_here,
                shadow_duplicates=f.shadow_duplicates,
                duplicates=f.candidates - accepted - reused_here,
            )
            entries.append(entry)
            self.report.add(entry, f.size)
        self.processed.record(entries, processed_at=self.now, run_id=self.run_id)


def rejected_partition(raw_path: str) -> str:
    """The `events_rejected` partition of a raw file's records: its folder date, or "none"."""
    return folder_date(raw_path) or "none"


def _rejected_table(rejections: list, now: datetime) -> pa.Table:
    # One row per (raw_path, line); merged insert-if-absent, so a re-processed file keeps its first rows.
    latest = {(r.raw_path, r.line): r for r in rejections}
    rows = list(latest.values())
    derived = ("rejected_at", "dt")
    columns = {name: [getattr(r, name) for r in rows] for name in EVENTS_REJECTED.schema.names if name not in derived}
    return pa.table(
        {
            "rejected_at": pa.array([now] * len(rows), EVENTS_REJECTED.schema.field("rejected_at").type),
            **columns,
            "dt": [rejected_partition(r.raw_path) for r in rows],
        },
        schema=EVENTS_REJECTED.schema,
    )
