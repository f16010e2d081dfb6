"""Traces waiting for silver: the hand-off from bronze to silver that survives crashes.

Bronze writes one small Parquet file per commit naming the (tenant, trace) pairs it is about to add events to,
with the time range of those events, *before* committing them. Silver reads every pending file, recomputes
those traces, publishes, and only then deletes the files it read. So:

- a crash after the pending file and before the events commit makes silver recompute traces that did not
  change (harmless: recomputing is idempotent);
- a crash in silver leaves the files for the next tick;
- a bronze run racing silver writes new files, which silver did not read and so does not delete.

Not a time window or a checkpoint timestamp (the original's "now() at the end of the job" could skip rows
committed mid-run): a queue of names.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clawtrace_pipelines.core.lake.storage import LakeStorage

PENDING_DIR = "state/silver/pending"
# The same hand-off from silver to the graph: the traces whose silver rows a run published.
GRAPH_PENDING_DIR = "state/graph/pending"

PENDING_SCHEMA = pa.schema(
    [
        pa.field("tenant_id", pa.string(), nullable=False),
        pa.field("trace_id", pa.string(), nullable=False),
        pa.field("min_ts_ms", pa.int64(), nullable=False),
        pa.field("max_ts_ms", pa.int64(), nullable=False),
    ]
)


def touched_traces(events: pa.Table) -> pa.Table:
    """The (tenant, trace) pairs of `events` with the time range of their events, as `PENDING_SCHEMA`."""
    ts = events.column("event_ts_ms")
    pairs = events.select(["tenant_id", "trace_id"]).append_column("min_ts_ms", ts).append_column("max_ts_ms", ts)
    return merge_traces([pairs])


@dataclass(frozen=True)
class PendingBatch:
    """What silver read from the queue: the traces, and the files to delete once they are published."""

    traces: pa.Table
    paths: tuple[str, ...]


class PendingTraces:
    """A queue of traces under `<lake>/<directory>/` (silver's by default)."""

    def __init__(self, storage: LakeStorage, directory: str = PENDING_DIR) -> None:
        self.storage = storage
        self.directory = directory

    def add(self, traces: pa.Table, now: datetime | None = None) -> str | None:
        """Queue `traces` (`PENDING_SCHEMA` columns); returns the file written (None when empty)."""
        if traces.num_rows == 0:
            return None
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S")
        path = f"{self.directory}/{stamp}-{uuid.uuid4().hex}.parquet"
        buffer = io.BytesIO()
        pq.write_table(traces.select(PENDING_SCHEMA.names).cast(PENDING_SCHEMA), buffer)
        self.storage.write_bytes(path, buffer.getvalue())
        return path

    def read(self) -> PendingBatch:
        """Everything queued now: one row per (tenant, trace), time range widened over all files."""
        files = self.storage.ls_files(self.directory)
        tables = [pq.read_table(io.BytesIO(self.storage.read_bytes(f.path))) for f in files]
        if not tables:
            return PendingBatch(PENDING_SCHEMA.empty_table(), ())
        traces = merge_traces(tables)
        return PendingBatch(traces, tuple(f.path for f in files))

    def ack(self, batch: PendingBatch) -> None:
        """Delete the files of a batch whose traces are published."""
        for path in batch.paths:
            self.storage.fs.rm_file(self.storage.full(path))


def merge_traces(tables: list[pa.Table]) -> pa.Table:
    """One row per (tenant, trace) of several `PENDING_SCHEMA` tables, time range widened over them."""
    merged = pa.concat_tables([t.select(PENDING_SCHEMA.names).cast(PENDING_SCHEMA) for t in tables])
    grouped = merged.group_by(["tenant_id", "trace_id"], use_threads=False).aggregate(
        [("min_ts_ms", "min"), ("max_ts_ms", "max")]
    )
    return pa.table(
        {
            "tenant_id": grouped.column("tenant_id"),
            "trace_id": grouped.column("trace_id"),
            "min_ts_ms": grouped.column("min_ts_ms_min"),
            "max_ts_ms": grouped.column("max_ts_ms_max"),
        },
        schema=PENDING_SCHEMA,
    )


def trace_keys(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """One string per row joining tenant_id and trace_id, for exact membership tests across tenants."""
    return pc.binary_join_element_wise(table.column("tenant_id"), table.column("trace_id"), "\x1f")
