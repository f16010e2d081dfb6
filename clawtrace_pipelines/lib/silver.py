"""The silver step as a plain function: recompute the traces that received events, publish to the lake.

One tick, for the traces bronze queued (`silver_pending`), and for backfilled hours or a full rebuild:

1. **Stage** (Python, lake reads with partition and statistics pruning): every event of those traces (not
   only the new ones: a late event changes its trace's aggregates), the prior rows of their agents and
   tenants, and the other spans of the same tenants and days (percentiles are not mergeable), plus the
   prices of the models they name. All go into the `staged` schema of a fresh local DuckDB file.
2. **Transform** (dbt, in-process): `dbt build` of the staging, intermediate and silver models, with their
   data tests. A failing test stops the publication; nothing half-built reaches the lake.
3. **Publish** (Python, through the lake-table interface): MERGE on keys for traces, spans, edges, agents and
   tenants; one replace-where commit for the rollup of the affected (tenant, day) groups.

The work grows with the touched traces and their days, not with the lake: each read names the dates
(partitions) and the time range (file statistics) it needs.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.graph.puppygraph import ENTITLEMENTS, entitlements_rows
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import (
    EVENTS_ALL,
    PG_AGENTS,
    PG_CHILD_OF_EDGES,
    PG_SPANS,
    PG_TENANTS,
    PG_TRACES,
    SILVER_TABLES,
    SPAN_ROLLUP,
)
from clawtrace_pipelines.lib.dbt_runner import invoke_dbt
from clawtrace_pipelines.lib.silver_pending import (
    GRAPH_PENDING_DIR,
    PENDING_SCHEMA,
    PendingBatch,
    PendingTraces,
    merge_traces,
    touched_traces,
    trace_keys,
)

log = logging.getLogger(__name__)

# Bronze columns the models read (the bookkeeping columns would only cost I/O).
EVENT_COLUMNS = [
    c
    for c in EVENTS_ALL.column_names
    if c not in ("ingest_ts", "raw_path", "schema_version", "received_at", "extra_json")
]
ROLLUP_SPAN_COLUMNS = [
    "tenant_id",
    "agent_id",
    "trace_id",
    "trace_date",
    "actor_type",
    "actor_label",
    "has_error",
    "duration_ms",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "cost_known",
]
PRIOR_TRACE_COLUMNS = ["tenant_id", "trace_id", "trace_date", "trace_start_ts_ms", "trace_end_ts_ms"]
DBT_BUILD = ["build", "--exclude-resource-type", "unit_test"]
DAY_MS = 86_400_000


class SilverBuildError(RuntimeError):
    """dbt could not build the silver models (a model failed, or a blocking data test failed)."""

    def __init__(self, message: str, report: SilverReport) -> None:
        super().__init__(message)
        self.report = report


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
    rows_written: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    moved_traces: int = 0
    stage_seconds: float = 0.0
    dbt_seconds: float = 0.0
    publish_seconds: float = 0.0
    seconds: float = 0.0
    nodes: dict[str, NodeOutcome] = field(default_factory=dict)

    def count(self, table: str, written: int = 0, deleted: int = 0) -> None:
        self.rows_written[table] = self.rows_written.get(table, 0) + written
        self.rows_deleted[table] = self.rows_deleted.get(table, 0) + deleted


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
        The run's counts and the dbt node results.

    Raises:
        SilverBuildError: a model failed or a blocking test failed; nothing of that chunk was published and
            the queue is kept, so the next tick retries.
    """
    started = time.perf_counter()
    mode = "full" if full else "backfill" if hours is not None else "tick"
    report = SilverReport(mode=mode)
    queue = PendingTraces(LakeStorage(settings))
    batch = queue.read()
    traces = batch.traces
    extra = _all_traces(settings) if full else _traces_in_hours(settings, hours) if hours else None
    if extra is not None and extra.num_rows:
        traces = merge_traces([traces, extra])
    report.traces = traces.num_rows
    if traces.num_rows:
        # Chunks of traces close in time, so each chunk reads few dates.
        order = pc.sort_indices(traces, sort_keys=[("min_ts_ms", "ascending"), ("tenant_id", "ascending")])
        traces = traces.take(order)
        for offset in range(0, traces.num_rows, chunk_traces):
            _recompute(settings, traces.slice(offset, chunk_traces), report, keep_workdir)
            report.chunks += 1
    queue.ack(batch)
    report.seconds = time.perf_counter() - started
    log.info(
        "silver %s: %d traces, %d events in %.2fs (stage %.2fs, dbt %.2fs, publish %.2fs)",
        mode,
        report.traces,
        report.events_read,
        report.seconds,
        report.stage_seconds,
        report.dbt_seconds,
        report.publish_seconds,
    )
    return report


def _recompute(settings: Settings, traces: pa.Table, report: SilverReport, keep_workdir: Path | None) -> None:
    t0 = time.perf_counter()
    tables = {spec.name: open_table(spec, settings) for spec in (EVENTS_ALL, *SILVER_TABLES, ENTITLEMENTS)}
    keys = trace_keys(traces)
    tenants = pc.unique(traces.column("tenant_id")).to_pylist()
    trace_ids = pc.unique(traces.column("trace_id")).to_pylist()

    prior = _only_keys(
        tables[PG_TRACES.name].read(
            columns=PRIOR_TRACE_COLUMNS, filters=[("tenant_id", "in", tenants), ("trace_id", "in", trace_ids)]
        ),
        keys,
    )
    # Every event of a trace lies between its old start and end and the new events' times.
    lo = min(_min(traces, "min_ts_ms"), _min(prior, "trace_start_ts_ms"))
    hi = max(_max(traces, "max_ts_ms"), _max(prior, "trace_end_ts_ms"))
    dates = sorted(_trace_days(traces, prior))
    events = _only_keys(
        tables[EVENTS_ALL.name].read(
            columns=EVENT_COLUMNS,
            filters=[
                ("event_date", "in", dates),
                ("event_ts_ms", ">=", lo),
                ("event_ts_ms", "<=", hi),
                ("tenant_id", "in", tenants),
                ("trace_id", "in", trace_ids),
            ],
        ),
        keys,
    )
    report.events_read += events.num_rows
    if events.num_rows == 0:
        return

    # The (tenant, day) groups whose rollup changes: the recomputed traces' old and new days.
    starts = events.group_by(["tenant_id", "trace_id"], use_threads=False).aggregate([("event_ts_ms", "min")])
    new_days = {_day(ms) for ms in starts.column("event_ts_ms_min").to_pylist()}
    rollup_days = sorted(new_days | set(prior.column("trace_date").to_pylist()))
    rollup_tenants = pc.unique(events.column("tenant_id")).to_pylist()
    rollup_scope = [("day", "in", rollup_days), ("tenant_id", "in", rollup_tenants)]
    other_spans = tables[PG_SPANS.name].read(
        columns=ROLLUP_SPAN_COLUMNS, filters=[("trace_date", "in", rollup_days), ("tenant_id", "in", rollup_tenants)]
    )
    other_spans = other_spans.filter(pc.invert(pc.is_in(trace_keys(other_spans), value_set=keys)))
    agents = pc.unique(events.column("agent_id")).to_pylist()
    prior_agents = tables[PG_AGENTS.name].read(
        filters=[("tenant_id", "in", rollup_tenants), ("agent_id", "in", agents)]
    )
    prior_tenants = tables[PG_TENANTS.name].read(filters=[("tenant_id", "in", rollup_tenants)])

    workdir = Path(tempfile.mkdtemp(prefix="clawtrace-silver-"))
    try:
        database = workdir / "silver.duckdb"
        _stage(
            database,
            {
                "events": events,
                "prior_pg_agents": prior_agents,
                "prior_pg_tenants": prior_tenants,
                "prior_spans": other_spans,
            },
        )
        report.stage_seconds += time.perf_counter() - t0

        t1 = time.perf_counter()
        result = invoke_dbt(DBT_BUILD, database=database)
        report.dbt_seconds += time.perf_counter() - t1
        _record_nodes(result, report)
        failed = [n for n in report.nodes.values() if n.status in ("error", "fail") or n.status == "skipped"]
        if failed or not result.success:
            detail = "; ".join(f"{n.unique_id}: {n.status} {n.message or ''}".strip() for n in failed[:10])
            raise SilverBuildError(f"dbt build failed, nothing published: {detail or 'see dbt logs'}", report)
        built = _read_models(database)
        if keep_workdir is not None:
            keep_workdir.mkdir(parents=True, exist_ok=True)
            shutil.copy(database, keep_workdir / "silver.duckdb")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    t2 = time.perf_counter()
    _publish(tables, prior, built, rollup_scope, report)
    # The graph's queue, after the tables: the graph projection then reads rows that are already there.
    PendingTraces(LakeStorage(settings), GRAPH_PENDING_DIR).add(touched_traces(events))
    report.publish_seconds += time.perf_counter() - t2


def _stage(database: Path, tables: dict[str, pa.Table]) -> None:
    """Write the staged inputs and the price tables of the models they name into the work database."""
    from clawtrace_pipelines.core.pricing import price_tables

    con = duckdb.connect(str(database))
    try:
        con.execute("CREATE SCHEMA staged")
        for name, table in tables.items():
            con.register("_incoming", table)
            con.execute(f'CREATE TABLE staged."{name}" AS SELECT * FROM _incoming')
            con.unregister("_incoming")
        # Every provider seen with every model seen: covers whichever pair a span ends up with.
        providers = [
            row[0]
            for row in con.execute(
                """
                SELECT DISTINCT nullif(trim(json_extract_string(payload_json, '$.provider')), '')
                FROM staged.events WHERE contains(payload_json, '"provider"')
                """
            ).fetchall()
        ]
        models = [
            row[0]
            for row in con.execute(
                """
                SELECT DISTINCT m FROM (
                    SELECT nullif(trim(coalesce(model_name, json_extract_string(payload_json, '$.model'))), '') AS m
                    FROM staged.events WHERE model_name IS NOT NULL OR contains(payload_json, '"model"')
                ) WHERE m IS NOT NULL
                """
            ).fetchall()
        ]
        pairs = [(p, m) for m in models for p in {*providers, None}]
        for name, table in price_tables(pairs).items():
            con.register("_incoming", table)
            con.execute(f'CREATE TABLE staged."{name}" AS SELECT * FROM _incoming')
            con.unregister("_incoming")
    finally:
        con.close()


def _read_models(database: Path) -> dict[str, pa.Table]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return {
            spec.name: con.execute(f'SELECT * FROM main."{spec.name}"').fetch_arrow_table() for spec in SILVER_TABLES
        }
    finally:
        con.close()


def _publish(
    tables: dict[str, Any],
    prior: pa.Table,
    built: dict[str, pa.Table],
    rollup_scope: list[tuple[str, str, Any]],
    report: SilverReport,
) -> None:
    traces = built[PG_TRACES.name]
    # A late event earlier than a trace's start can move it to another day (another partition): its old
    # rows are deleted by exact (day, tenant, traces) so the merge below does not leave a copy behind.
    new_day = dict(zip(trace_keys(traces).to_pylist(), traces.column("trace_date").to_pylist(), strict=True))
    moved: dict[tuple[date, str], list[str]] = {}
    for key, old_day, tenant, trace in zip(
        trace_keys(prior).to_pylist(),
        prior.column("trace_date").to_pylist(),
        prior.column("tenant_id").to_pylist(),
        prior.column("trace_id").to_pylist(),
        strict=True,
    ):
        if key in new_day and new_day[key] != old_day:
            moved.setdefault((old_day, tenant), []).append(trace)
    for (old_day, tenant), ids in moved.items():
        report.moved_traces += len(ids)
        for spec in (PG_TRACES, PG_SPANS, PG_CHILD_OF_EDGES):
            deleted = tables[spec.name].delete(
                [("trace_date", "=", old_day), ("tenant_id", "=", tenant), ("trace_id", "in", ids)]
            )
            report.count(spec.name, deleted=deleted)
    for spec in (PG_TRACES, PG_SPANS, PG_CHILD_OF_EDGES, PG_AGENTS, PG_TENANTS):
        stats = tables[spec.name].merge(built[spec.name])
        report.count(spec.name, written=stats.changed)
    deleted = tables[SPAN_ROLLUP.name].replace(rollup_scope, built[SPAN_ROLLUP.name])
    report.count(SPAN_ROLLUP.name, written=built[SPAN_ROLLUP.name].num_rows, deleted=deleted)
    # PuppyGraph's row-level security reads which graph user may see which tenant from the lake.
    stats = tables[ENTITLEMENTS.name].merge(entitlements_rows(built[PG_TENANTS.name]))
    report.count(ENTITLEMENTS.name, written=stats.changed)


def _record_nodes(result: Any, report: SilverReport) -> None:
    for node_result in result.result or []:
        node = node_result.node
        status = str(node_result.status.value if hasattr(node_result.status, "value") else node_result.status)
        outcome = report.nodes.get(node.unique_id)
        failures = int(getattr(node_result, "failures", None) or 0)
        if outcome is None:
            outcome = report.nodes[node.unique_id] = NodeOutcome(node.unique_id, str(node.resource_type), status)
        elif _STATUS_RANK.get(status, 5) > _STATUS_RANK.get(outcome.status, 5):
            outcome.status = status
        outcome.failures += failures
        outcome.seconds += float(node_result.execution_time or 0.0)
        if node_result.message and status not in ("success", "pass"):
            outcome.message = str(node_result.message)


def _only_keys(table: pa.Table, keys: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Rows whose (tenant, trace) is one of `keys` (the pushed-down filters are per column, so a tenant's
    trace id could otherwise bring in another tenant's trace of the same id)."""
    if table.num_rows == 0:
        return table
    return table.filter(pc.is_in(trace_keys(table), value_set=keys))


def _trace_days(traces: pa.Table, prior: pa.Table) -> set[date]:
    """Every UTC day between a trace's earliest and latest known event, over all traces."""
    days: set[date] = set()
    ranges = [(traces.column("min_ts_ms"), traces.column("max_ts_ms"))]
    if prior.num_rows:
        ranges.append((prior.column("trace_start_ts_ms"), prior.column("trace_end_ts_ms")))
    for lows, highs in ranges:
        lo_days = np.asarray(lows.to_numpy()) // DAY_MS
        hi_days = np.asarray(highs.to_numpy()) // DAY_MS
        for first, last in set(zip(lo_days.tolist(), hi_days.tolist(), strict=True)):
            days.update(_epoch_day(d) for d in range(first, last + 1))
    return days


def _epoch_day(days: int) -> date:
    return date(1970, 1, 1) + timedelta(days=days)


def _day(ts_ms: int) -> date:
    return _epoch_day(ts_ms // DAY_MS)


def _min(table: pa.Table, column: str) -> int:
    value = pc.min(table.column(column)).as_py() if table.num_rows else None
    return int(value) if value is not None else 2**62


def _max(table: pa.Table, column: str) -> int:
    value = pc.max(table.column(column)).as_py() if table.num_rows else None
    return int(value) if value is not None else -(2**62)


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


__all__ = ["PendingBatch", "SilverBuildError", "SilverReport", "run_silver"]
