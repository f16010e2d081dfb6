"""Filters (`Filter` tuples) as pyiceberg expressions and as the equivalent Arrow compute expressions."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import reduce
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg import expressions as ice

from clawtrace_pipelines.core.lake.table import Filter
from clawtrace_pipelines.core.tables import TableSpec

_ICEBERG_OPS: dict[str, type[ice.BooleanExpression]] = {"=": ice.EqualTo, "!=": ice.NotEqualTo}
_ICEBERG_OPS |= {"<": ice.LessThan, "<=": ice.LessThanOrEqual, ">": ice.GreaterThan, ">=": ice.GreaterThanOrEqual}
_ARROW_OPS: dict[str, Callable[[Any, Any], Any]] = {"=": operator.eq, "!=": operator.ne, "<": operator.lt}
_ARROW_OPS |= {"<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ALWAYS_TRUE = cast(ice.BooleanExpression, ice.AlwaysTrue())


def iceberg_expression(filters: Sequence[Filter]) -> ice.BooleanExpression:
    """The pyiceberg conjunction of checked filters (AlwaysTrue when there are none)."""
    expressions = []
    for column, op, value in filters:
        if op in ("in", "not in"):
            expressions.append(predicate(ice.In if op == "in" else ice.NotIn, column, [utc(v) for v in value]))
        else:
            expressions.append(predicate(_ICEBERG_OPS[op], column, utc(value)))
    return conjunction(expressions)


def partition_expression(partition: dict[str, Any]) -> ice.BooleanExpression:
    return conjunction(
        predicate(ice.IsNull, c) if v is None else predicate(ice.EqualTo, c, utc(v)) for c, v in partition.items()
    )


def predicate(kind: type[ice.BooleanExpression], *args: Any) -> ice.BooleanExpression:
    # pyiceberg predicates are pydantic models: type checkers see the synthesized keyword-only __init__,
    # not the positional (term, literal) one they define.
    return cast(Callable[..., ice.BooleanExpression], kind)(*args)


def conjunction(expressions: Iterable[ice.BooleanExpression]) -> ice.BooleanExpression:
    return reduce(lambda left, right: ice.And(left, right), expressions, _ALWAYS_TRUE)


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
            expression &= _ARROW_OPS[op](field, pc.scalar(utc(value), type=field_type))
    return expression
