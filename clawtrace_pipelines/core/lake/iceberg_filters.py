"""Filters (`Filter` tuples) as pyiceberg expressions (the Arrow equivalent is `filters.arrow_expression`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import reduce
from typing import Any, cast

from pyiceberg import expressions as ice

from clawtrace_pipelines.core.lake.filters import utc
from clawtrace_pipelines.core.lake.table import Filter

_ICEBERG_OPS: dict[str, type[ice.BooleanExpression]] = {"=": ice.EqualTo, "!=": ice.NotEqualTo}
_ICEBERG_OPS |= {"<": ice.LessThan, "<=": ice.LessThanOrEqual, ">": ice.GreaterThan, ">=": ice.GreaterThanOrEqual}
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
