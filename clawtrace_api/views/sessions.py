"""Sessions (traces sharing an OpenClaw session key) with their context growth, and cost breakdowns."""

from __future__ import annotations

from typing import Literal

from clawtrace_api.errors import not_found
from clawtrace_api.schemas_sessions import (
    ContextGrowth,
    ContextPoint,
    CostBreakdown,
    CostGroup,
    SessionDetail,
    SessionList,
    SessionSummary,
)
from clawtrace_api.views import cursors
from clawtrace_api.views.rows import count, day, number, trace_summary
from clawtrace_pipelines.core.graph.client import GraphClient, Row
from clawtrace_pipelines.core.graph.queries import run

GroupBy = Literal["model", "tool", "agent", "session", "day", "category"]
# Later than any epoch-ms time: the first page of sessions.
_FIRST_PAGE_MS = 2**62
_SESSION_KIND = "sessions"


def list_sessions(
    graph: GraphClient, tenant_id: str, agent_id: str, from_ms: int, to_ms: int, limit: int, cursor: str | None
) -> SessionList:
    after_ms, after_key = _FIRST_PAGE_MS, "\U0010ffff"
    if cursor:
        key, after_key = cursors.decode(cursor, _SESSION_KIND)
        after_ms = int(key)
    rows = run(
        graph,
        "sessions_page",
        tenant_id=tenant_id,
        agent_id=agent_id,
        from_ms=from_ms,
        to_ms=to_ms,
        after_ms=after_ms,
        after_key=after_key,
        limit=min(limit + 1, 500),
    )
    page, next_cursor = cursors.page(rows, limit, _SESSION_KIND, "last_end_ts_ms", "session_key")
    return SessionList(
        sessions=[
            SessionSummary.model_validate({**r, "cost_usd": number(r["cost_usd"]), "errors": count(r["errors"])})
            for r in page
        ],
        next_cursor=next_cursor,
    )


def session_detail(graph: GraphClient, tenant_id: str, session_key: str, from_ms: int, limit: int) -> SessionDetail:
    traces = run(graph, "session_traces", tenant_id=tenant_id, session_key=session_key, from_ms=from_ms, limit=limit)
    if not traces:
        raise not_found("session")
    calls = run(
        graph, "session_token_growth", tenant_id=tenant_id, session_key=session_key, from_ms=from_ms, limit=limit
    )
    points = [
        ContextPoint(
            trace_id=c["trace_id"],
            span_id=c["span_id"],
            span_start_ts_ms=c["span_start_ts_ms"],
            model=c["model"],
            input_tokens=c["input_tokens"],
            cache_read_tokens=c["cache_read_tokens"],
            cache_write_tokens=c["cache_write_tokens"],
            output_tokens=c["output_tokens"],
            context_tokens=c["input_tokens"] + c["cache_read_tokens"] + c["cache_write_tokens"],
        )
        for c in calls
    ]
    return SessionDetail(
        session_key=session_key,
        traces=[trace_summary(t) for t in traces],
        calls=points,
        growth=growth([p.context_tokens for p in points]),
        truncated=len(traces) == limit or len(calls) == limit,
    )


def growth(sizes: list[int]) -> ContextGrowth:
    if not sizes:
        return ContextGrowth(
            calls=0,
            first_context_tokens=None,
            last_context_tokens=None,
            peak_context_tokens=None,
            growth_tokens=None,
            tokens_per_call=None,
        )
    n = len(sizes)
    slope = None
    if n > 1:
        mean_x, mean_y = (n - 1) / 2, sum(sizes) / n
        slope = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(sizes)) / sum((i - mean_x) ** 2 for i in range(n))
    return ContextGrowth(
        calls=n,
        first_context_tokens=sizes[0],
        last_context_tokens=sizes[-1],
        peak_context_tokens=max(sizes),
        growth_tokens=sizes[-1] - sizes[0],
        tokens_per_call=slope,
    )


def cost_breakdown(
    graph: GraphClient, tenant_id: str, group_by: GroupBy, from_ms: int, to_ms: int, limit: int
) -> CostBreakdown:
    window = {"tenant_id": tenant_id, "from_ms": from_ms, "to_ms": to_ms}
    rows = run(graph, f"costs_by_{group_by}", **window, limit=limit)
    groups = [_group(day(r["key"]) if group_by == "day" else str(r["key"]), r) for r in rows]
    totals = _totals(graph, window, group_by)
    other = None
    if len(rows) == limit:
        rest = _minus(totals, groups)
        other = rest if rest.calls or rest.traces or rest.cost_usd > 1e-12 else None
    return CostBreakdown(group_by=group_by, from_ms=from_ms, to_ms=to_ms, groups=groups, other=other, totals=totals)


def _group(key: str, r: Row) -> CostGroup:
    calls, unpriced = count(r["calls"]), count(r["unpriced_calls"])
    return CostGroup(
        key=key,
        traces=count(r["traces"]),
        calls=calls,
        priced_calls=calls - unpriced,
        unpriced_calls=unpriced,
        input_tokens=count(r["input_tokens"]),
        output_tokens=count(r["output_tokens"]),
        cache_read_tokens=count(r["cache_read_tokens"]),
        cache_write_tokens=count(r["cache_write_tokens"]),
        total_tokens=count(r["total_tokens"]),
        cost_usd=number(r["cost_usd"]),
    )


def _totals(graph: GraphClient, window: dict[str, object], group_by: GroupBy) -> CostGroup:
    """Every trace of the window, from the per-day rows (few, whatever the grouping's cardinality)."""
    unset = {"agent_id": "", "category": "", "has_error": -1, "min_cost_usd": 0.0}
    days = run(graph, "traces_days", **window, **unset)
    calls_column = "tool_calls" if group_by == "tool" else "llm_calls"
    unpriced = 0 if group_by == "tool" else sum(count(d["unpriced_llm_calls"]) for d in days)
    summed = {k: sum(count(d[k]) for d in days) for k in _TOKENS}
    if group_by == "tool":
        # Tool calls carry no tokens of their own: the tool totals are calls, time and errors only.
        summed = dict.fromkeys(_TOKENS, 0)
    return _group(
        "total",
        {
            "traces": sum(count(d["traces"]) for d in days),
            "calls": sum(count(d[calls_column]) for d in days),
            "unpriced_calls": unpriced,
            **summed,
            "cost_usd": 0.0 if group_by == "tool" else sum(number(d["cost_usd"]) for d in days),
        },
    )


_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "total_tokens")


def _minus(totals: CostGroup, groups: list[CostGroup]) -> CostGroup:
    def rest(field: str) -> int:
        return max(0, getattr(totals, field) - sum(getattr(g, field) for g in groups))

    return CostGroup(
        key="other",
        traces=max(0, totals.traces - sum(g.traces for g in groups)) if groups else totals.traces,
        calls=rest("calls"),
        priced_calls=rest("priced_calls"),
        unpriced_calls=rest("unpriced_calls"),
        input_tokens=rest("input_tokens"),
        output_tokens=rest("output_tokens"),
        cache_read_tokens=rest("cache_read_tokens"),
        cache_write_tokens=rest("cache_write_tokens"),
        total_tokens=rest("total_tokens"),
        cost_usd=max(0.0, totals.cost_usd - sum(g.cost_usd for g in groups)),
    )
