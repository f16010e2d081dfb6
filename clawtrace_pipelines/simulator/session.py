"""One trace as OpenClaw's hooks see it: a root session, its LLM calls and what they set off.

Events are built with times relative to the trace start (ms); `traffic.py` places the trace in the window and
serializes it.
"""

from __future__ import annotations

from random import Random
from typing import Any

from clawtrace_pipelines.simulator.catalog import ModelSpec
from clawtrace_pipelines.simulator.ids import between, tool_call_id, uuid4_str
from clawtrace_pipelines.simulator.session_plan import PLUGIN_ID, RawEvent, SessionPlan, SessionState, Step, ToolReq
from clawtrace_pipelines.simulator.spans import generic_span, spawn, tool_call


class TraceBuilder:
    """Collects the events of one trace, drawing ids and durations from the agent's RNG."""

    def __init__(self, rng: Random, agent_id: str, agent_name: str, trace_id: str) -> None:
        self.rng = rng
        self.agent_id = agent_id
        self.agent_name = agent_name
        self.trace_id = trace_id
        self.events: list[RawEvent] = []
        self.tool_errors = 0

    def emit(self, etype: str, span: str, parent: str | None, t: int, payload: dict[str, Any]) -> None:
        """Add an event `t` ms after the trace start."""
        self.events.append((etype, span, parent, t, payload, False))

    def session(self, plan: SessionPlan, t: int, parent: str | None, run_id: str) -> int:
        """Emit a whole session (root span under `parent`); returns the time it ended."""
        rng = self.rng
        root = uuid4_str(rng)
        st = SessionState(plan, root, run_id, uuid4_str(rng), plan.history, 0, 0)
        st.ctx = plan.sys_tokens + plan.history * between(rng, 150, 400) + between(rng, 30, 300)
        # A session's system prompt is often still cached from the agent's previous run.
        st.cached = plan.sys_tokens if rng.random() < 0.6 else 0
        start = t
        self.emit(
            "session_start",
            root,
            parent,
            t,
            {
                "hook": "before_agent_start",
                "pluginId": PLUGIN_ID,
                "sessionKey": plan.key,
                "agentId": self.agent_id,
                "agentName": self.agent_name,
                "isSubAgent": plan.is_sub,
                "sessionId": st.session_id,
                "runId": run_id,
            },
        )
        t += between(rng, 3, 40)
        children = iter(plan.child_plans)
        for step in plan.steps:
            llm_span, call_ids, t = self._llm(st, step, t)
            for req, call_id in zip(step.tools, call_ids, strict=True):
                t += between(rng, 2, 15)
                if req.spec is None:
                    t = spawn(self, st, llm_span, call_id, req, next(children), t)
                else:
                    t = tool_call(self, st, llm_span, call_id, req, t)
            t += between(rng, 5, 30)
        for name in plan.spans:
            t = generic_span(self, st, name, t)
        if plan.ends:
            self.emit(
                "session_end",
                root,
                parent,
                t,
                {
                    "hook": "agent_end",
                    "pluginId": PLUGIN_ID,
                    "sessionId": st.session_id,
                    "sessionKey": plan.key,
                    "messageCount": st.history + 1,
                    "durationMs": t - start,
                    "success": True,
                },
            )
        return t

    def _llm(self, st: SessionState, step: Step, t: int) -> tuple[str, list[str], int]:
        rng, plan, m = self.rng, st.plan, st.plan.model
        span = uuid4_str(rng)
        self.emit(
            "llm_before_call",
            span,
            st.root,
            t,
            {
                "hook": "llm_input",
                "pluginId": PLUGIN_ID,
                "runId": st.run_id,
                "sessionId": st.session_id,
                "sessionKey": plan.key,
                "provider": m.provider,
                "model": m.model,
                # Before the long system prompt, so the first 2,000 characters of the payload show the task.
                "prompt": plan.prompt,
                "historyMessagesCount": st.history,
                "imagesCount": 0,
                "systemPrompt": plan.system_prompt,
            },
        )
        lo, hi = m.output
        if step.tools:
            hi = max(lo + 1, hi // 3)
        output = lo + int((hi - lo) * rng.random() ** 2)
        usage = _usage(rng, m, st.ctx, st.cached, output)
        latency = between(rng, 300, 1500) + output * 1000 // m.tokens_per_s
        if m.reasoning:
            latency += between(rng, 1500, 12_000)
        t += latency
        call_ids = [tool_call_id(rng, m.id_style) for _ in step.tools]
        content: list[dict[str, Any]] = [{"type": "text", "text": step.text}] if step.text else []
        for req, call_id in zip(step.tools, call_ids, strict=True):
            name = req.spec.name if req.spec else "sessions_spawn"
            content.append({"type": "toolCall", "id": call_id, "name": name})
        self.emit(
            "llm_after_call",
            span,
            st.root,
            t,
            {
                "hook": "llm_output",
                "pluginId": PLUGIN_ID,
                "runId": st.run_id,
                "sessionId": st.session_id,
                "sessionKey": plan.key,
                "provider": m.provider,
                "model": m.model,
                "assistantTexts": [step.text] if step.text else [],
                "lastAssistant": {
                    "role": "assistant",
                    "stopReason": "toolUse" if step.tools else "stop",
                    "content": content,
                },
                "usage": usage,
            },
        )
        # The next call re-reads this whole prompt from cache and adds the answer and the tool results.
        st.cached = st.ctx
        st.ctx += output + sum(r.result_tokens for r in step.tools) + 40 * len(step.tools)
        st.history += 1 + len(step.tools)
        return span, call_ids, t

    def orphan(self, key: str, req: ToolReq, style: str) -> None:
        """A lone `after_tool_call` whose session root never reached the collector."""
        spec = req.spec
        assert spec is not None
        payload = {
            "hook": "after_tool_call",
            "pluginId": PLUGIN_ID,
            "toolCallId": tool_call_id(self.rng, style),
            "sessionKey": key,
            "toolName": spec.name,
            "params": req.params,
            "result": spec.result(self.rng, req.params),
            "durationMs": between(self.rng, *spec.duration),
        }
        self.emit("tool_after_call", uuid4_str(self.rng), uuid4_str(self.rng), 0, payload)


def _usage(rng: Random, m: ModelSpec, ctx: int, cached: int, output: int) -> dict[str, int]:
    """Provider-style usage of one call whose prompt is `ctx` tokens, `cached` of them seen just before."""
    cache_write = 0
    if m.cache == "anthropic":
        fresh = between(rng, 3, 40)
        cache_read = min(cached, ctx - fresh)
        cache_write = ctx - cache_read - fresh
    elif m.cache == "openai":
        cache_read = cached // 128 * 128 if cached >= 1024 else 0
        fresh = ctx - cache_read
    elif m.cache == "implicit":
        cache_read = int(cached * (0.6 + 0.35 * rng.random())) if cached >= 2048 else 0
        fresh = ctx - cache_read
    else:
        cache_read, fresh = 0, ctx
    return {
        "input": fresh,
        "output": output,
        "cacheRead": cache_read,
        "cacheWrite": cache_write,
        "total": fresh + output + cache_read + cache_write,
    }
