"""Traces: the filtered list, one trace's `{meta, spans}`, its tree, call graph and timeline, and its TraceCard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from clawtrace_api.deps import ReadPrincipal, ServicesDep
from clawtrace_api.errors import not_found
from clawtrace_api.routes.params import Cursor, FromMs, Limit, OptionalId, ToMs, window
from clawtrace_api.schemas import ITEM_PROBLEMS, READ_PROBLEMS, TraceDetail, TraceList
from clawtrace_api.schemas_cards import YAML, TraceCard
from clawtrace_api.schemas_views import CallGraph, Timeline, TraceTree
from clawtrace_api.views.call_graph import build_call_graph
from clawtrace_api.views.listing import Sort, TraceFilters, list_traces
from clawtrace_api.views.rows import trace_meta, trace_row, trace_spans
from clawtrace_api.views.timeline import build_timeline
from clawtrace_api.views.tree import build_tree
from clawtrace_pipelines.core.metering import Category
from clawtrace_pipelines.core.trace_cards import render_yaml

router = APIRouter(prefix="/v1/traces", tags=["traces"])

TraceId = Annotated[str, Path(min_length=1, max_length=256, description="The trace id (the collector's runId)")]


@router.get("", response_model=TraceList, responses=READ_PROBLEMS)
def get_traces(
    principal: ReadPrincipal,
    services: ServicesDep,
    agent_id: OptionalId = None,
    from_ms: FromMs = None,
    to_ms: ToMs = None,
    category: Annotated[str | None, Query(min_length=1, max_length=64, description="Work, Heartbeat, ...")] = None,
    has_error: bool | None = None,
    model: OptionalId = None,
    tool: OptionalId = None,
    min_cost_usd: Annotated[float | None, Query(ge=0, le=1e9)] = None,
    sort: Annotated[Sort, Query(description="Descending by start time, cost or duration")] = "start",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> TraceList:
    """Traces started in [from_ms, to_ms) matching every filter given, a page at a time, with the metrics
    and per-day trends of all of them (not only the page)."""
    start, end = window(from_ms, to_ms)
    filters = TraceFilters(start, end, agent_id, category, has_error, model, tool, min_cost_usd)
    page = list_traces(services.graph, principal.tenant_id, filters, sort, limit, cursor)
    # Metered once answered: a failed read (4xx, 5xx) is not charged.
    services.meter.record(principal.tenant_id, Category.TRACE_LIST_QUERY)
    return page


@router.get("/{trace_id}", response_model=TraceDetail, responses=ITEM_PROBLEMS)
def get_trace(trace_id: TraceId, principal: ReadPrincipal, services: ServicesDep) -> TraceDetail:
    """The trace's row, with its status (complete, in progress, incomplete, orphan), and its spans."""
    row = trace_row(services.graph, principal.tenant_id, trace_id)
    spans = trace_spans(services.graph, principal.tenant_id, trace_id)
    detail = TraceDetail(meta=trace_meta(row, spans), spans=spans)
    services.meter.record(principal.tenant_id, Category.TRACE_DETAIL_QUERY)
    return detail


@router.get("/{trace_id}/tree", response_model=TraceTree, responses=ITEM_PROBLEMS)
def get_trace_tree(trace_id: TraceId, principal: ReadPrincipal, services: ServicesDep) -> TraceTree:
    """The execution path nested: each span's kind, label, model, duration, tokens, own and subtree cost."""
    trace_row(services.graph, principal.tenant_id, trace_id)
    spans = trace_spans(services.graph, principal.tenant_id, trace_id)
    return TraceTree(trace_id=trace_id, spans=len(spans), roots=build_tree(spans))


@router.get("/{trace_id}/graph", response_model=CallGraph, responses=ITEM_PROBLEMS)
def get_trace_graph(trace_id: TraceId, principal: ReadPrincipal, services: ServicesDep) -> CallGraph:
    """Who called whom: agent sessions, models and tools with invocations, tokens and cost; call counts."""
    trace_row(services.graph, principal.tenant_id, trace_id)
    return build_call_graph(trace_id, trace_spans(services.graph, principal.tenant_id, trace_id))


@router.get("/{trace_id}/timeline", response_model=Timeline, responses=ITEM_PROBLEMS)
def get_trace_timeline(
    trace_id: TraceId,
    principal: ReadPrincipal,
    services: ServicesDep,
    idle_threshold_ms: Annotated[int, Query(ge=0, le=86_400_000, description="Shortest idle gap reported")] = 1000,
) -> Timeline:
    """Bars in non-overlapping lanes, the critical path, and idle gaps longer than `idle_threshold_ms`."""
    row = trace_row(services.graph, principal.tenant_id, trace_id)
    spans = trace_spans(services.graph, principal.tenant_id, trace_id)
    return build_timeline(trace_id, row["trace_start_ts_ms"], row["trace_end_ts_ms"], spans, idle_threshold_ms)


@router.get(
    "/{trace_id}/card",
    response_model=TraceCard,
    responses={**ITEM_PROBLEMS, 200: {"content": {YAML: {"schema": {"type": "string"}}}}},
)
def get_trace_card(
    trace_id: TraceId,
    principal: ReadPrincipal,
    services: ServicesDep,
    request: Request,
) -> TraceCard | Response:
    """The trace's TraceCard (gold `trace_cards`): totals, the costliest steps, redundant tool calls, failed and
    repaired steps, sub-agents and context growth; YAML when `Accept` names application/yaml, else JSON."""
    row = trace_row(services.graph, principal.tenant_id, trace_id, what="trace card")
    card = services.cards.read(principal.tenant_id, trace_id, row["trace_start_ts_ms"])
    if not card:
        raise not_found("trace card")
    # Read from the request, not declared: OpenAPI ignores a header parameter named Accept.
    if YAML in request.headers.get("accept", "").lower():
        return Response(render_yaml(card), media_type=YAML)
    return TraceCard.model_validate(card)
