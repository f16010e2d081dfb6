"""Response models of sessions (traces grouped by OpenClaw session key) and cost breakdowns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from clawtrace_api.schemas import AGENT_ID, TRACE_EXAMPLE, TRACE_ID, TraceSummary

SESSION_KEY = "agent:inbox-triage:main"


def _example(example: dict[str, object]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class SessionSummary(BaseModel):
    session_key: str
    agent_id: str = Field(description="The session's agent (the smallest id if several agents share the key)")
    agents: int
    traces: int
    first_start_ts_ms: int
    last_end_ts_ms: int
    llm_calls: int
    total_tokens: int
    cost_usd: float
    errors: int


_SESSION = {
    "session_key": SESSION_KEY,
    "agent_id": AGENT_ID,
    "agents": 1,
    "traces": 6,
    "first_start_ts_ms": 1772402886610,
    "last_end_ts_ms": 1772409589187,
    "llm_calls": 22,
    "total_tokens": 310000,
    "cost_usd": 0.24,
    "errors": 1,
}


class SessionList(BaseModel):
    sessions: list[SessionSummary] = Field(description="Latest activity first")
    next_cursor: str | None

    model_config = _example({"sessions": [_SESSION], "next_cursor": None})


class ContextPoint(BaseModel):
    """One LLM call of the session: how big its context was."""

    trace_id: str
    span_id: str
    span_start_ts_ms: int
    model: str | None
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    context_tokens: int = Field(description="input + cache_read + cache_write: the prompt the model read")


class ContextGrowth(BaseModel):
    """Is the context window growing? The first, last and largest prompt, and the mean growth per call."""

    calls: int
    first_context_tokens: int | None
    last_context_tokens: int | None
    peak_context_tokens: int | None
    growth_tokens: int | None = Field(description="last - first")
    tokens_per_call: float | None = Field(description="Least-squares slope of context tokens over call number")


class SessionDetail(BaseModel):
    session_key: str
    traces: list[TraceSummary] = Field(description="In start order (the first `limit`)")
    calls: list[ContextPoint]
    growth: ContextGrowth
    truncated: bool = Field(description="More traces or calls than `limit`: page with `from_ms`")

    model_config = _example(
        {
            "session_key": SESSION_KEY,
            "traces": [TRACE_EXAMPLE],
            "calls": [
                {
                    "trace_id": TRACE_ID,
                    "span_id": "span-llm-1",
                    "span_start_ts_ms": 1772402887000,
                    "model": "claude-haiku-4-5",
                    "input_tokens": 1800,
                    "cache_read_tokens": 4000,
                    "cache_write_tokens": 0,
                    "output_tokens": 210,
                    "context_tokens": 5800,
                }
            ],
            "growth": {
                "calls": 1,
                "first_context_tokens": 5800,
                "last_context_tokens": 5800,
                "peak_context_tokens": 5800,
                "growth_tokens": 0,
                "tokens_per_call": None,
            },
            "truncated": False,
        }
    )


class CostGroup(BaseModel):
    key: str = Field(description="The model, tool, agent id, session key, day or category ('' when absent)")
    traces: int
    calls: int = Field(description="LLM calls (tool calls for group_by=tool)")
    priced_calls: int
    unpriced_calls: int = Field(description="Calls with no known price: counted here, not in cost_usd")
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    total_tokens: int
    cost_usd: float


_GROUP = {
    "key": "claude-haiku-4-5",
    "traces": 12,
    "calls": 22,
    "priced_calls": 22,
    "unpriced_calls": 0,
    "input_tokens": 40000,
    "output_tokens": 5000,
    "cache_read_tokens": 200000,
    "cache_write_tokens": 10000,
    "total_tokens": 255000,
    "cost_usd": 0.2413,
}


class CostBreakdown(BaseModel):
    group_by: str
    from_ms: int
    to_ms: int
    groups: list[CostGroup] = Field(description="Costliest first (days in order), at most `limit`")
    other: CostGroup | None = Field(description="What the groups beyond `limit` add up to; null when none")
    totals: CostGroup

    model_config = _example(
        {
            "group_by": "model",
            "from_ms": 1772323200000,
            "to_ms": 1772928000000,
            "groups": [_GROUP],
            "other": None,
            "totals": {**_GROUP, "key": "total"},
        }
    )
