"""Delta Lake tables through delta-rs: the `LakeTable` contract on `<lake>/tables/<name>/`.

delta-rs facts this module relies on (deltalake 1.6):

- `merge(..., streamed_exec=True)` (the default) skips the source statistics that derive the early
  partition-pruning predicate, so every file of the table is scanned; `streamed_exec=False` prunes to the
  partitions present in the source when the merge predicate names the partition column.
- Reading through `to_pyarrow_dataset()` wraps the object store in a Python filesystem that can abort the
  interpreter at exit; `DeltaTable.scan(predicate=...)` reads with DataFusion instead, pruning partitions
  and filtering rows, and returns `string_view` columns that are cast back to the spec's types.
- A `write_deltalake(mode="error")` that loses the race to create a table is retried as an append on top of
  the winner's version, so a table is created empty and then merged into, never created by writing data.
- A MERGE that changes no row makes no commit (the version stays), as does a DELETE that matches nothing.
- `DeltaTable.is_deltatable` keeps the GIL during its object-store requests (the other calls release it).
- S3 commits use conditional PUT (`If-None-Match`), which moto and real S3 both honour, so no locking
  provider or `AWS_S3_ALLOW_UNSAFE_RENAME` is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import deltalake
import pyarrow as pa
import pyarrow.compute as pc
from deltalake.exceptions import CommitFailedError, DeltaError
from deltalake.exceptions import TableNotFoundError as DeltaTableNotFoundError

from clawtrace_pipelines.core.errors import TableNotFoundError
from clawtrace_pipelines.core.lake import io_stats
from clawtrace_pipelines.core.lake.filters import arrow_expression, split_pushdown
from clawtrace_pipelines.core.lake.storage import delta_storage_options
from clawtrace_pipelines.core.lake.table import (
    Filter,
    MergeStats,
    check_columns,
    check_filters,
    check_unique_keys,
    check_within,
    conform,
    sorted_for_write,
)
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import TableSpec

logger = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 5
_SQL_OPS = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "in": "IN", "not in": "NOT IN"}


class DeltaTable:
    """A lake table stored as a Delta table (created on first write, partitioned as the spec says).

    Args:
        spec: the table's name, schema, keys and partition columns.
        settings: where the lake is and how to reach it.
    """

    def __init__(self, spec: TableSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.uri = settings.lake_path("tables", spec.name)
        self._options = delta_storage_options(settings)
        self._table: deltalake.DeltaTable | None = None

    def _load(self) -> deltalake.DeltaTable | None:
        """The table at its latest version (None when it does not exist), reusing the replayed log."""
        if self._table is not None:
            self._table.update_incremental()
            return self._table
        try:
            self._table = deltalake.DeltaTable(self.uri, storage_options=self._options or None)
        except DeltaTableNotFoundError:
            return None
        return self._table

    def exists(self) -> bool:
        # Not DeltaTable.is_deltatable: it holds the GIL during its requests, which deadlocks against an
        # S3 server running in this process (moto in tests) and stalls every other Python thread meanwhile.
        return self._load() is not None

    def create_if_missing(self) -> None:
        if self.exists():
            return
        try:
            deltalake.DeltaTable.create(
                self.uri,
                schema=self.spec.schema,
                mode="ignore",
                partition_by=list(self.spec.partition_by) or None,
                name=self.spec.name,
                description=self.spec.description or None,
                storage_options=self._options or None,
            )
        except DeltaError:
            # Another writer created it between the check and the commit.
            if not self.exists():
                raise

    def merge(self, data: pa.Table, *, update_matched: bool = True) -> MergeStats:
        """MERGE `data` on the spec's keys in one commit; no commit when nothing changes.

        Raises:
            SchemaMismatchError: `data` lacks a required column or repeats a key.
            CommitFailedError: every attempt conflicted with a concurrent commit.
        """
        data = conform(data, self.spec)
        if data.num_rows == 0:
            return MergeStats(0, 0)
        check_unique_keys(data, self.spec)
        table = self._load()
        if table is None:
            # Not created by writing `data` as version 0: delta-rs retries a losing "error if exists" write
            # as an append on top of the winner's, so two first writers would both insert every row.
            self.create_if_missing()
            table = self._load()
            if table is None:
                raise TableNotFoundError(f"Delta table {self.uri} could not be created")
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            try:
                return self._merge_once(table, data, update_matched)
            except CommitFailedError:
                # delta-rs retries commits that do not conflict; one that does (a concurrent write to a
                # partition this merge read) is redone from the newer version.
                if attempt == COMMIT_ATTEMPTS:
                    raise
                logger.warning("merge into %s lost a commit race; retrying (%d)", self.spec.name, attempt)
                table.update_incremental()
        raise AssertionError("unreachable")

    def _merge_once(self, table: deltalake.DeltaTable, data: pa.Table, update_matched: bool) -> MergeStats:
        # Naming every key (the partition column among them) lets delta-rs prune to the source's partitions.
        predicate = " AND ".join(f't."{k}" = s."{k}"' for k in self.spec.keys)
        merger = table.merge(data, predicate, source_alias="s", target_alias="t", streamed_exec=False)
        if update_matched:
            # Only rows that differ: re-merging unchanged rows then rewrites no file and makes no commit.
            changed = " OR ".join(
                f'(t."{c}" IS DISTINCT FROM s."{c}")' for c in self.spec.column_names if c not in self.spec.keys
            )
            merger = merger.when_matched_update_all(predicate=changed or None)
        metrics = merger.when_not_matched_insert_all().execute()
        logger.debug(
            "merged into %s: %s files scanned, %s skipped",
            self.spec.name,
            metrics.get("num_target_files_scanned"),
            metrics.get("num_target_files_skipped_during_scan"),
        )
        return MergeStats(
            inserted=int(metrics["num_target_rows_inserted"]),
            updated=int(metrics["num_target_rows_updated"]),
        )

    def append_if_unchanged(self, data: pa.Table, version: int | None) -> bool:
        data = conform(data, self.spec)
        table = self._load()
        if table is None or version is None or table.version() != version:
            return False
        if data.num_rows == 0:
            return True
        check_unique_keys(data, self.spec)
        try:
            # No commit retries: delta-rs would otherwise rebase a blind append over a concurrent commit,
            # which is exactly the case where the caller's "keys are absent" no longer holds.
            deltalake.write_deltalake(
                table, data, mode="append", commit_properties=deltalake.CommitProperties(max_commit_retries=0)
            )
        except CommitFailedError:
            return False
        return True

    def replace(self, filters: Sequence[Filter], data: pa.Table) -> int:
        checked = check_filters(filters, self.spec)
        data = conform(data, self.spec)
        check_unique_keys(data, self.spec)
        check_within(data, checked, self.spec)
        if data.num_rows == 0:
            return self.delete(checked)
        self.create_if_missing()
        table = self._load()
        if table is None:
            raise TableNotFoundError(f"Delta table {self.uri} could not be created")
        before = _stats_count(table) or 0
        matched = before and int(
            pa.table(table.scan(columns=[self.spec.keys[0]], predicate=sql_predicate(checked, self.spec))).num_rows
        )
        # An overwrite with a predicate (replaceWhere) removes the matching rows and adds `data` in one commit.
        deltalake.write_deltalake(
            table,
            sorted_for_write(data, self.spec),
            mode="overwrite",
            predicate=sql_predicate(checked, self.spec) or "TRUE",
        )
        return int(matched)

    def read(self, columns: Sequence[str] | None = None, filters: Sequence[Filter] | None = None) -> pa.Table:
        schema = check_columns(columns, self.spec)
        pushed, late = split_pushdown(check_filters(filters, self.spec))
        table = self._load()
        if table is None:
            return schema.empty_table()
        if io_stats.recording():
            self._record_read(table, [*pushed, *late])
        late_columns = [c for c, _, _ in late if c not in schema.names]
        result = pa.table(
            table.scan(columns=[*schema.names, *late_columns], predicate=sql_predicate(pushed, self.spec))
        )
        if late:
            result = result.cast(pa.schema([self.spec.schema.field(name) for name in result.schema.names]))
            result = result.filter(arrow_expression(late, self.spec))
        return result.select(schema.names).cast(schema)

    def _record_read(self, table: deltalake.DeltaTable, filters: Sequence[Filter]) -> None:
        """The data files (and bytes) of the partitions a read selects, for `io_stats`."""
        actions = pa.table(table.get_add_actions(flatten=True))
        on_partitions = [f for f in filters if f[0] in self.spec.partition_by]
        if on_partitions and actions.num_rows:
            scoped = pa.table(
                {c: actions.column(f"partition.{c}") for c in self.spec.partition_by}
                | {"size_bytes": actions.column("size_bytes")}
            )
            actions = scoped.filter(arrow_expression(on_partitions, self.spec))
        size = pc.sum(actions.column("size_bytes")).as_py() if actions.num_rows else 0
        io_stats.record_read(self.spec.name, actions.num_rows, int(size or 0))

    def delete(self, filters: Sequence[Filter]) -> int:
        predicate = sql_predicate(check_filters(filters, self.spec), self.spec)
        table = self._load()
        if table is None:
            return 0
        before = _stats_count(table)
        metrics = table.delete(predicate)
        deleted = metrics.get("num_deleted_rows")
        if deleted is None:
            # delta-rs leaves the count out when it removed whole files without reading them.
            deleted = (before or 0) - (_stats_count(table) or 0)
        return int(deleted)

    def count(self) -> int:
        table = self._load()
        if table is None:
            return 0
        counted = _stats_count(table)
        if counted is not None:
            return counted
        return int(pa.table(table.scan(columns=[self.spec.keys[0]])).num_rows)

    def version(self) -> int | None:
        table = self._load()
        return None if table is None else int(table.version())

    def compact(self) -> None:
        table = self._load()
        if table is None:
            return
        if self.spec.sort_by:
            # Z-order clusters each partition's files on the access path, so file statistics skip by it.
            metrics = table.optimize.z_order(list(self.spec.sort_by))
        else:
            metrics = table.optimize.compact()
        logger.info(
            "compacted %s: %s files into %s",
            self.spec.name,
            metrics.get("numFilesRemoved"),
            metrics.get("numFilesAdded"),
        )

    def vacuum(self, retain_hours: int = 168) -> None:
        table = self._load()
        if table is None:
            return
        # The caller's retention is the policy: delta-rs would otherwise refuse anything below the table's
        # deletedFileRetentionDuration (7 days by default).
        removed = table.vacuum(retention_hours=retain_hours, dry_run=False, enforce_retention_duration=False)
        logger.info("vacuumed %s: %d unreferenced files removed", self.spec.name, len(removed))

    def duckdb_source(self) -> str:
        """`delta_scan('<table uri>')`; creates the empty table first so the expression always resolves."""
        self.create_if_missing()
        return "delta_scan('{}')".format(self.uri.replace("'", "''"))


def _stats_count(table: deltalake.DeltaTable) -> int | None:
    """Rows of the current version from the log's per-file statistics (None when a file lacks them)."""
    counts = pa.table(table.get_add_actions()).column("num_records").to_pylist()
    if any(c is None for c in counts):
        return None
    return int(sum(counts))


def sql_predicate(filters: Sequence[Filter], spec: TableSpec) -> str | None:
    """The DataFusion SQL conjunction of checked filters (None when there are none).

    Args:
        filters: filters already checked by `check_filters`.
        spec: the table, whose column types decide how values are written as literals.

    Returns:
        A predicate such as `"event_date" = DATE '2024-01-02' AND "tenant_id" IN ('a', 'b')`.

    Raises:
        TypeError: a value that cannot be written as a literal of its column's type.
    """
    parts = []
    for column, op, value in filters:
        field_type = spec.schema.field(column).type
        if op in ("in", "not in"):
            if not value:
                # An empty IN list is not valid SQL; it matches nothing (and NOT IN matches everything).
                parts.append("FALSE" if op == "in" else "TRUE")
                continue
            literal = "({})".format(", ".join(sql_literal(v, field_type) for v in value))
        else:
            literal = sql_literal(value, field_type)
        parts.append(f'"{column}" {_SQL_OPS[op]} {literal}')
    return " AND ".join(parts) or None


def sql_literal(value: Any, field_type: pa.DataType) -> str:
    """`value` as a SQL literal of the column type `field_type` (strings quoted with quotes doubled)."""
    if pa.types.is_timestamp(field_type):
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime for a {field_type} column, got {value!r}")
        # Naive datetimes are UTC, as every timestamp in the lake is.
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return f"TIMESTAMP '{value.isoformat()}'"
    if pa.types.is_date(field_type):
        if isinstance(value, datetime) or not isinstance(value, date | str):
            raise TypeError(f"expected a date for a {field_type} column, got {value!r}")
        return f"DATE '{date.fromisoformat(str(value)).isoformat()}'"
    if pa.types.is_string(field_type) or pa.types.is_large_string(field_type):
        return "'{}'".format(str(value).replace("'", "''"))
    if pa.types.is_boolean(field_type):
        return "TRUE" if value else "FALSE"
    if pa.types.is_integer(field_type) and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if pa.types.is_floating(field_type) and isinstance(value, int | float):
        return repr(float(value))
    raise TypeError(f"cannot compare a {field_type} column with {value!r}")
