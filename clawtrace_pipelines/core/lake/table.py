"""The lake-table contract: one small interface, implemented by Delta (delta-rs) and Iceberg (pyiceberg)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.errors import ClawTraceError
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
        `update_matched` is False. A row equal to the stored one is not rewritten (nor counted), so
        re-merging unchanged data makes no commit. `data` must not repeat a key."""
        ...

    def append_if_unchanged(self, data: pa.Table, version: int | None) -> bool:
        """Append `data` as the very next commit after `version`, without reading the table.

        For a caller that has checked, at `version`, that none of the keys of `data` is present: it saves the
        scan a merge makes. Returns False, having written nothing, when the table has moved past `version`
        (or has no version yet); the caller then merges instead.
        """
        ...

    def replace(self, filters: Sequence[Filter], data: pa.Table) -> int:
        """In one commit, delete the rows matching all `filters` and append `data` (every row of which must
        match them): readers see the old rows or the new ones, never neither. Returns rows deleted.

        Raises:
            SchemaMismatchError: `data` lacks a required column, repeats a key, or has a row outside `filters`.
        """
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


class SchemaMismatchError(ClawTraceError, ValueError):
    """Data that cannot be written to a table: a required column is missing or null, or a key repeats."""


def conform(data: pa.Table, spec: TableSpec) -> pa.Table:
    """`data` as the spec's schema: its columns in spec order, cast to the spec's types, missing nullable
    columns filled with nulls, extra columns dropped.

    Both formats write through this, so they store (and read back) the same Arrow types.

    Args:
        data: rows to write.
        spec: the table they are written to.

    Returns:
        A table whose schema equals `spec.schema`.

    Raises:
        SchemaMismatchError: a non-nullable column is missing or holds nulls, or a type cannot be cast.
    """
    columns: list[pa.ChunkedArray | pa.Array] = []
    for field in spec.schema:
        if field.name not in data.column_names:
            if not field.nullable:
                raise SchemaMismatchError(f"{spec.name}: required column {field.name!r} is missing")
            columns.append(pa.nulls(data.num_rows, field.type))
            continue
        column = data.column(field.name)
        if not field.nullable and column.null_count:
            raise SchemaMismatchError(
                f"{spec.name}: required column {field.name!r} has {column.null_count} null value(s)"
            )
        try:
            columns.append(column if column.type == field.type else column.cast(field.type))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise SchemaMismatchError(
                f"{spec.name}: column {field.name!r} of type {column.type} cannot be cast to {field.type}"
            ) from exc
    return pa.Table.from_arrays(columns, schema=spec.schema)


def check_unique_keys(data: pa.Table, spec: TableSpec) -> None:
    """Refuse a merge source that repeats a key: a MERGE would insert it twice or update a row twice.

    Raises:
        SchemaMismatchError: two rows of `data` share a key.
    """
    keys = list(spec.keys)
    if data.num_rows > 1 and data.select(keys).group_by(keys).aggregate([]).num_rows != data.num_rows:
        raise SchemaMismatchError(f"{spec.name}: merge data repeats a key {spec.keys}")


def check_filters(filters: Sequence[Filter] | None, spec: TableSpec) -> list[Filter]:
    """Validated filters: known columns and operators, collections for `in` / `not in`.

    Raises:
        ValueError: an unknown column or operator, a missing collection, or a None value.
    """
    checked: list[Filter] = []
    for column, op, value in filters or ():
        if column not in spec.column_names:
            raise ValueError(f"{spec.name}: cannot filter on unknown column {column!r}")
        op = op.lower()
        if op not in FILTER_OPS:
            raise ValueError(f"unknown filter operator {op!r}; use one of {sorted(FILTER_OPS)}")
        if op in ("in", "not in"):
            if isinstance(value, str | bytes) or not isinstance(value, Iterable):
                raise ValueError(f"filter {column!r} {op} needs a collection of values, got {value!r}")
            value = list(value)
            if any(v is None for v in value):
                raise ValueError(f"filter {column!r} {op}: None is not a comparable value")
        elif value is None:
            raise ValueError(f"filter {column!r} {op} None: None is not a comparable value")
        checked.append((column, op, value))
    return checked


def unchanged_rows(existing: pa.Table, data: pa.Table, spec: TableSpec) -> pa.Table:
    """The keys of the rows of `data` equal, in every column, to the row of `existing` with the same key."""
    keys = list(spec.keys)
    values = [c for c in spec.column_names if c not in spec.keys]
    if existing.num_rows == 0 or data.num_rows == 0:
        return data.select(keys).slice(0, 0)
    joined = existing.select([*keys, *values]).join(
        data.select([*keys, *values]), keys, join_type="inner", left_suffix="__old", right_suffix="__new"
    )
    same = pa.array([True] * joined.num_rows, pa.bool_())
    for column in values:
        old, new = joined.column(f"{column}__old"), joined.column(f"{column}__new")
        equal = pc.fill_null(pc.equal(old, new), False)
        both_null = pc.and_(pc.is_null(old), pc.is_null(new))
        same = pc.and_(same, pc.or_(equal, both_null))
    return joined.filter(same).select(keys)


def sorted_for_write(data: pa.Table, spec: TableSpec) -> pa.Table:
    """`data` in the spec's sort order, so even unoptimized files have narrow statistics on the access path."""
    if not spec.sort_by or data.num_rows < 2:
        return data
    return data.sort_by([(c, "ascending") for c in spec.sort_by])


def check_within(data: pa.Table, filters: Sequence[Filter], spec: TableSpec) -> None:
    """Refuse replacement rows outside the replaced scope: they would survive a later replace of it.

    Raises:
        SchemaMismatchError: a row of `data` does not match all `filters`.
    """
    from clawtrace_pipelines.core.lake.filters import arrow_expression

    if filters and data.num_rows:
        inside = data.filter(arrow_expression(list(filters), spec)).num_rows
        if inside != data.num_rows:
            raise SchemaMismatchError(f"{spec.name}: {data.num_rows - inside} replacement row(s) outside the filters")


def check_columns(columns: Sequence[str] | None, spec: TableSpec) -> pa.Schema:
    """The schema of a projection of the spec (all columns when None).

    Raises:
        ValueError: an unknown column.
    """
    if columns is None:
        return spec.schema
    unknown = [c for c in columns if c not in spec.column_names]
    if unknown:
        raise ValueError(f"{spec.name}: unknown column(s) {unknown}")
    return pa.schema([spec.schema.field(c) for c in columns])
