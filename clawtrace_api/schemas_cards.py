"""Response model of `GET /v1/traces/{trace_id}/card`: the TraceCard document (`core/trace_cards.py`), whose
lists the gold `trace_cards` table caps (`dbt/dbt_project.yml`, `trace_card_*` vars)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from clawtrace_api.schemas import AGENT_ID, SPAN_ID, TRACE_ID

YAML = "application/yaml"


class CardTokens(BaseModel):
    input: int = Field(description="Fresh (uncached) input tokens")
    cache_read: int
    cache_write: int
    output: int


class CardTotals(BaseModel):
    cost_usd: float = Field(description="USD of the priced LLM calls; a lower bound when unpriced_calls > 0")
    unpriced_calls: int
    tokens: CardTokens
    llm_calls: int
    tool_calls: int
    subagent_calls: int
    duration_ms: int
    models: list[str]


class CostStep(BaseModel):
    span_id: str
    kind: str
    label: str
    cost_usd: float = Field(description="6 significant digits")
    share: float = Field(description="Of the trace's cost, floored to 4 decimals: the listed shares sum to <= 1")
    tokens: int


class RedundantCluster(BaseModel):
    tool: str
    calls: int = Field(description="Calls in the cluster (arguments >= 80% similar to its first call's)")
    wasted_cost_usd: float = Field(description="LLM cost attributed to every call but the first")
    args_sample: str = Field(description="The first call's canonical arguments, cut")


class RedundantCalls(BaseModel):
    clusters: int
    extra_calls: int = Field(description="Calls beyond the first of each cluster")
    listed: list[RedundantCluster]


class FailedStep(BaseModel):
    span_id: str
    kind: str
    label: str
    error: str | None


class FailedSteps(BaseModel):
    count: int
    listed: list[FailedStep]


class RepairedStep(BaseModel):
    span_id: str = Field(description="The failed tool call")
    tool: str
    repaired_by: str = Field(description="The later successful call with similar arguments")


class RepairedSteps(BaseModel):
    count: int
    listed: list[RepairedStep]


class SubAgent(BaseModel):
    label: str
    outcome: str = Field(description="ok, error, timeout, killed, ...; unknown before the sub-agent ended")
    cost_usd: float
    tokens: int


class ContextGrowth(BaseModel):
    first_llm_input_tokens: int = Field(description="Prompt (fresh + cached) of the root session's first call")
    last_llm_input_tokens: int
    max_jump_tokens: int = Field(description="Largest growth between consecutive calls of one session")
    max_jump_span_id: str | None


class TraceCard(BaseModel):
    """One trace's TraceCard: what cost the money, what was wasted, what failed and was repaired."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "trace_id": TRACE_ID,
                    "agent_id": AGENT_ID,
                    "trace_date": "2026-11-01",
                    "totals": {
                        "cost_usd": 0.0192,
                        "unpriced_calls": 0,
                        "tokens": {"input": 38896, "cache_read": 68847, "cache_write": 0, "output": 2201},
                        "llm_calls": 5,
                        "tool_calls": 6,
                        "subagent_calls": 0,
                        "duration_ms": 46027,
                        "models": ["gemini-2.5-flash"],
                    },
                    "top_cost_steps": [
                        {
                            "span_id": SPAN_ID,
                            "kind": "llm_call",
                            "label": "gemini-2.5-flash",
                            "cost_usd": 0.00624744,
                            "share": 0.3247,
                            "tokens": 29431,
                        }
                    ],
                    "redundant_tool_calls": {"clusters": 0, "extra_calls": 0, "listed": []},
                    "failed_steps": {"count": 0, "listed": []},
                    "repaired_steps": {"count": 0, "listed": []},
                    "sub_agents": [],
                    "context_growth": {
                        "first_llm_input_tokens": 13519,
                        "last_llm_input_tokens": 31505,
                        "max_jump_tokens": 11898,
                        "max_jump_span_id": SPAN_ID,
                    },
                }
            ]
        }
    )

    trace_id: str
    agent_id: str
    trace_date: str = Field(description="UTC day of the trace's first event")
    totals: CardTotals
    top_cost_steps: list[CostStep]
    redundant_tool_calls: RedundantCalls
    failed_steps: FailedSteps
    repaired_steps: RepairedSteps
    sub_agents: list[SubAgent]
    context_growth: ContextGrowth
