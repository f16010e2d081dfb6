"""The trace list: filters to catalog parameters, one page by keyset, metrics and per-day trends."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from clawtrace_api.schemas import AgentSummary, TraceList, TraceMetrics, TrendPoint
from clawtrace_api.views import cursors
from clawtrace_api.views.rows import count, day, number, trace_summary
from clawtrace_pipelines.core.events import check_safe_id
from clawtrace_pipelines.core.graph.client import GraphClient, Row
from clawtrace_pipelines.core.graph.queries import run
from clawtrace_pipelines.core.graph.queries_reads import FIRST_PAGE_KEY

Sort = Literal["start", "cost", "duration"]


@dataclass(frozen=True)
class TraceFilters:
    """The list's filters; None means unset."""

    from_ms: int
    to_ms: int
    agent_id: str | None = None
    category: str | None = None
    has_error: bool | None = None
    model: str | None = None
    tool: str | None = None
    min_cost_usd: float | None = None

    def params(self, tenant_id: str) -> tuple[str, dict[str, Any]]:
        """The suffix of the query family (`_with_model`, `_with_tool`, `_with_model_and_tool`) and its parameters."""
        params: dict[str, Any] = {
            "tenant_id": tenant_id,
            "from_ms": self.from_ms,
            "to_ms": self.to_ms,
            "agent_id": optional_id(self.agent_id, "agent_id"),
            "category": optional_id(self.category, "category"),
            "has_error": -1 if self.has_error is None else int(self.has_error),
            "min_cost_usd": self.min_cost_usd or 0.0,
        }
        if self.model is None and self.tool is None:
            return "", params
        spans = {k: check_safe_id(v, k) for k, v in (("model", self.model), ("tool", self.tool)) if v is not None}
        return "_with_" + "_and_".join(spans), {**params, **spans}


def optional_id(value: str | None, what: str) -> str:
    return "" if value is None else check_safe_id(value, what)


def list_traces(
    graph: GraphClient, tenant_id: str, filters: TraceFilters, sort: Sort, limit: int, cursor: str | None
) -> TraceList:
    suffix, params = filters.params(tenant_id)
    kind = f"traces:{sort}"
    after_key, after_id = cursors.decode(cursor, kind) if cursor else (FIRST_PAGE_KEY, "")
    # One row more than the page tells whether another page follows.
    rows = run(
        graph,
        f"traces_page{suffix}",
        **params,
        sort=sort,
        after_key=after_key,
        after_id=after_id,
        limit=min(limit + 1, 500),
    )
    page, next_cursor = cursors.page(rows, limit, kind, "sort_key", "trace_id")
    days = run(graph, f"traces_days{suffix}", **params)
    return TraceList(
        metrics=metrics(days),
        trends=[trend(d) for d in days],
        traces=[trace_summary(r) for r in page],
        next_cursor=next_cursor,
    )


def metrics(days: list[Row]) -> TraceMetrics:
    total = {k: sum(count(d[k]) for d in days) for k in _COUNTS}
    traces = total["traces"]
    return TraceMetrics(
        **total,
        cost_usd=sum(number(d["cost_usd"]) for d in days),
        error_rate=total["traces_with_errors"] / traces if traces else 0.0,
        avg_duration_ms=sum(count(d["duration_ms"]) for d in days) / traces if traces else None,
    )


_COUNTS = (
    "traces",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "total_tokens",
    "llm_calls",
    "unpriced_llm_calls",
    "traces_with_errors",
    "errors",
)


def trend(row: Row) -> TrendPoint:
    return TrendPoint(
        day=day(row["day"]),
        traces=count(row["traces"]),
        total_tokens=count(row["total_tokens"]),
        cost_usd=number(row["cost_usd"]),
        unpriced_llm_calls=count(row["unpriced_llm_calls"]),
        traces_with_errors=count(row["traces_with_errors"]),
        errors=count(row["errors"]),
    )


def agent_summaries(graph_rows: list[Row], registered: list[dict[str, Any]]) -> list[AgentSummary]:
    """The lake's agents with their figures, and registered agents with no traces yet; deleted agents are
    left out (their data stays until purged)."""
    names = {a["agent_id"]: a["name"] for a in registered if not a.get("deleted_at")}
    deleted = {a["agent_id"] for a in registered if a.get("deleted_at")}
    out: dict[str, AgentSummary] = {}
    for r in graph_rows:
        if r["agent_id"] in deleted:
            continue
        traces = count(r["traces"])
        with_errors = count(r["traces_with_errors"])
        out[r["agent_id"]] = AgentSummary(
            agent_id=r["agent_id"],
            agent_name=names.get(r["agent_id"], r["agent_name"]),
            registered=r["agent_id"] in names,
            traces=traces,
            traces_with_errors=with_errors,
            error_rate=with_errors / traces if traces else 0.0,
            errors=count(r["errors"]),
            input_tokens=count(r["input_tokens"]),
            output_tokens=count(r["output_tokens"]),
            total_tokens=count(r["total_tokens"]),
            cost_usd=number(r["cost_usd"]),
            unpriced_llm_calls=count(r["unpriced_llm_calls"]),
            last_seen_ts_ms=r["last_seen_ts_ms"],
        )
    for agent_id, name in names.items():
        out.setdefault(
            agent_id,
            AgentSummary(
                agent_id=agent_id,
                agent_name=name,
                registered=True,
                traces=0,
                traces_with_errors=0,
                error_rate=0.0,
                errors=0,
                input_tokens=0,
                output_tokens=0,
                total_tokens=0,
                cost_usd=0.0,
                unpriced_llm_calls=0,
                last_seen_ts_ms=None,
            ),
        )
    return [out[k] for k in sorted(out)]
