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
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.io_stats import measure
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.lake.table import conform
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL, PG_TRACES, SILVER_TABLES
from clawtrace_pipelines.lib import silver_dead_letters
from clawtrace_pipelines.lib.dbt_runner import invoke_dbt
from clawtrace_pipelines.lib.lake_lock import LakeLock
from clawtrace_pipelines.lib.silver_dead_letters import Failure
from clawtrace_pipelines.lib.silver_pending import (
    PENDING_SCHEMA,
    PendingBatch,
    PendingTraces,
    event_keys,
    merge_traces,
    touched_traces,
    trace_keys,
)
from clawtrace_pipelines.lib.silver_publish import Journal, Publication, PublishCounts, moved_traces
from clawtrace_pipelines.lib.silver_stage import SilverInputs, read_inputs

log = logging.getLogger(__name__)

DBT_BUILD = ["build", "--exclude-resource-type", "unit_test"]
# Rounds of "dead-letter what the failing rows name, build the rest" before halving the traces instead.
MAPPED_ROUNDS = 3


@dataclass
class NodeOutcome:
    """One dbt node's result across the run's chunks (the worst status wins)."""

    unique_id: str
    resource_type: str
    status: str
    failures: int = 0
    message: str | None = None
    seconds: float = 0.0


@dataclass
class SilverReport:
    """What one silver run did; the Dagster asset turns it into materializations and check results."""

    mode: str
    traces: int = 0
    events_read: int = 0
    chunks: int = 0
    builds: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    moved_traces: int = 0
    dead_lettered: int = 0
    replayed_journals: int = 0
    queue_settled: int = 0
    queue_kept: int = 0
    queue_expired: int = 0
    stage_seconds: float = 0.0
    dbt_seconds: float = 0.0
    publish_seconds: float = 0.0
    seconds: float = 0.0
    # The builds that published (their tests describe the published rows).
    nodes: dict[str, NodeOutcome] = field(default_factory=dict)
    # The nodes that failed in builds that were refused (their traces were dead-lettered).
    failed_nodes: dict[str, NodeOutcome] = field(default_factory=dict)
    io: dict[str, int] = field(default_factory=dict)  # listings and lake reads (core/lake/io_stats.py)


_STATUS_RANK = {"success": 0, "pass": 0, "skipped": 1, "warn": 2, "fail": 3, "error": 4}


def run_silver(
    settings: Settings,
    *,
    hours: list[datetime] | None = None,
    full: bool = False,
    chunk_traces: int = 10_000,
    keep_workdir: Path | None = None,
) -> SilverReport:
    """Recompute silver rows for the queued traces (a tick), plus every trace with events in `hours` (a
    backfill) or every trace of the lake (`full`).

    Args:
        settings: lake location and format.
        hours: event hours whose traces are recomputed as well.
        full: recompute every trace.
        chunk_traces: traces per dbt build (bounds memory on big backfills).
        keep_workdir: copy the last work database here (debugging, tests).

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
                chunk = _Chunk(settings, report, counts, keep_workdir, needed)
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


@dataclass
class _Built:
    rows: dict[str, pa.Table] | None  # the silver models, None when the build was refused
    failures: dict[str, Failure]  # traces the failing rows lead to
    first_failure: Failure | None


class _Chunk:
    """One chunk of traces: build, dead-letter what fails, build the rest, publish."""

    def __init__(
        self,
        settings: Settings,
        report: SilverReport,
        counts: PublishCounts,
        keep_workdir: Path | None,
        needed: pa.Array,
    ) -> None:
        self.settings = settings
        self.report = report
        self.counts = counts
        self.keep_workdir = keep_workdir
        self.needed = needed
        self.seen: list[pa.Array] = []
        self.dead: list[str] = []

    def process(self, traces: pa.Table) -> None:
        t0 = time.perf_counter()
        tables = {spec.name: open_table(spec, self.settings) for spec in (EVENTS_ALL, *SILVER_TABLES)}
        inputs = read_inputs(tables, traces, self.settings.trace_max_days)
        self.report.stage_seconds += time.perf_counter() - t0
        self.report.events_read += inputs.events.num_rows
        keys = event_keys(inputs.events)
        keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
        self.seen.append(keys.filter(pc.is_in(keys, value_set=self.needed)))
        if inputs.events.num_rows == 0:
            return
        current = inputs
        built = self._build(current)
        for _ in range(MAPPED_ROUNDS):
            if built.rows is not None:
                self._publish(current, built.rows)
                return
            held = set(trace_keys(current.traces).to_pylist())
            found = {k: f for k, f in built.failures.items() if k in held}
            if not found:
                break
            self._dead_letter(current.traces, found)
            current = inputs.without(pa.array(sorted(self.dead), pa.string()))
            if current.traces.num_rows == 0:
                return
            built = self._build(current)
        if built.rows is not None:
            self._publish(current, built.rows)
            return
        # A model error, or failing rows that lead to no trace: halve the traces until the culprits stand
        # alone. Each half is read again, so it sees what the other half published (the rollup's spans).
        if current.traces.num_rows == 1:
            failure = built.first_failure or Failure("dbt", "dbt build failed", 0)
            self._dead_letter(current.traces, {trace_keys(current.traces)[0].as_py(): failure})
            return
        middle = current.traces.num_rows // 2
        for half in (current.traces.slice(0, middle), current.traces.slice(middle)):
            self.process(half)

    def _build(self, inputs: SilverInputs) -> _Built:
        t0 = time.perf_counter()
        workdir = Path(tempfile.mkdtemp(prefix="clawtrace-silver-"))
        try:
            database = workdir / "silver.duckdb"
            inputs.write(database)
            self.report.stage_seconds += time.perf_counter() - t0
            t1 = time.perf_counter()
            result = invoke_dbt(DBT_BUILD, database=database)
            self.report.dbt_seconds += time.perf_counter() - t1
            self.report.builds += 1
            failed = silver_dead_letters.failed_nodes(result)
            if failed or not result.success:
                _record_nodes(result, self.report.failed_nodes, only_failed=True)
                failures = silver_dead_letters.traces_of_failures(database, failed)
                first = failed[0] if failed else None
                return _Built(None, failures, _as_failure(first))
            _record_nodes(result, self.report.nodes)
            rows = _read_models(database)
            if self.keep_workdir is not None:
                self.keep_workdir.mkdir(parents=True, exist_ok=True)
                shutil.copy(database, self.keep_workdir / "silver.duckdb")
            return _Built(rows, {}, None)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _dead_letter(self, traces: pa.Table, failures: dict[str, Failure]) -> None:
        self.report.dead_lettered += silver_dead_letters.record(self.settings, traces, failures)
        self.dead.extend(failures)

    def _publish(self, inputs: SilverInputs, rows: dict[str, pa.Table]) -> None:
        t0 = time.perf_counter()
        built = {spec.name: conform(rows[spec.name], spec) for spec in SILVER_TABLES}
        publication = Publication(
            built=built,
            moved=moved_traces(inputs.prior, built[PG_TRACES.name]),
            rollup_days=inputs.rollup_days,
            rollup_tenants=inputs.rollup_tenants,
            graph_traces=touched_traces(inputs.events),
        )
        Journal(self.settings).publish(publication, self.counts)
        self.report.publish_seconds += time.perf_counter() - t0


def _as_failure(run: Any) -> Failure | None:
    if run is None:
        return None
    return Failure(run.node.unique_id, str(run.message or run.status), int(getattr(run, "failures", None) or 0))


def _read_models(database: Path) -> dict[str, pa.Table]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return {
            spec.name: con.execute(f'SELECT * FROM main."{spec.name}"').fetch_arrow_table() for spec in SILVER_TABLES
        }
    finally:
        con.close()


def _record_nodes(result: Any, nodes: dict[str, NodeOutcome], *, only_failed: bool = False) -> None:
    for node_result in result.result or []:
        node = node_result.node
        status = str(node_result.status.value if hasattr(node_result.status, "value") else node_result.status)
        if only_failed and status not in ("fail", "error"):
            continue
        outcome = nodes.get(node.unique_id)
        failures = int(getattr(node_result, "failures", None) or 0)
        if outcome is None:
            outcome = nodes[node.unique_id] = NodeOutcome(node.unique_id, str(node.resource_type), status)
        elif _STATUS_RANK.get(status, 5) > _STATUS_RANK.get(outcome.status, 5):
            outcome.status = status
        outcome.failures += failures
        outcome.seconds += float(node_result.execution_time or 0.0)
        if node_result.message and status not in ("success", "pass"):
            outcome.message = str(node_result.message)


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
