"""Apache Iceberg tables through pyiceberg: the `LakeTable` contract in the catalog's namespace.

pyiceberg facts this module relies on (0.12):

- Binding an `In` predicate costs about 30 µs per value and happens several times per scan, so a 200k-value
  `In` takes seconds. Merges and reads therefore push down only small value sets (and always the
  partition columns) and finish the filtering in Arrow.
- `Table.upsert` builds an OR of per-row ANDs for composite keys, which is slower still; `merge` below reads
  the candidate rows once, joins in Arrow and commits one transaction.
- There is no compaction (rewrite data files) and `expire_snapshots` only drops snapshots from the metadata:
  data files they alone referenced stay in storage (an orphan-file sweep is left to an engine that has one).
- Scans hand back `large_string` or `string` depending on how a file was written; every read is cast back to
  the spec's schema so both formats return identical Arrow schemas.
"""

from __future__ import annotations

import logging
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import reduce
from pathlib import Path
from typing import Any, TypeVar, cast

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg import expressions as ice
from pyiceberg.catalog import Catalog, load_catalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.io.pyarrow import ArrowScan
from pyiceberg.table import Table
from pyiceberg.transforms import IdentityTransform

from clawtrace_pipelines.core.errors import TableNotFoundError
from clawtrace_pipelines.core.lake import io_stats
from clawtrace_pipelines.core.lake.filters import PUSHDOWN_IN_LIMIT, arrow_expression
from clawtrace_pipelines.core.lake.iceberg_filters import iceberg_expression, partition_expression
from clawtrace_pipelines.core.lake.storage import iceberg_io_properties
from clawtrace_pipelines.core.lake.table import (
    Filter,
    MergeStats,
    check_columns,
    check_filters,
    check_unique_keys,
    check_within,
    conform,
    sorted_for_write,
    unchanged_rows,
)
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import TableSpec

logger = logging.getLogger(__name__)

# A partition with more data files than this is rewritten by `compact`.
COMPACT_MIN_FILES = 4
COMMIT_ATTEMPTS = 5
TABLE_PROPERTIES = {
    # pyiceberg would otherwise rebase a commit that lost a race onto the winner's snapshot and retry it:
    # right for blind appends, wrong for a merge whose appended rows were chosen by reading the old
    # snapshot (both writers would insert the same key). The merge redoes its read instead.
    "commit.retry.num-retries": "0",
    # Old metadata.json files are deleted after a commit, keeping this many for readers and time travel.
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "100",
}

_ALWAYS_FALSE = cast(ice.BooleanExpression, ice.AlwaysFalse())
_T = TypeVar("_T")
_CATALOGS: dict[tuple[Any, ...], Catalog] = {}
_CATALOGS_LOCK = threading.Lock()


def iceberg_catalog(settings: Settings) -> Catalog:
    """The Iceberg catalog of the lake, made once per process (SqlCatalog creation is slow) with the
    namespace created.

    Args:
        settings: the catalog URI (SQL or http(s) REST), its name, the namespace and the lake.

    Returns:
        A SQL catalog whose warehouse is `<lake>/iceberg/warehouse`, or a REST catalog.

    Raises:
        ConfigError: a remote lake without a catalog that can live outside it.
    """
    uri = settings.iceberg_catalog_uri()
    io_props = iceberg_io_properties(settings)
    rest = uri.startswith(("http://", "https://"))
    warehouse = "" if rest else settings.lake_path("iceberg", "warehouse")
    if warehouse and not settings.lake_is_remote:
        # Not Path.as_uri(): pyiceberg does not percent-decode, so an encoded path would name another folder.
        warehouse = f"file://{warehouse}"
    key = (settings.iceberg_catalog_name, uri, warehouse, settings.iceberg_namespace, *sorted(io_props.items()))
    with _CATALOGS_LOCK:
        catalog = _CATALOGS.get(key)
        if catalog is None:
            if rest:
                catalog = load_catalog(settings.iceberg_catalog_name, type="rest", uri=uri, **io_props)
            else:
                if uri.startswith("sqlite:///") and not uri.endswith(":memory:"):
                    Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
                catalog = SqlCatalog(settings.iceberg_catalog_name, uri=uri, warehouse=warehouse, **io_props)
            catalog.create_namespace_if_not_exists(settings.iceberg_namespace)
            _CATALOGS[key] = catalog
    return catalog


class IcebergTable:
    """A lake table stored as an Iceberg table `<namespace>.<name>` (identity-partitioned as the spec says).

    Args:
        spec: the table's name, schema, keys and partition columns.
        settings: the catalog and the lake.
    """

    def __init__(self, spec: TableSpec, settings: Settings) -> None:
        self.spec = spec
        self.settings = settings
        self.identifier = (settings.iceberg_namespace, spec.name)
        self._table: Table | None = None

    def _load(self) -> Table | None:
        """The table at its current snapshot (None when it does not exist)."""
        try:
            if self._table is None:
                self._table = iceberg_catalog(self.settings).load_table(self.identifier)
            else:
                self._table = self._table.refresh()
        except NoSuchTableError:
            self._table = None
        return self._table

    def exists(self) -> bool:
        return iceberg_catalog(self.settings).table_exists(self.identifier)

    def create_if_missing(self) -> None:
        if self.exists():
            return
        try:
            with iceberg_catalog(self.settings).create_table_transaction(
                self.identifier, schema=self.spec.schema, properties=TABLE_PROPERTIES
            ) as txn:
                if self.spec.partition_by:
                    with txn.update_spec() as update:
                        for column in self.spec.partition_by:
                            update.add_identity(column)
                if self.spec.sort_by:
                    # Recorded so engines that honour it (Spark, Trino) write in the access-path order too.
                    with txn.update_sort_order() as order:
                        for column in self.spec.sort_by:
                            order.asc(column, IdentityTransform())
        except (TableAlreadyExistsError, CommitFailedException):
            # Another writer created it first (the SQL catalog reports that race as a failed commit).
            if not self.exists():
                raise

    def merge(self, data: pa.Table, *, update_matched: bool = True) -> MergeStats:
        """Upsert (or insert-if-absent) `data` on the spec's keys in one transaction.

        Existing rows are read only where they can match: the source's partition values, and the source's
        key values when there are few of them. Matched keys are found by an Arrow join. An upsert deletes the
        matched rows (plus any other rows the pushed-down delete filter covers, which it writes back) and
        appends the source; an insert-if-absent appends the unmatched rows. A concurrent commit makes the
        whole merge start again, up to `COMMIT_ATTEMPTS` times.

        Raises:
            SchemaMismatchError: `data` lacks a required column or repeats a key.
            CommitFailedException: every attempt lost to a concurrent commit.
        """
        data = conform(data, self.spec)
        if data.num_rows == 0:
            return MergeStats(0, 0)
        check_unique_keys(data, self.spec)
        self.create_if_missing()
        return self._with_retries(lambda table: self._merge_once(table, data, update_matched))

    def _with_retries(self, action: Callable[[Table], _T]) -> _T:
        """Run `action` on the current snapshot, again on a newer one when a concurrent commit won."""
        for attempt in range(1, COMMIT_ATTEMPTS + 1):
            table = self._load()
            if table is None:
                raise TableNotFoundError(f"Iceberg table {self.identifier} does not exist")
            missing = {k: v for k, v in TABLE_PROPERTIES.items() if table.properties.get(k) != v}
            if missing:
                # A table created elsewhere (or by an older version of this module) gets them once.
                table = table.transaction().set_properties(missing).commit_transaction()
            try:
                return action(table)
            except CommitFailedException:
                if attempt == COMMIT_ATTEMPTS:
                    raise
                logger.warning("commit to %s lost a race; retrying (%d)", self.spec.name, attempt)
        raise AssertionError("unreachable")

    def _merge_once(self, table: Table, data: pa.Table, update_matched: bool) -> MergeStats:
        keys = list(self.spec.keys)
        read_filters = self._key_filters(data)
        if not update_matched:
            existing = self._scan(table, keys, read_filters)
            new_rows = data.join(existing, keys, join_type="left anti")
            if new_rows.num_rows:
                table.append(conform(new_rows, self.spec))
            return MergeStats(inserted=new_rows.num_rows, updated=0)
        candidates = self._scan(table, self.spec.column_names, read_filters)
        # Rows equal to the stored ones are left alone, so re-merging unchanged data commits nothing.
        unchanged = unchanged_rows(candidates, data, self.spec)
        if unchanged.num_rows:
            data = conform(data.join(unchanged, keys, join_type="left anti"), self.spec)
            if data.num_rows == 0:
                return MergeStats(inserted=0, updated=0)
        matched = candidates.select(keys).join(data.select(keys), keys, join_type="left semi")
        if matched.num_rows == 0:
            table.append(data)
            return MergeStats(inserted=data.num_rows, updated=0)
        # Built from the matched keys, so it covers a subset of `candidates`: the rows it deletes that the
        # source does not replace are appended back.
        delete_filters = self._key_filters(matched)
        covered = candidates.filter(arrow_expression(delete_filters, self.spec))
        kept = covered.join(data.select(keys), keys, join_type="left anti")
        with table.transaction() as txn:
            txn.delete(iceberg_expression(delete_filters))
            txn.append(pa.concat_tables([conform(kept, self.spec), data]))
        return MergeStats(inserted=data.num_rows - matched.num_rows, updated=matched.num_rows)

    def _key_filters(self, rows: pa.Table) -> list[Filter]:
        """`in` filters on the key columns of `rows`: always on partition columns, else when small."""
        filters: list[Filter] = []
        for key in self.spec.keys:
            values = pc.unique(rows.column(key))
            if values.null_count == 0 and (key in self.spec.partition_by or len(values) <= PUSHDOWN_IN_LIMIT):
                filters.append((key, "in", values.to_pylist()))
        return filters

    def _scan(self, table: Table, columns: Sequence[str], filters: Sequence[Filter]) -> pa.Table:
        """Rows of `columns` matching the checked `filters`, cast to the spec's types. Large `in` sets on
        non-partition columns are applied in Arrow after the scan."""
        pushed = [f for f in filters if not self._arrow_only(f)]
        late = [f for f in filters if self._arrow_only(f)]
        wanted = list(dict.fromkeys([*columns, *(f[0] for f in late)]))
        scan = table.scan(row_filter=iceberg_expression(pushed), selected_fields=tuple(wanted))
        # Planned once, for the read and for `io_stats` (what `DataScan.to_arrow` does, with the plan kept).
        tasks = list(scan.plan_files())
        io_stats.record_read(self.spec.name, len(tasks), sum(t.file.file_size_in_bytes for t in tasks))
        arrow = ArrowScan(scan.table_metadata, scan.io, scan.projection(), scan.row_filter, scan.case_sensitive)
        result = arrow.to_table(tasks).select(wanted).cast(check_columns(wanted, self.spec))
        if late:
            result = result.filter(arrow_expression(late, self.spec))
        return result.select(list(columns))

    def _arrow_only(self, filter_: Filter) -> bool:
        column, op, value = filter_
        return op in ("in", "not in") and column not in self.spec.partition_by and len(value) > PUSHDOWN_IN_LIMIT

    def append_if_unchanged(self, data: pa.Table, version: int | None) -> bool:
        data = conform(data, self.spec)
        table = self._load()
        snapshot = None if table is None else table.current_snapshot()
        if table is None or snapshot is None or version is None or snapshot.snapshot_id != version:
            return False
        if data.num_rows == 0:
            return True
        check_unique_keys(data, self.spec)
        try:
            # The catalog refuses a commit whose base is no longer current, and `commit.retry.num-retries`
            # of 0 (TABLE_PROPERTIES) keeps pyiceberg from rebasing it onto the newer snapshot.
            table.append(data)
        except CommitFailedException:
            return False
        return True

    def replace(self, filters: Sequence[Filter], data: pa.Table) -> int:
        checked = check_filters(filters, self.spec)
        data = conform(data, self.spec)
        check_unique_keys(data, self.spec)
        check_within(data, checked, self.spec)
        self.create_if_missing()
        expression = iceberg_expression(checked)

        def replace_once(table: Table) -> int:
            before = 0 if table.current_snapshot() is None else table.scan(row_filter=expression).count()
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Delete operation did not match any records")
                with table.transaction() as txn:
                    txn.delete(expression)
                    if data.num_rows:
                        txn.append(sorted_for_write(data, self.spec))
            return before

        return self._with_retries(replace_once)

    def read(self, columns: Sequence[str] | None = None, filters: Sequence[Filter] | None = None) -> pa.Table:
        schema = check_columns(columns, self.spec)
        checked = check_filters(filters, self.spec)
        table = self._load()
        if table is None:
            return schema.empty_table()
        return self._scan(table, schema.names, checked)

    def delete(self, filters: Sequence[Filter]) -> int:
        expression = iceberg_expression(check_filters(filters, self.spec))
        if not self.exists():
            return 0
        return self._with_retries(lambda table: _delete(table, expression))

    def count(self) -> int:
        table = self._load()
        return 0 if table is None else table.scan().count()

    def version(self) -> int | None:
        table = self._load()
        snapshot = None if table is None else table.current_snapshot()
        return None if snapshot is None else snapshot.snapshot_id

    def compact(self) -> None:
        """Rewrite each partition holding more than `COMPACT_MIN_FILES` data files as one overwrite commit.

        pyiceberg has no file rewrite action, so this reads the crowded partitions whole and overwrites
        them: simple and atomic (a concurrent commit fails it, nothing is lost), but it holds those
        partitions in memory and rewrites every row in them, even in files that were already large.
        """
        if self.exists():
            self._with_retries(self._compact_once)

    def _compact_once(self, table: Table) -> None:
        if table.current_snapshot() is None:
            return
        files = table.inspect.files()
        per_partition = Counter(tuple(sorted(p.items())) for p in files.column("partition").to_pylist())
        crowded = [dict(p) for p, n in per_partition.items() if n > COMPACT_MIN_FILES]
        if not crowded:
            return
        scope = reduce(lambda a, b: ice.Or(a, b), map(partition_expression, crowded), _ALWAYS_FALSE)
        rows = sorted_for_write(conform(table.scan(row_filter=scope).to_arrow(), self.spec), self.spec)
        with table.transaction() as txn:
            txn.overwrite(rows, overwrite_filter=scope)
        logger.info("compacted %d partition(s) of %s", len(crowded), self.spec.name)

    def vacuum(self, retain_hours: int = 168) -> None:
        """Expire snapshots older than `retain_hours` (branch and tag heads are kept)."""
        table = self._load()
        if table is None:
            return
        cutoff_ms = (datetime.now(UTC) - timedelta(hours=retain_hours)).timestamp() * 1000
        protected = {ref.snapshot_id for ref in table.refs().values()}
        expired = [
            s.snapshot_id for s in table.snapshots() if s.timestamp_ms < cutoff_ms and s.snapshot_id not in protected
        ]
        if expired:
            table.maintenance.expire_snapshots().by_ids(expired).commit()
        logger.info("expired %d snapshot(s) of %s", len(expired), self.spec.name)

    def duckdb_source(self) -> str:
        """`iceberg_scan('<metadata.json>')` of the current snapshot at call time (creates the empty table
        first so the expression always resolves)."""
        self.create_if_missing()
        table = self._load()
        if table is None:
            raise TableNotFoundError(f"Iceberg table {self.identifier} vanished")
        location = table.metadata_location.removeprefix("file://")
        return "iceberg_scan('{}')".format(location.replace("'", "''"))


def _delete(table: Table, expression: ice.BooleanExpression) -> int:
    if table.current_snapshot() is None:
        return 0
    before = table.scan().count()
    with warnings.catch_warnings():
        # pyiceberg warns when nothing matched; for a delete by filter that is an ordinary outcome.
        warnings.filterwarnings("ignore", "Delete operation did not match any records")
        with table.transaction() as txn:
            txn.delete(expression)
    # The commit updated `table` to its own result, so a concurrent later commit is not counted.
    return before - table.scan().count()
