"""Dead letters: the traces whose recomputation fails a blocking data test, set aside so every other trace
publishes.

When a build fails, each failed test's own SQL is run again in the work database to get its failing rows,
which are traced back to (tenant, trace) pairs: directly when the rows carry both ids, through the tested
model (on the columns the rows share with it), or through the staged events (for agent or tenant models).
A model that errors, or a test whose rows lead to no trace, is narrowed down by halving the traces until
the culprits stand alone. Dead letters land in `silver_dead_letters` with the failing node and reason; their
earlier silver rows stay as they were; `clawtrace silver retry` queues them again once the data or the model
is fixed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import SILVER_DEAD_LETTERS
from clawtrace_pipelines.lib.silver_pending import PENDING_DIR, PENDING_SCHEMA, PendingTraces, trace_keys

log = logging.getLogger(__name__)

_IDS = ("tenant_id", "trace_id")
# Generic tests that report a column's values under another name (dbt's built-in unique, accepted_values).
_RENAMED = ("unique_field", "value_field")
_MAX_FAILING_ROWS = 100_000


@dataclass(frozen=True)
class Failure:
    """Why a trace was set aside: the failing dbt node, its message, and how many rows failed."""

    node: str
    reason: str
    failing_rows: int


def failed_nodes(result: Any) -> list[Any]:
    """The run results of a dbt build that failed or errored (skips follow from them and are left out)."""
    return [r for r in (result.result or []) if status(r) in ("fail", "error")]


def traces_of_failures(database: Path, failed: list[Any]) -> dict[str, Failure]:
    """`tenant\\x1ftrace` -> Failure for every trace the failing tests' rows lead to (empty when none does)."""
    found: dict[str, Failure] = {}
    con = duckdb.connect(str(database))  # the build's work_session holds the file open with this configuration
    try:
        for run in failed:
            node = run.node
            sql = getattr(node, "compiled_code", None)
            if str(node.resource_type) != "test" or not sql:
                continue
            try:
                keys = _keys_of_rows(con, node, sql)
            except duckdb.Error as exc:
                log.warning("cannot trace the rows of %s back to traces: %s", node.unique_id, exc)
                continue
            failure = failure_of(run)
            for key in keys:
                found.setdefault(key, failure)
    finally:
        con.close()
    return found


def _keys_of_rows(con: duckdb.DuckDBPyConnection, node: Any, sql: str) -> list[str]:
    rows = con.execute(f"SELECT * FROM ({sql}) AS failing LIMIT {_MAX_FAILING_ROWS}").fetch_arrow_table()
    column = (node.test_metadata.kwargs or {}).get("column_name") if node.test_metadata else None
    names = [column if n in _RENAMED and column else n for n in rows.column_names]
    rows = rows.rename_columns(names)
    if not set(_IDS) <= set(names):
        rows = _through(con, rows, _model_name(node))
    if rows is None or rows.num_rows == 0:
        return []
    return sorted(set(trace_keys(rows.select(list(_IDS)).drop_null()).to_pylist()))


def _through(con: duckdb.DuckDBPyConnection, rows: pa.Table, model: str | None) -> pa.Table | None:
    """Failing rows joined to the tested model (when it has trace ids), else to the staged events."""
    for relation in ([f'main."{model}"'] if model else []) + ["staged.events"]:
        try:
            columns = [d[0] for d in con.execute(f"SELECT * FROM {relation} LIMIT 0").description]
        except duckdb.Error:
            continue
        shared = [c for c in rows.column_names if c in columns]
        if not shared or not set(_IDS) <= set(columns):
            continue
        con.register("_failing", rows.select(shared))
        try:
            on = " AND ".join(f'm."{c}" IS NOT DISTINCT FROM f."{c}"' for c in shared)
            return con.execute(
                f"SELECT DISTINCT m.tenant_id, m.trace_id FROM {relation} AS m JOIN _failing AS f ON {on}"
            ).fetch_arrow_table()
        finally:
            con.unregister("_failing")
    return None


def _model_name(node: Any) -> str | None:
    attached = getattr(node, "attached_node", None)
    return attached.rsplit(".", 1)[-1] if attached else None


def status(run: Any) -> str:
    """A dbt run result's status as its string ("pass", "fail", "error", "skipped", ...)."""
    return str(run.status.value if hasattr(run.status, "value") else run.status)


def failure_of(run: Any) -> Failure:
    """The Failure a failed or errored dbt run result stands for."""
    return Failure(run.node.unique_id, _reason(run), int(getattr(run, "failures", None) or 0))


def _reason(run: Any) -> str:
    name = run.node.unique_id.split(".")[2] if run.node.unique_id.count(".") >= 2 else run.node.unique_id
    return f"{name}: {run.message or status(run)}"


def record(settings: Settings, traces: pa.Table, failures: dict[str, Failure], now: datetime | None = None) -> int:
    """Merge the dead letters of `failures` (keys of `traces` rows) into `silver_dead_letters`."""
    if not failures:
        return 0
    keys = pa.array(sorted(failures), pa.string())
    rows = traces.filter(pc.is_in(trace_keys(traces), value_set=keys))
    at = (now or datetime.now(UTC)).astimezone(UTC)
    row_keys = trace_keys(rows).to_pylist()
    table = pa.table(
        {
            "tenant_id": rows.column("tenant_id"),
            "trace_id": rows.column("trace_id"),
            "min_ts_ms": rows.column("min_ts_ms"),
            "max_ts_ms": rows.column("max_ts_ms"),
            "failed_at": pa.array([at] * rows.num_rows, SILVER_DEAD_LETTERS.schema.field("failed_at").type),
            "node": [failures[k].node for k in row_keys],
            "reason": [failures[k].reason[:2000] for k in row_keys],
            "failing_rows": pa.array([failures[k].failing_rows for k in row_keys], pa.int64()),
        },
        schema=SILVER_DEAD_LETTERS.schema,
    )
    open_table(SILVER_DEAD_LETTERS, settings).merge(table)
    for key in row_keys:
        log.warning("dead-lettered trace %s: %s", key.replace("\x1f", "/"), failures[key].reason)
    return rows.num_rows


def clear(settings: Settings, published: pa.Table) -> int:
    """Remove the dead letters of traces that have now published (fixed data, or a fixed model)."""
    table = open_table(SILVER_DEAD_LETTERS, settings)
    if not table.exists() or published.num_rows == 0:
        return 0
    held = table.read(columns=list(_IDS))
    if held.num_rows == 0:
        return 0
    gone = held.filter(pc.is_in(trace_keys(held), value_set=trace_keys(published.select(list(_IDS)))))
    for tenant in pc.unique(gone.column("tenant_id")).to_pylist():
        ids = gone.filter(pc.equal(gone.column("tenant_id"), tenant)).column("trace_id").to_pylist()
        table.delete([("tenant_id", "=", tenant), ("trace_id", "in", ids)])
    return gone.num_rows


def dead_letters(settings: Settings) -> pa.Table:
    table = open_table(SILVER_DEAD_LETTERS, settings)
    return table.read() if table.exists() else SILVER_DEAD_LETTERS.schema.empty_table()


def retry(settings: Settings, *, tenant: str | None = None, trace: str | None = None) -> int:
    """Queue dead-lettered traces again (all, one tenant's, or one trace) and remove their dead letters; the
    next tick recomputes them and sets aside again whatever still fails. Returns how many were queued."""
    held = dead_letters(settings)
    if tenant is not None:
        held = held.filter(pc.equal(held.column("tenant_id"), tenant))
    if trace is not None:
        held = held.filter(pc.equal(held.column("trace_id"), trace))
    if held.num_rows == 0:
        return 0
    PendingTraces(LakeStorage(settings), PENDING_DIR).add(held.select(PENDING_SCHEMA.names))
    clear(settings, held)
    return held.num_rows
