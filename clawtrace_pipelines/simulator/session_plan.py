"""The shapes a trace is built from: what a session is asked to do, and the state of a running one.

An event under construction is the tuple `(eventType, spanId, parentSpanId, relative ms, payload, is_shadow)`:
times are relative to the trace start until `traffic.py` places the trace in the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clawtrace_pipelines.simulator.catalog import ModelSpec
from clawtrace_pipelines.simulator.tools import ToolSpec

PLUGIN_ID = "clawtrace"
SHADOW_RATE = 0.5
"""Share of exec/write/sessions_spawn calls whose `after_tool_call` OpenClaw also fires from the global path."""

RawEvent = tuple[str, str, str | None, int, dict[str, Any], bool]


@dataclass
class ToolReq:
    """A tool call an LLM step requests; `spec` None means `sessions_spawn` (a sub-agent)."""

    spec: ToolSpec | None
    params: dict[str, Any]
    fail: bool = False
    result_tokens: int = 0


@dataclass
class Step:
    """One LLM call and the tools it asks for (none on the final answer)."""

    tools: list[ToolReq]
    text: str = ""


@dataclass
class SessionPlan:
    """A session to run: who, which model, what it is asked and the steps of its loop."""

    key: str
    model: ModelSpec
    prompt: str
    system_prompt: str
    sys_tokens: int
    history: int
    steps: list[Step]
    is_sub: bool = False
    child_plans: list[SessionPlan] = field(default_factory=list)
    spans: list[str] = field(default_factory=list)
    ends: bool = True


@dataclass
class SessionState:
    """A running session: its root span, ids, message count and prompt size (tokens; `cached` seen before)."""

    plan: SessionPlan
    root: str
    run_id: str
    session_id: str
    history: int
    ctx: int
    cached: int
