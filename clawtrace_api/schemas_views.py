"""Response models of the views computed from one trace's spans: the tree, the call graph, the timeline."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from clawtrace_api.schemas import SPAN_ID, TRACE_ID


def _example(example: dict[str, object]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class TokenCounts(BaseModel):
    input: int = Field(description="Fresh (uncached) input tokens")
    output: int
    cache_read: int
    cache_write: int
    total: int


_TOKENS = {"input": 1800, "output": 210, "cache_read": 4000, "cache_write": 0, "total": 6010}


class TreeNode(BaseModel):
    """A span with its children: own cost, and the cost of its whole subtree (what a sub-agent really cost)."""

    span_id: str
    kind: str = Field(description="session, subagent, llm_call, tool_call or error")
    label: str
    model: str | None
    tool_name: str | None
    start_ts_ms: int
    duration_ms: int
    tokens: TokenCounts
    cost_usd: float | None = Field(description="This span's own cost; null when unpriced")
    subtree_cost_usd: float = Field(description="Own cost plus every descendant's priced cost")
    subtree_unpriced_calls: int = Field(description="Calls in the subtree with no known price (not in the sums)")
    has_error: int
    error_message: str | None
    children: list[TreeNode]


_LEAF: dict[str, object] = {
    "span_id": SPAN_ID,
    "kind": "llm_call",
    "label": "claude-haiku-4-5",
    "model": "claude-haiku-4-5",
    "tool_name": None,
    "start_ts_ms": 1772402887000,
    "duration_ms": 2500,
    "tokens": _TOKENS,
    "cost_usd": 0.00361,
    "subtree_cost_usd": 0.00361,
    "subtree_unpriced_calls": 0,
    "has_error": 0,
    "error_message": None,
    "children": [],
}


class TraceTree(BaseModel):
    trace_id: str
    spans: int
    roots: list[TreeNode] = Field(description="The root session first; spans whose parent is missing follow")

    model_config = _example(
        {
            "trace_id": TRACE_ID,
            "spans": 2,
            "roots": [
                {
                    **_LEAF,
                    "span_id": "span-root",
                    "kind": "session",
                    "label": "session",
                    "model": None,
                    "duration_ms": 25000,
                    "tokens": {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0, "total": 0},
                    "cost_usd": 0.0,
                    "children": [_LEAF],
                }
            ],
        }
    )


class CallNode(BaseModel):
    """An actor of the trace: an agent session, a model or a tool, with what its invocations used."""

    id: str = Field(description="`kind:label`, unique in the graph")
    kind: str
    label: str
    invocations: int
    tokens: TokenCounts
    cost_usd: float
    unpriced_calls: int
    errors: int
    total_duration_ms: int


class CallEdge(BaseModel):
    source: str = Field(description="The calling node's id")
    target: str
    calls: int


class CallGraph(BaseModel):
    trace_id: str
    nodes: list[CallNode]
    edges: list[CallEdge]

    model_config = _example(
        {
            "trace_id": TRACE_ID,
            "nodes": [
                {
                    "id": "session:session",
                    "kind": "session",
                    "label": "session",
                    "invocations": 1,
                    "tokens": {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0, "total": 0},
                    "cost_usd": 0.0,
                    "unpriced_calls": 0,
                    "errors": 0,
                    "total_duration_ms": 25000,
                },
                {
                    "id": "llm_call:claude-haiku-4-5",
                    "kind": "llm_call",
                    "label": "claude-haiku-4-5",
                    "invocations": 1,
                    "tokens": _TOKENS,
                    "cost_usd": 0.00361,
                    "unpriced_calls": 0,
                    "errors": 0,
                    "total_duration_ms": 2500,
                },
            ],
            "edges": [{"source": "session:session", "target": "llm_call:claude-haiku-4-5", "calls": 1}],
        }
    )


class TimelineBar(BaseModel):
    span_id: str
    parent_span_id: str | None
    kind: str
    label: str
    start_offset_ms: int = Field(description="Milliseconds after the trace's start")
    duration_ms: int
    lane: int = Field(description="Row of the bar: bars in one lane never overlap, not even at one instant")
    on_critical_path: bool
    has_error: int


class IdleGap(BaseModel):
    start_offset_ms: int
    duration_ms: int


class Timeline(BaseModel):
    trace_id: str
    trace_start_ts_ms: int
    duration_ms: int
    lanes: int
    bars: list[TimelineBar]
    critical_path: list[str] = Field(
        description="Span ids from the root down, each the last of its parent's children to finish"
    )
    idle_threshold_ms: int
    idle_gaps: list[IdleGap] = Field(description="Stretches longer than the threshold with no LLM or tool call")

    model_config = _example(
        {
            "trace_id": TRACE_ID,
            "trace_start_ts_ms": 1772402886610,
            "duration_ms": 25000,
            "lanes": 2,
            "bars": [
                {
                    "span_id": "span-root",
                    "parent_span_id": None,
                    "kind": "session",
                    "label": "session",
                    "start_offset_ms": 0,
                    "duration_ms": 25000,
                    "lane": 0,
                    "on_critical_path": True,
                    "has_error": 0,
                },
                {
                    "span_id": SPAN_ID,
                    "parent_span_id": "span-root",
                    "kind": "llm_call",
                    "label": "claude-haiku-4-5",
                    "start_offset_ms": 390,
                    "duration_ms": 2500,
                    "lane": 1,
                    "on_critical_path": True,
                    "has_error": 0,
                },
            ],
            "critical_path": ["span-root", SPAN_ID],
            "idle_threshold_ms": 1000,
            "idle_gaps": [{"start_offset_ms": 2890, "duration_ms": 22110}],
        }
    )
