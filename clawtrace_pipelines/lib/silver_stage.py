"""Silver's inputs for a set of traces, read from the lake with bounded reads, and staged into a work DuckDB.

Every read names the partitions (dates) and keys it needs, so a tick's I/O follows its new data:

- prior `pg_traces` rows: the queued traces, in the dates within `trace_max_days` of each trace's queued
  events (no trace spans longer, so its start date is among them);
- bronze events: those traces, in the days between their earliest and latest known event, in that time range;
- the spans of the same (tenant, day) groups (for the rollup's percentiles, which are not mergeable, and
  llm_spend_daily, replaced by the same groups);
- the prior rows of their agents and tenants, by key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.lake import LakeTable
from clawtrace_pipelines.core.tables import EVENTS_ALL, PG_AGENTS, PG_SPANS, PG_TENANTS, PG_TRACES
from clawtrace_pipelines.lib.silver_pending import trace_keys

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
    # llm_spend_daily groups by them.
    "provider",
    "model",
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
DAY_MS = 86_400_000


@dataclass(frozen=True)
class SilverInputs:
    """What one dbt build of some traces reads. `without(keys)` drops traces (dead letters) in memory."""

    traces: pa.Table  # the queued (tenant, trace) pairs with their time range (PENDING_SCHEMA)
    prior: pa.Table  # their pg_traces rows before this run (PRIOR_TRACE_COLUMNS)
    events: pa.Table  # every bronze event of those traces (EVENT_COLUMNS)
    scope_spans: pa.Table  # every published span of the rollup's (tenant, day) groups (ROLLUP_SPAN_COLUMNS)
    prior_agents: pa.Table
    prior_tenants: pa.Table
    rollup_days: list[date]
    rollup_tenants: list[str]

    @property
    def keys(self) -> pa.Array | pa.ChunkedArray:
        return trace_keys(self.traces)

    def without(self, drop: pa.Array) -> SilverInputs:
        """The same inputs less the traces `drop` names (`tenant\\x1ftrace` keys); their published spans stay
        in the rollup's other spans, as their published rows stay in the lake."""
        return replace(
            self,
            traces=_drop(self.traces, drop),
            prior=_drop(self.prior, drop),
            events=_drop(self.events, drop),
        )

    def other_spans(self) -> pa.Table:
        """Published spans of the rollup's groups that this build does not recompute."""
        spans = self.scope_spans
        if spans.num_rows == 0:
            return spans
        return spans.filter(pc.invert(pc.is_in(trace_keys(spans), value_set=self.keys)))

    def write(self, database: Path) -> None:
        """Stage the inputs and the price tables of the models they name into the work database."""
        stage(
            database,
            {
                "events": self.events,
                "prior_pg_agents": self.prior_agents,
                "prior_pg_tenants": self.prior_tenants,
                "prior_spans": self.other_spans(),
            },
        )


def read_inputs(tables: dict[str, LakeTable], traces: pa.Table, trace_max_days: int) -> SilverInputs:
    """Read what recomputing `traces` needs (see the module docstring for the bounds)."""
    keys = trace_keys(traces)
    tenants = pc.unique(traces.column("tenant_id")).to_pylist()
    trace_ids = pc.unique(traces.column("trace_id")).to_pylist()
    by_trace = [("tenant_id", "in", tenants), ("trace_id", "in", trace_ids)]
    # A trace starts at most `trace_max_days` before any of its events, and an event earlier than its start
    # (a late one) can move it back at most as far.
    start_days = _days_between(
        np.asarray(traces.column("min_ts_ms").to_numpy()) // DAY_MS - trace_max_days,
        np.asarray(traces.column("max_ts_ms").to_numpy()) // DAY_MS + trace_max_days,
    )
    prior = only_keys(
        tables[PG_TRACES.name].read(
            columns=PRIOR_TRACE_COLUMNS, filters=[("trace_date", "in", sorted(start_days)), *by_trace]
        ),
        keys,
    )
    # Every event of a trace lies between its old start and end and the new events' times.
    lo = min(_min(traces, "min_ts_ms"), _min(prior, "trace_start_ts_ms"))
    hi = max(_max(traces, "max_ts_ms"), _max(prior, "trace_end_ts_ms"))
    event_days = _days_between(
        traces.column("min_ts_ms").to_numpy() // DAY_MS, traces.column("max_ts_ms").to_numpy() // DAY_MS
    )
    if prior.num_rows:
        event_days |= _days_between(
            prior.column("trace_start_ts_ms").to_numpy() // DAY_MS, prior.column("trace_end_ts_ms").to_numpy() // DAY_MS
        )
    events = only_keys(
        tables[EVENTS_ALL.name].read(
            columns=EVENT_COLUMNS,
            filters=[
                ("event_date", "in", sorted(event_days)),
                ("event_ts_ms", ">=", lo),
                ("event_ts_ms", "<=", hi),
                *by_trace,
            ],
        ),
        keys,
    )
    # The (tenant, day) groups whose rollup changes: the recomputed traces' old and new days.
    if events.num_rows:
        starts = events.group_by(["tenant_id", "trace_id"], use_threads=False).aggregate([("event_ts_ms", "min")])
        new_days = {_day(ms) for ms in starts.column("event_ts_ms_min").to_pylist()}
    else:
        new_days = set()
    rollup_days = sorted(new_days | set(prior.column("trace_date").to_pylist()))
    rollup_tenants = pc.unique(events.column("tenant_id")).to_pylist()
    scope = [("trace_date", "in", rollup_days), ("tenant_id", "in", rollup_tenants)]
    agents = pc.unique(events.column("agent_id")).to_pylist()
    return SilverInputs(
        traces=traces,
        prior=prior,
        events=events,
        scope_spans=tables[PG_SPANS.name].read(columns=ROLLUP_SPAN_COLUMNS, filters=scope),
        prior_agents=tables[PG_AGENTS.name].read(
            filters=[("tenant_id", "in", rollup_tenants), ("agent_id", "in", agents)]
        ),
        prior_tenants=tables[PG_TENANTS.name].read(filters=[("tenant_id", "in", rollup_tenants)]),
        rollup_days=rollup_days,
        rollup_tenants=rollup_tenants,
    )


def write_staged(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Write `tables` into the `staged` schema of a work database (silver's and billing's)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS staged")
    for name, table in tables.items():
        con.register("_incoming", table)
        con.execute(f'CREATE OR REPLACE TABLE staged."{name}" AS SELECT * FROM _incoming')
        con.unregister("_incoming")


def stage(database: Path, tables: dict[str, pa.Table]) -> None:
    """Write `tables` into the `staged` schema of `database`, plus the prices of the models they name."""
    from clawtrace_pipelines.core.pricing import price_tables

    con = duckdb.connect(str(database))
    try:
        write_staged(con, tables)
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


def only_keys(table: pa.Table, keys: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Rows whose (tenant, trace) is one of `keys` (the pushed-down filters are per column, so a tenant's
    trace id could otherwise bring in another tenant's trace of the same id)."""
    if table.num_rows == 0:
        return table
    return table.filter(pc.is_in(trace_keys(table), value_set=keys))


def _drop(table: pa.Table, keys: pa.Array) -> pa.Table:
    if table.num_rows == 0 or len(keys) == 0:
        return table
    return table.filter(pc.invert(pc.is_in(trace_keys(table), value_set=keys)))


def _days_between(first_days: np.ndarray, last_days: np.ndarray) -> set[date]:
    """Every UTC day from each first day to its last day (epoch day numbers), over all pairs."""
    days: set[date] = set()
    for first, last in set(zip(np.asarray(first_days).tolist(), np.asarray(last_days).tolist(), strict=True)):
        days.update(epoch_day(d) for d in range(first, last + 1))
    return days


def epoch_day(days: int) -> date:
    return date(1970, 1, 1) + timedelta(days=days)


def _day(ts_ms: int) -> date:
    return epoch_day(ts_ms // DAY_MS)


def _min(table: pa.Table, column: str) -> int:
    value = pc.min(table.column(column)).as_py() if table.num_rows else None
    return int(value) if value is not None else 2**62


def _max(table: pa.Table, column: str) -> int:
    value = pc.max(table.column(column)).as_py() if table.num_rows else None
    return int(value) if value is not None else -(2**62)
