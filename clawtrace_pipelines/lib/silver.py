"""The silver step as a plain function: recompute the traces that received events, publish to the lake.

One run, for the traces bronze queued (`silver_pending`), and for backfilled hours or a full rebuild, under
the lake's silver lock (`lake_lock.py`: two runs never overlap, whichever process starts them):

1. **Repair**: apply any publish journal a crashed run left (`silver_publish.py`).
2. **Stage** (`silver_stage.py`): every event of the queued traces, their prior rows, and the spans of the
   same tenants and days, with reads bounded by dates and keys, into a fresh local DuckDB file.
3. **Transform** (dbt, in-process): `dbt build` of the staging, intermediate and silver models with their
   data tests. When a blocking test fails, the traces its failing rows lead to are dead-lettered
   (`silver_dead_letters.py`) and the rest is built again; nothing half-built reaches the lake, and one
   tenant's bad data never holds back another's.
4. **Publish** through a journal, so a crash at any point is repaired by the next run.
5. **Settle** the queue: a queue file goes only when every event it names was among the events read (or its
   trace was dead-lettered), so a bronze commit that lands mid-run is never acknowledged unseen.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.io_stats import measure
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL
from clawtrace_pipelines.lib.lake_lock import LakeLock
from clawtrace_pipelines.lib.silver_chunk import ChunkBuilder
from clawtrace_pipelines.lib.silver_pending import (
    PENDING_SCHEMA,
    PendingBatch,
    PendingTraces,
    merge_traces,
    touched_traces,
)
from clawtrace_pipelines.lib.silver_publish import Journal, PublishCounts
from clawtrace_pipelines.lib.silver_report import SilverReport

log = logging.getLogger(__name__)


def run_silver(
    settings: Settings,
    *,
    hours: list[datetime] | None = None,
    full: bool = False,
    chunk_traces: int = 10_000,
    keep_workdir: Path | None = None,
    every_test: bool = False,
) -> SilverReport:
    """Recompute silver rows for the queued traces (a tick), plus every trace with events in `hours` (a
    backfill) or every trace of the lake (`full`).

    Args:
        settings: lake location and format.
        hours: event hours whose traces are recomputed as well.
        full: recompute every trace.
        chunk_traces: traces per dbt build (bounds memory on big backfills).
        keep_workdir: copy the last work database here (debugging, tests).
        every_test: build every data test on its own (the daily reconcile tick) rather than each model's
            single-model tests in its row contract (lib/row_contracts.py); either way every test blocks.

    Returns:
        The run's counts and the dbt node results. A trace that fails a blocking test is dead-lettered and
        counted in `dead_lettered`; the run itself goes on.

    Raises:
        DbtRunError: dbt could not run at all (a parse or compile error: the project, not the data).
        LockTimeoutError: another silver run held the lake's silver lock for too long.
    """
    started = time.perf_counter()
    mode = "full" if full else "backfill" if hours is not None else "tick"
    report = SilverReport(mode=mode)
    storage = LakeStorage(settings)
    with LakeLock(storage, "silver").hold(), measure() as io:
        counts = PublishCounts()
        report.replayed_journals = Journal(settings).replay(counts)
        queue = PendingTraces(storage)
        batch = queue.read()
        traces = batch.traces
        extra = _all_traces(settings) if full else _traces_in_hours(settings, hours) if hours else None
        if extra is not None and extra.num_rows:
            traces = merge_traces([traces, extra])
        report.traces = traces.num_rows
        needed = batch.queued_event_keys()
        seen: list[pa.Array] = []
        dead: list[str] = []
        if traces.num_rows:
            # Chunks of traces close in time, so each chunk reads few dates.
            order = pc.sort_indices(traces, sort_keys=[("min_ts_ms", "ascending"), ("tenant_id", "ascending")])
            traces = traces.take(order)
            for offset in range(0, traces.num_rows, chunk_traces):
                chunk = ChunkBuilder(settings, report, counts, keep_workdir, needed, every_test)
                chunk.process(traces.slice(offset, chunk_traces))
                seen.extend(chunk.seen)
                dead.extend(chunk.dead)
                report.chunks += 1
        _settle(queue, batch, seen, dead, report)
        report.rows_written, report.rows_deleted = counts.written, counts.deleted
        report.moved_traces = counts.moved_traces
    report.io = io.metadata()
    report.seconds = time.perf_counter() - started
    log.info(
        "silver %s: %d traces (%d dead-lettered), %d events in %.2fs (stage %.2fs, dbt %.2fs, publish %.2fs)",
        mode,
        report.traces,
        report.dead_lettered,
        report.events_read,
        report.seconds,
        report.stage_seconds,
        report.dbt_seconds,
        report.publish_seconds,
    )
    return report


def _settle(queue: PendingTraces, batch: PendingBatch, seen: list[pa.Array], dead: list[str], r: SilverReport) -> None:
    settled = queue.settle(
        batch,
        pa.concat_arrays(seen) if seen else pa.array([], pa.string()),
        pa.array(sorted(set(dead)), pa.string()),
    )
    r.queue_settled, r.queue_kept, r.queue_expired = settled.settled, settled.kept, settled.expired
    if settled.kept:
        log.info("silver: %d queue files wait for events not yet committed", settled.kept)


def _all_traces(settings: Settings) -> pa.Table:
    events = open_table(EVENTS_ALL, settings).read(columns=["tenant_id", "trace_id", "event_ts_ms"])
    return touched_traces(events)


def _traces_in_hours(settings: Settings, hours: list[datetime]) -> pa.Table:
    """Traces with at least one event in the given event hours (a backfill recomputes them all)."""
    if not hours:
        return PENDING_SCHEMA.empty_table()
    hours = sorted(h.astimezone(UTC) for h in hours)
    dates = sorted({h.date() for h in hours})
    starts = {int(h.timestamp() * 1000) for h in hours}
    events = open_table(EVENTS_ALL, settings).read(
        columns=["tenant_id", "trace_id", "event_ts_ms"],
        filters=[
            ("event_date", "in", dates),
            ("event_ts_ms", ">=", min(starts)),
            ("event_ts_ms", "<", max(starts) + 3_600_000),
        ],
    )
    # Integer division: the start of each event's hour.
    hour_start = pc.multiply(pc.divide(events.column("event_ts_ms"), 3_600_000), 3_600_000)
    in_hours = pc.is_in(hour_start, value_set=pa.array(sorted(starts), pa.int64()))
    return touched_traces(events.filter(in_hours))


__all__ = ["SilverReport", "run_silver"]
