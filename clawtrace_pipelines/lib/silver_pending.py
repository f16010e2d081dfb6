"""Traces waiting for silver: the hand-off from bronze to silver that survives crashes and concurrency.

Bronze writes one small Parquet file per commit naming the events it is about to add, with their (tenant,
trace) and time, *before* committing them. Silver reads every pending file, recomputes those traces, publishes,
and then settles a file only if every event it names was among the events silver read. So:

- a crash after the pending file and before the events commit makes silver recompute traces that did not
  change, and keeps the file until the events land (the next bronze run loads the same raw file again);
- a silver run that starts between bronze's pending file and its commit reads the file but not the events:
  it keeps the file, and the next run recomputes the trace with them (no trace is left stale);
- a crash in silver leaves the files for the next tick;
- a bronze run racing silver writes new files, which silver did not read and so does not delete.

A row without an event id (a re-queued dead letter, a graph entry) is settled once its trace is recomputed.
Not a time window or a checkpoint timestamp (the original's "now() at the end of the job" could skip rows
committed mid-run): a queue of names.
"""

from __future__ import annotations

import contextlib
import io
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clawtrace_pipelines.core.lake.storage import LakeStorage

log = logging.getLogger(__name__)

PENDING_DIR = "state/silver/pending"
_STAMP = "%Y%m%dT%H%M%S"
_WRITTEN_KEY = b"clawtrace.written_at"
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
# One row per queued event (or per trace, with a null event_id): what the file is settled against.
ENTRY_SCHEMA = pa.schema([*PENDING_SCHEMA, pa.field("event_id", pa.string())])
# Files whose events never land (their raw file was removed before it could be loaded again) are dropped
# after this long, with a warning, rather than re-staged forever.
EXPIRY = timedelta(hours=24)


def queued_events(events: pa.Table) -> pa.Table:
    """Entry rows naming each event of `events` (tenant_id, trace_id, event_id, event_ts_ms)."""
    ts = events.column("event_ts_ms")
    return pa.table(
        {
            "tenant_id": events.column("tenant_id"),
            "trace_id": events.column("trace_id"),
            "min_ts_ms": ts,
            "max_ts_ms": ts,
            "event_id": events.column("event_id"),
        },
        schema=ENTRY_SCHEMA,
    )


def touched_traces(events: pa.Table) -> pa.Table:
    """The (tenant, trace) pairs of `events` with the time range of their events, as `PENDING_SCHEMA`."""
    ts = events.column("event_ts_ms")
    pairs = events.select(["tenant_id", "trace_id"]).append_column("min_ts_ms", ts).append_column("max_ts_ms", ts)
    return merge_traces([pairs])


@dataclass(frozen=True)
class PendingFile:
    path: str
    entries: pa.Table  # ENTRY_SCHEMA
    written: datetime | None  # wall-clock time of the write (None for a file without it)


@dataclass(frozen=True)
class PendingBatch:
    """What silver read from the queue: the traces, and the files to settle once they are published."""

    traces: pa.Table
    files: tuple[PendingFile, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files)

    def queued_event_keys(self) -> pa.Array:
        """`tenant\x1fevent_id` of every queued event (what settling needs to have seen)."""
        named = [f.entries.filter(pc.is_valid(f.entries.column("event_id"))) for f in self.files]
        keys = [_array(event_keys(t)) for t in named if t.num_rows]
        return pa.concat_arrays(keys) if keys else pa.array([], pa.string())


class PendingTraces:
    """A queue of traces under `<lake>/<directory>/` (silver's by default)."""

    def __init__(self, storage: LakeStorage, directory: str = PENDING_DIR) -> None:
        self.storage = storage
        self.directory = directory

    def add(self, entries: pa.Table, now: datetime | None = None, *, name: str | None = None) -> str | None:
        """Queue `entries` (`PENDING_SCHEMA` columns, plus `event_id` to settle against events); returns the
        file written (None when empty). A `name` (`<stamp>-<id>`) makes writing the same entries again
        idempotent."""
        if entries.num_rows == 0:
            return None
        if "event_id" not in entries.column_names:
            entries = entries.append_column("event_id", pa.nulls(entries.num_rows, pa.string()))
        stamp = (now or datetime.now(UTC)).strftime(_STAMP)
        path = f"{self.directory}/{name or f'{stamp}-{uuid.uuid4().hex}'}.parquet"
        buffer = io.BytesIO()
        table = entries.select(ENTRY_SCHEMA.names).cast(ENTRY_SCHEMA)
        # The wall clock, not `now` (a backfill's or a test's time): the expiry compares it with the wall clock.
        written = {_WRITTEN_KEY: datetime.now(UTC).isoformat().encode()}
        pq.write_table(table.replace_schema_metadata(written), buffer)
        self.storage.write_bytes(path, buffer.getvalue())
        return path

    def read(self) -> PendingBatch:
        """Everything queued now: one row per (tenant, trace), time range widened over all files."""
        files = []
        for info in self.storage.ls_files(self.directory):
            table = pq.read_table(io.BytesIO(self.storage.read_bytes(info.path)))
            written = _written(table.schema.metadata or {})
            if "event_id" not in table.column_names:  # a file of an earlier release: settled by its traces
                table = table.append_column("event_id", pa.nulls(table.num_rows, pa.string()))
            files.append(PendingFile(info.path, table.select(ENTRY_SCHEMA.names).cast(ENTRY_SCHEMA), written))
        if not files:
            return PendingBatch(PENDING_SCHEMA.empty_table(), ())
        return PendingBatch(merge_traces([f.entries for f in files]), tuple(files))

    def ack(self, batch: PendingBatch) -> None:
        """Delete every file of a batch (its traces are published)."""
        self.remove([f.path for f in batch.files])

    def settle(self, batch: PendingBatch, seen: pa.Array, skipped: pa.Array, now: datetime | None = None) -> Settled:
        """Delete the files whose every event is in `seen` (`tenant\x1fevent_id` keys silver read) and whose
        traces were recomputed, or whose traces are in `skipped` (dead-lettered `tenant\x1ftrace` keys); keep
        the rest for the next run. Files past `EXPIRY` are dropped with a warning."""
        now = now or datetime.now(UTC)
        result = Settled()
        done: list[str] = []
        for f in batch.files:
            events = f.entries.filter(pc.is_valid(f.entries.column("event_id")))
            unseen = events.filter(pc.invert(pc.is_in(event_keys(events), value_set=seen)))
            if unseen.num_rows:
                unseen = unseen.filter(pc.invert(pc.is_in(trace_keys(unseen), value_set=skipped)))
            if unseen.num_rows == 0:
                done.append(f.path)
            elif f.written is not None and now - f.written > EXPIRY:
                log.warning("dropping %s: %d queued events never landed in %s", f.path, unseen.num_rows, EXPIRY)
                done.append(f.path)
                result.expired += 1
            else:
                result.kept += 1
        self.remove(done)
        result.settled = len(done) - result.expired
        return result

    def remove(self, paths: list[str]) -> None:
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                self.storage.fs.rm_file(self.storage.full(path))


@dataclass
class Settled:
    """How many queue files a run settled, kept for a later run, or dropped as expired."""

    settled: int = 0
    kept: int = 0
    expired: int = 0


def _array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _written(metadata: dict[bytes, bytes]) -> datetime | None:
    value = metadata.get(_WRITTEN_KEY)
    try:
        return datetime.fromisoformat(value.decode()) if value else None
    except ValueError:
        return None


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


def event_keys(table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """One string per row joining tenant_id and event_id."""
    return pc.binary_join_element_wise(table.column("tenant_id"), table.column("event_id"), "\x1f")
