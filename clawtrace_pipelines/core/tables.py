"""Lake table names, merge keys, partitioning and Arrow schemas.

Each table is declared once as a `TableSpec`; both table formats create and merge from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class TableSpec:
    """A lake table: its name, Arrow schema, merge keys and partition columns."""

    name: str
    schema: pa.Schema
    keys: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    description: str = ""

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)


EVENTS_ALL = TableSpec(
    name="events_all",
    schema=pa.schema(
        [
            pa.field("ingest_ts", UTC_TS, nullable=False),
            pa.field("tenant_id", pa.string(), nullable=False),
            pa.field("agent_id", pa.string(), nullable=False),
            pa.field("event_id", pa.string(), nullable=False),
            pa.field("event_type", pa.string(), nullable=False),
            pa.field("trace_id", pa.string(), nullable=False),
            pa.field("span_id", pa.string(), nullable=False),
            pa.field("parent_span_id", pa.string()),
            pa.field("event_ts_ms", pa.int64(), nullable=False),
            pa.field("event_date", pa.date32(), nullable=False),
            pa.field("span_name", pa.string()),
            pa.field("tool_name", pa.string()),
            pa.field("model_name", pa.string()),
            pa.field("payload_json", pa.large_string(), nullable=False),
            pa.field("raw_path", pa.string(), nullable=False),
            pa.field("schema_version", pa.int32(), nullable=False),
            pa.field("received_at", UTC_TS),
            # Unknown top-level fields of the envelope and the event, kept rather than dropped (EVENTS.md).
            pa.field("extra_json", pa.string()),
        ]
    ),
    # eventId is the dedup key; tenant_id is part of it so one tenant can never suppress another's events
    # by reusing their ids, and event_date lets a merge prune partitions.
    keys=("event_date", "tenant_id", "event_id"),
    partition_by=("event_date",),
    description="Bronze: one row per distinct (tenant, event_id), validated, shadow duplicates dropped.",
)

EVENTS_REJECTED = TableSpec(
    name="events_rejected",
    schema=pa.schema(
        [
            pa.field("rejected_at", UTC_TS, nullable=False),
            pa.field("raw_path", pa.string(), nullable=False),
            pa.field("line", pa.int64(), nullable=False),
            pa.field("reason_code", pa.string(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("tenant_id", pa.string()),
            pa.field("agent_id", pa.string()),
            pa.field("event_id", pa.string()),
            pa.field("record_bytes", pa.int64(), nullable=False),
            pa.field("excerpt", pa.string(), nullable=False),
        ]
    ),
    keys=("raw_path", "line"),
    description="Quarantine: one row per raw record (file, line) that failed validation, with the reason.",
)

PROCESSED_FILES = TableSpec(
    name="processed_files",
    schema=pa.schema(
        [
            pa.field("path", pa.string(), nullable=False),
            pa.field("kind", pa.string(), nullable=False),
            pa.field("dt", pa.string(), nullable=False),
            pa.field("size", pa.int64(), nullable=False),
            pa.field("fingerprint", pa.string()),
            pa.field("records_read", pa.int64(), nullable=False),
            pa.field("accepted", pa.int64(), nullable=False),
            pa.field("rejected", pa.int64(), nullable=False),
            pa.field("shadow_duplicates", pa.int64(), nullable=False),
            pa.field("duplicates", pa.int64(), nullable=False),
            pa.field("processed_at", UTC_TS, nullable=False),
            pa.field("run_id", pa.string()),
        ]
    ),
    keys=("dt", "path"),
    # Partitioned by the folder date so a tick checks only the dates of the files it found.
    partition_by=("dt",),
    description="Pipeline bookkeeping: every raw file and arrival record processed, with its counts.",
)

ALL_TABLES: dict[str, TableSpec] = {t.name: t for t in (EVENTS_ALL, EVENTS_REJECTED, PROCESSED_FILES)}


def table_spec(name: str) -> TableSpec:
    """The spec of a known table (KeyError names the known ones)."""
    try:
        return ALL_TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {sorted(ALL_TABLES)}") from None
