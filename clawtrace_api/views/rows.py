"""Catalog rows for one tenant, as the response models take them: numbers and dates normalized, a missing
trace turned into the one 404 every tenant gets alike."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from clawtrace_api.errors import not_found
from clawtrace_api.schemas import SpanRow, TraceMeta, TraceStatus, TraceSummary
from clawtrace_pipelines.core.events import check_safe_id
from clawtrace_pipelines.core.graph.client import GraphClient, Row
from clawtrace_pipelines.core.graph.queries import run

# A trace without its session_end whose last event is this recent is still running.
IN_PROGRESS_WINDOW_MS = 10 * 60 * 1000
# A root session span has its session_start and, once the run ends, its session_end.
_CLOSED_ROOT_EVENTS = 2


def day(value: Any) -> str:
    """A day as YYYY-MM-DD: engines return a date (embedded) or its ISO text (Bolt test servers)."""
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def number(value: Any) -> float:
    """A sum that may be null (no rows) or an exact decimal, as a float."""
    return 0.0 if value is None else float(value)


def count(value: Any) -> int:
    return 0 if value is None else int(value)


def trace_summary(row: Row) -> TraceSummary:
    return TraceSummary.model_validate(_trace_fields(row))


def _trace_fields(row: Row) -> dict[str, Any]:
    fields = {k: row[k] for k in TraceSummary.model_fields}
    fields["cost_usd"] = number(row["cost_usd"])
    return fields


def span_row(row: Row) -> SpanRow:
    fields = {k: row[k] for k in SpanRow.model_fields}
    if fields["cost_usd"] is not None:
        fields["cost_usd"] = float(fields["cost_usd"])
    return SpanRow.model_validate(fields)


def trace_row(graph: GraphClient, tenant_id: str, trace_id: str, what: str = "trace") -> Row:
    """The trace's row for this tenant (`what` names the resource a 404 reports).

    Raises:
        Problem: 404 when the tenant has no such trace (whether or not another tenant has one).
        InvalidIdError: a malformed trace id (422).
    """
    rows = run(graph, "trace_meta", tenant_id=tenant_id, trace_id=check_safe_id(trace_id, "trace_id"))
    if not rows:
        raise not_found(what)
    return rows[0]


def trace_spans(graph: GraphClient, tenant_id: str, trace_id: str) -> list[SpanRow]:
    return [span_row(r) for r in run(graph, "trace_spans", tenant_id=tenant_id, trace_id=trace_id)]


def trace_status(row: Row, spans: list[SpanRow], now_ms: int | None = None) -> TraceStatus:
    """See `TraceStatus`: silver keeps no session_end flag, but the root span's event count tells."""
    if row["is_orphan"]:
        return TraceStatus.ORPHAN
    roots = [s for s in spans if s.parent_span_id is None and s.actor_type == "session"]
    if roots and all(s.event_count >= _CLOSED_ROOT_EVENTS for s in roots):
        return TraceStatus.COMPLETE
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if now_ms - int(row["trace_end_ts_ms"]) <= IN_PROGRESS_WINDOW_MS:
        return TraceStatus.IN_PROGRESS
    return TraceStatus.INCOMPLETE


def trace_meta(row: Row, spans: list[SpanRow]) -> TraceMeta:
    return TraceMeta.model_validate({**_trace_fields(row), "status": trace_status(row, spans)})
