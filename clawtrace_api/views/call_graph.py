"""A trace's call graph: one node per actor (agent session, model, tool), one edge per caller -> callee."""

from __future__ import annotations

from collections import defaultdict

from clawtrace_api.schemas import SpanRow
from clawtrace_api.schemas_views import CallEdge, CallGraph, CallNode, TokenCounts


def node_id(span: SpanRow) -> str:
    return f"{span.actor_type}:{span.actor_label}"


def build_call_graph(trace_id: str, spans: list[SpanRow]) -> CallGraph:
    by_id = {s.span_id: s for s in spans}
    members: dict[str, list[SpanRow]] = defaultdict(list)
    calls: dict[tuple[str, str], int] = defaultdict(int)
    for s in spans:
        members[node_id(s)].append(s)
        parent = by_id.get(s.parent_span_id) if s.parent_span_id else None
        if parent is not None and parent.span_id != s.span_id:
            calls[(node_id(parent), node_id(s))] += 1
    nodes = [_node(key, group) for key, group in sorted(members.items())]
    edges = [CallEdge(source=a, target=b, calls=n) for (a, b), n in sorted(calls.items())]
    return CallGraph(trace_id=trace_id, nodes=nodes, edges=edges)


def _node(key: str, spans: list[SpanRow]) -> CallNode:
    first = spans[0]
    return CallNode(
        id=key,
        kind=first.actor_type,
        label=first.actor_label,
        invocations=len(spans),
        tokens=TokenCounts(
            input=sum(s.input_tokens for s in spans),
            output=sum(s.output_tokens for s in spans),
            cache_read=sum(s.cache_read_tokens for s in spans),
            cache_write=sum(s.cache_write_tokens for s in spans),
            total=sum(s.total_tokens for s in spans),
        ),
        cost_usd=sum(s.cost_usd or 0.0 for s in spans if s.cost_known),
        unpriced_calls=sum(1 for s in spans if not s.cost_known),
        errors=sum(s.has_error for s in spans),
        total_duration_ms=sum(s.duration_ms for s in spans),
    )
