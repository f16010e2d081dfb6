"""The lake-table contract: one small interface, implemented by Delta (delta-rs) and Iceberg (pyiceberg)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from clawtrace_pipelines.core.tables import TableSpec

# A conjunction of simple predicates: ("col", op, value) with op in = != < <= > >= in "not in".
Filter = tuple[str, str, Any]
FILTER_OPS = frozenset({"=", "!=", "<", "<=", ">", ">=", "in", "not in"})


@dataclass(frozen=True)
class MergeStats:
    """What a merge changed: rows inserted (key not present) and rows updated (key present)."""

    inserted: int
    updated: int

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


@runtime_checkable
class LakeTable(Protocol):
    """A table in the lake, keyed and partitioned as its `TableSpec` says.

    Implementations create the table on first write, cast incoming data to the spec's schema, and never
    duplicate a key: `merge` is an upsert (or an insert-if-absent with `update_matched=False`).
    """

    spec: TableSpec

    def exists(self) -> bool:
        """Whether the table has been created."""
        ...

    def create_if_missing(self) -> None:
        """Create the empty table with the spec's schema and partitioning."""
        ...

    def merge(self, data: pa.Table, *, update_matched: bool = True) -> MergeStats:
        """Upsert `data` on the spec's keys; rows whose key exists are updated, or skipped when
        `update_matched` is False. `data` must not repeat a key."""
        ...

    def read(self, columns: Sequence[str] | None = None, filters: Sequence[Filter] | None = None) -> pa.Table:
        """Rows matching all `filters` (partition filters prune files), with the given columns."""
        ...

    def delete(self, filters: Sequence[Filter]) -> int:
        """Delete rows matching all `filters`; returns the number deleted."""
        ...

    def count(self) -> int:
        """Number of rows (0 when the table does not exist)."""
        ...

    def version(self) -> int | None:
        """The current version (Delta) or snapshot id (Iceberg); None before the first commit."""
        ...

    def compact(self) -> None:
        """Rewrite small files into larger ones."""
        ...

    def vacuum(self, retain_hours: int = 168) -> None:
        """Remove files (Delta) or snapshots (Iceberg) older than `retain_hours` that no version needs."""
        ...

    def duckdb_source(self) -> str:
        """A DuckDB table expression reading this table (`delta_scan('...')` or `iceberg_scan('...')`),
        for a connection made by `lake.duck.connect`."""
        ...
