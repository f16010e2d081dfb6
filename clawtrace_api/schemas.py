"""Response models of the read API: agents, trace lists, trace detail (the original's `{meta, spans}`), spans.

Field names are the silver columns' (`pg_traces`, `pg_spans`), as the original API returned them; money is
USD as a JSON number; times are epoch milliseconds. Every model carries an example for the OpenAPI document.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from clawtrace_api.errors import PROBLEM_JSON, ProblemBody

TRACE_ID = "9b7c1e3a-5d0f-4c1a-9e2b-3f4a5b6c7d8e"
AGENT_ID = "3a3f8636-b6e3-4b63-9da8-430da28de5c9"
SPAN_ID = "span-llm-1"


def problems(*statuses: int) -> dict[int | str, dict[str, object]]:
    """The `responses` entry of a route: its error statuses, each an `application/problem+json` body."""
    return {
        status: {
            "model": ProblemBody,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemBody"}}},
            "description": _DESCRIPTIONS[status],
        }
        for status in statuses
    }


_DESCRIPTIONS = {
    401: "No key, or an unknown or revoked one",
    402: "The tenant's credit balance is below zero and the deficit guard is on (CLAWTRACE_BILLING_GUARD)",
    403: "The key lacks the scope this route needs",
    404: "No such id for this tenant (an unknown id and another tenant's are answered alike)",
    409: "The request conflicts with the resource's state (a Tracy session asked under another scope)",
    422: "A malformed parameter or body, or an answer larger than the row limit (narrow the request)",
    502: "The model behind Tracy failed (authentication, overload, connection): the problem says which",
    503: "The graph cannot be reached, or Tracy is not enabled (no ANTHROPIC_API_KEY): the problem says which",
    504: "The graph, the lake or Tracy took longer than its timeout or budget",
}
READ_PROBLEMS = problems(401, 402, 403, 422, 503, 504)
ITEM_PROBLEMS = problems(401, 402, 403, 404, 422, 503, 504)
BILLING_PROBLEMS = problems(401, 403, 422)
ADMIN_PROBLEMS = problems(401, 403, 422)
ADMIN_ITEM_PROBLEMS = problems(401, 403, 404, 422)


def _example(example: dict[str, object]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class TraceStatus(StrEnum):
    """Where a trace is in its life, from what silver holds and the clock.

    `complete`: its root session span has both its start and its `session_end`. `in_progress`: no
    `session_end` yet and an event within the last few minutes (the agent is still running). `incomplete`:
    no `session_end` and no recent event (the agent crashed or the collector lost it). `orphan`: no
    `session_start` at all (a dangling call; the original UI hid these).
    """

    COMPLETE = "complete"
    IN_PROGRESS = "in_progress"
    INCOMPLETE = "incomplete"
    ORPHAN = "orphan"


class AgentSummary(BaseModel):
    agent_id: str
    agent_name: str | None = Field(description="The registered name, else the name the agent's events carry")
    registered: bool = Field(description="Whether the agent is registered in this service (else lake-only)")
    traces: int
    traces_with_errors: int
    error_rate: float = Field(description="Share of traces with an error (0 when there are none)")
    errors: int
    input_tokens: int
    output_tokens: int
    total_tokens: int
    cost_usd: float
    unpriced_llm_calls: int = Field(description="LLM calls with no known price: not in cost_usd")
    last_seen_ts_ms: int | None

    model_config = _example(
        {
            "agent_id": AGENT_ID,
            "agent_name": "inbox-triage",
            "registered": True,
            "traces": 120,
            "traces_with_errors": 6,
            "error_rate": 0.05,
            "errors": 9,
            "input_tokens": 210000,
            "output_tokens": 30000,
            "total_tokens": 1240000,
            "cost_usd": 1.84,
            "unpriced_llm_calls": 0,
            "last_seen_ts_ms": 1772409589187,
        }
    )


class AgentList(BaseModel):
    agents: list[AgentSummary]

    model_config = _example({"agents": [AgentSummary.model_config["json_schema_extra"]["examples"][0]]})  # type: ignore[index]


TRACE_EXAMPLE: dict[str, object] = {
    "trace_id": TRACE_ID,
    "agent_id": AGENT_ID,
    "agent_name": "inbox-triage",
    "session_key": "agent:inbox-triage:main",
    "trace_start_ts_ms": 1772402886610,
    "trace_end_ts_ms": 1772402911610,
    "duration_ms": 25000,
    "event_count": 14,
    "llm_calls": 3,
    "tool_calls": 3,
    "subagents": 0,
    "total_input_tokens": 5200,
    "total_output_tokens": 640,
    "total_cache_read_tokens": 12000,
    "total_cache_write_tokens": 800,
    "total_tokens": 18640,
    "cost_usd": 0.0154,
    "unpriced_llm_calls": 0,
    "has_error": 0,
    "error_count": 0,
    "category": "Work",
    "is_orphan": False,
}


class TraceSummary(BaseModel):
    """One trace (agent loop): a `pg_traces` row."""

    trace_id: str
    agent_id: str
    agent_name: str | None
    session_key: str | None
    trace_start_ts_ms: int
    trace_end_ts_ms: int
    duration_ms: int
    event_count: int
    llm_calls: int
    tool_calls: int
    subagents: int
    total_input_tokens: int
    total_output_tokens: int
    total_cache_read_tokens: int
    total_cache_write_tokens: int
    total_tokens: int
    cost_usd: float
    unpriced_llm_calls: int
    has_error: int = Field(description="1 when any span failed (0/1, as the original)")
    error_count: int
    category: str = Field(description="Work, Heartbeat or Compact Memory")
    is_orphan: bool

    model_config = _example(TRACE_EXAMPLE)


class TraceMetrics(BaseModel):
    """Totals over every trace the filters select (not only the page)."""

    traces: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    total_tokens: int
    cost_usd: float
    llm_calls: int
    unpriced_llm_calls: int
    traces_with_errors: int
    error_rate: float
    errors: int
    avg_duration_ms: float | None


class TrendPoint(BaseModel):
    """One UTC day of the selected traces."""

    day: str = Field(description="YYYY-MM-DD (UTC, the trace's start)")
    traces: int
    total_tokens: int
    cost_usd: float
    unpriced_llm_calls: int
    traces_with_errors: int
    errors: int


class TraceList(BaseModel):
    metrics: TraceMetrics
    trends: list[TrendPoint]
    traces: list[TraceSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page")

    model_config = _example(
        {
            "metrics": {
                "traces": 1,
                "input_tokens": 5200,
                "output_tokens": 640,
                "cache_read_tokens": 12000,
                "cache_write_tokens": 800,
                "total_tokens": 18640,
                "cost_usd": 0.0154,
                "llm_calls": 3,
                "unpriced_llm_calls": 0,
                "traces_with_errors": 0,
                "error_rate": 0.0,
                "errors": 0,
                "avg_duration_ms": 25000.0,
            },
            "trends": [
                {
                    "day": "2026-03-01",
                    "traces": 1,
                    "total_tokens": 18640,
                    "cost_usd": 0.0154,
                    "unpriced_llm_calls": 0,
                    "traces_with_errors": 0,
                    "errors": 0,
                }
            ],
            "traces": [TRACE_EXAMPLE],
            "next_cursor": None,
        }
    )


_SPAN_EXAMPLE: dict[str, object] = {
    "span_id": SPAN_ID,
    "parent_span_id": "span-root",
    "actor_type": "llm_call",
    "actor_label": "claude-haiku-4-5",
    "provider": "anthropic",
    "model": "claude-haiku-4-5",
    "tool_name": None,
    "span_start_ts_ms": 1772402887000,
    "span_end_ts_ms": 1772402889500,
    "duration_ms": 2500,
    "input_tokens": 1800,
    "output_tokens": 210,
    "cache_read_tokens": 4000,
    "cache_write_tokens": 0,
    "total_tokens": 6010,
    "cost_usd": 0.00361,
    "cost_known": True,
    "has_error": 0,
    "error_message": None,
    "event_count": 2,
}


class SpanRow(BaseModel):
    """One span: a `pg_spans` row without its payloads."""

    span_id: str
    parent_span_id: str | None
    actor_type: str = Field(description="session, subagent, llm_call, tool_call or error")
    actor_label: str
    provider: str | None
    model: str | None
    tool_name: str | None
    span_start_ts_ms: int
    span_end_ts_ms: int
    duration_ms: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    total_tokens: int
    cost_usd: float | None = Field(description="Null when the call has no known price (cost_known false)")
    cost_known: bool
    has_error: int
    error_message: str | None
    event_count: int

    model_config = _example(_SPAN_EXAMPLE)


class TraceMeta(TraceSummary):
    status: TraceStatus

    model_config = _example({**TRACE_EXAMPLE, "status": "complete"})


class TraceDetail(BaseModel):
    """The original API's trace detail: the trace row and its spans in start order."""

    meta: TraceMeta
    spans: list[SpanRow]

    model_config = _example({"meta": {**TRACE_EXAMPLE, "status": "complete"}, "spans": [_SPAN_EXAMPLE]})


class Payload(BaseModel):
    """A span payload (JSON text as the collector sent it), cut at `payload_max_bytes`."""

    text: str | None = Field(description="The payload, ending in a `[truncated ...]` marker when cut")
    bytes: int = Field(description="The payload's full size in UTF-8 bytes")
    truncated: bool


class SpanDetail(SpanRow):
    trace_id: str
    input_payload: Payload
    output_payload: Payload

    model_config = _example(
        {
            **_SPAN_EXAMPLE,
            "trace_id": TRACE_ID,
            "input_payload": {
                "text": '{"model": "claude-haiku-4-5", "prompt": "..."}',
                "bytes": 46,
                "truncated": False,
            },
            "output_payload": {"text": '{"usage": {"input": 1800, "output": 210}}', "bytes": 41, "truncated": False},
        }
    )
