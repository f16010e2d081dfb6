"""Format-agnostic filter helpers: `Filter` tuples as Arrow compute expressions, big value sets split off."""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.lake.table import Filter
from clawtrace_pipelines.core.tables import TableSpec

# An `in` set larger than this is applied in Arrow after the scan rather than handed to the table format's
# planner, which binds each value separately (a 1M-path `in` would be a 1M-literal SQL string for delta-rs).
PUSHDOWN_IN_LIMIT = 1000

_ARROW_OPS: dict[str, Callable[[Any, Any], Any]] = {"=": operator.eq, "!=": operator.ne, "<": operator.lt}
_ARROW_OPS |= {"<=": operator.le, ">": operator.gt, ">=": operator.ge}


def split_pushdown(filters: Sequence[Filter]) -> tuple[list[Filter], list[Filter]]:
    """(filters to push down to the scan, filters to apply in Arrow afterwards)."""
    pushed: list[Filter] = []
    late: list[Filter] = []
    for f in filters:
        (late if f[1] in ("in", "not in") and len(f[2]) > PUSHDOWN_IN_LIMIT else pushed).append(f)
    return pushed, late


def utc(value: Any) -> Any:
    # Naive datetimes are UTC, as every timestamp in the lake is.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def arrow_expression(filters: Sequence[Filter], spec: TableSpec) -> pc.Expression:
    """The Arrow compute conjunction of checked filters (the same semantics as `iceberg_expression`)."""
    expression = pc.scalar(True)
    for column, op, value in filters:
        field, field_type = pc.field(column), spec.schema.field(column).type
        if op in ("in", "not in"):
            member = field.isin(pa.array([utc(v) for v in value], type=field_type))
            expression &= member if op == "in" else ~member
        else:
            expression &= _ARROW_OPS[op](field, pc.scalar(pa.scalar(utc(value), type=field_type)))
    return expression
