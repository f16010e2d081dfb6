"""One trace as OpenClaw's hooks see it: sessions, LLM calls, tool calls and sub-agents.

Events are built with times relative to the trace start (ms); `traffic.py` places the trace in the window and
serializes it. An event is the tuple `(eventType, spanId, parentSpanId, relative ms, payload, is_shadow)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from random import Random
from typing import Any

from clawtrace_pipelines.simulator.catalog import ModelSpec
from clawtrace_pipelines.simulator.ids import tool_call_id, uuid4_str
from clawtrace_pipelines.simulator.tools import SHADOWED_TOOLS, ToolSpec

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
class _State:
    plan: SessionPlan
    root: str
    run_id: str
    session_id: str
    history: int
    ctx: int
    cached: int


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
        self.events.append((etype, span, parent, t, payload, False))

    def session(self, plan: SessionPlan, t: int, parent: str | None, run_id: str) -> int:
        """Emit a whole session (root span under `parent`); returns the time it ended."""
        rng = self.rng
        root = uuid4_str(rng)
        st = _State(plan, root, run_id, uuid4_str(rng), plan.history, 0, 0)
        st.ctx = plan.sys_tokens + plan.history * rng.randint(150, 400) + rng.randint(30, 300)
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
        t += rng.randint(3, 40)
        children = iter(plan.child_plans)
        for step in plan.steps:
            llm_span, call_ids, t = self._llm(st, step, t)
            for req, call_id in zip(step.tools, call_ids, strict=True):
                t += rng.randint(2, 15)
                if req.spec is None:
                    t = self._spawn(st, llm_span, call_id, req, next(children), t)
                else:
                    t = self._tool(st, llm_span, call_id, req, t)
            t += rng.randint(5, 30)
        for name in plan.spans:
            t = self._generic_span(st, name, t)
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

    def _generic_span(self, st: _State, name: str, t: int) -> int:
        """A rare generic span: a context compaction, or an outbound message on a channel session."""
        rng, key, span = self.rng, st.plan.key, uuid4_str(self.rng)
        start: dict[str, Any] = {"hook": "before_compaction", "pluginId": PLUGIN_ID, "sessionKey": key}
        end: dict[str, Any] = {"hook": "after_compaction", "pluginId": PLUGIN_ID, "sessionKey": key}
        if name == "compaction":
            start |= {"name": name, "messageCount": st.history, "tokenCount": st.ctx}
            end |= {"spanName": name, "messageCount": 2, "tokenCount": st.ctx // rng.randint(4, 9)}
            duration = rng.randint(4_000, 40_000)
        else:
            channel = key.split(":")[2]
            start |= {"hook": "message_sending", "name": name, "channel": channel}
            end |= {"hook": "message_sent", "spanName": name, "channel": channel, "success": True}
            duration = rng.randint(80, 1_200)
        self.emit("span_start", span, st.root, t, start)
        t += duration
        self.emit("span_end", span, st.root, t, end)
        return t + rng.randint(2, 20)

    def _llm(self, st: _State, step: Step, t: int) -> tuple[str, list[str], int]:
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
        latency = rng.randint(300, 1500) + output * 1000 // m.tokens_per_s
        if m.reasoning:
            latency += rng.randint(1500, 12_000)
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

    def _tool(self, st: _State, llm_span: str, call_id: str, req: ToolReq, t: int) -> int:
        rng, spec = self.rng, req.spec
        assert spec is not None
        span = uuid4_str(rng)
        key = st.plan.key
        self.emit(
            "tool_before_call",
            span,
            llm_span,
            t,
            {
                "hook": "before_tool_call",
                "pluginId": PLUGIN_ID,
                "runId": st.run_id,
                "toolCallId": call_id,
                "sessionKey": key,
                "toolName": spec.name,
                "params": req.params,
            },
        )
        duration = rng.randint(*spec.duration)
        after: dict[str, Any] = {
            "hook": "after_tool_call",
            "pluginId": PLUGIN_ID,
            "toolCallId": call_id,
            "sessionKey": key,
            "toolName": spec.name,
            "params": req.params,
        }
        if req.fail:
            after["error"] = rng.choice(spec.errors)
        else:
            after["result"] = spec.result(rng, req.params)
        after["durationMs"] = duration
        t += duration
        self.emit("tool_after_call", span, llm_span, t, after)
        self._maybe_shadow(st, after, t)
        if req.fail:
            self.tool_errors += 1
            self.emit(
                "error",
                uuid4_str(rng),
                span,
                t + rng.randint(1, 3),
                {
                    "hook": "after_tool_call",
                    "pluginId": PLUGIN_ID,
                    "sessionKey": key,
                    "source": "tool",
                    "toolName": spec.name,
                    "toolCallId": call_id,
                    "message": after["error"],
                },
            )
        return t + rng.randint(1, 5)

    def _maybe_shadow(self, st: _State, after: dict[str, Any], t: int) -> None:
        if after["toolName"] not in SHADOWED_TOOLS or self.rng.random() >= SHADOW_RATE:
            return
        # The global hook path knows neither the session nor the call id, nor the active span.
        shadow = {k: ("unknown" if k == "sessionKey" else v) for k, v in after.items() if k != "toolCallId"}
        self.events.append(("tool_after_call", uuid4_str(self.rng), st.root, t + self.rng.randint(3, 5), shadow, True))

    def _spawn(self, st: _State, llm_span: str, call_id: str, req: ToolReq, child: SessionPlan, t: int) -> int:
        rng, key = self.rng, st.plan.key
        tool_span, spawn_span, child_run = uuid4_str(rng), uuid4_str(rng), uuid4_str(rng)
        self.emit(
            "tool_before_call",
            tool_span,
            llm_span,
            t,
            {
                "hook": "before_tool_call",
                "pluginId": PLUGIN_ID,
                "runId": st.run_id,
                "toolCallId": call_id,
                "sessionKey": key,
                "toolName": "sessions_spawn",
                "params": req.params,
            },
        )
        t += rng.randint(2, 8)
        self.emit(
            "subagent_spawn",
            spawn_span,
            st.root,
            t,
            {
                "hook": "subagent_spawned",
                "pluginId": PLUGIN_ID,
                "sessionKey": key,
                "runId": st.run_id,
                "requesterSessionKey": key,
                "childSessionKey": child.key,
                "subagentId": child.key.rsplit(":", 1)[-1],
                "label": req.params["label"],
                "mode": req.params["mode"],
                "threadRequested": False,
            },
        )
        duration = rng.randint(10, 40)
        after = {
            "hook": "after_tool_call",
            "pluginId": PLUGIN_ID,
            "toolCallId": call_id,
            "sessionKey": key,
            "toolName": "sessions_spawn",
            "params": req.params,
            # Non-blocking: the tool returns at once, the child announces its result when done.
            "result": {"status": "accepted", "childSessionKey": child.key, "runId": child_run},
            "durationMs": duration,
        }
        self.emit("tool_after_call", tool_span, llm_span, t + duration, after)
        self._maybe_shadow(st, after, t + duration)
        r = rng.random()
        outcome = "ok" if r < 0.8 else "error" if r < 0.94 else "timeout"
        # A timed-out child is killed: its session never ends, the join comes at the run timeout.
        child.ends = outcome != "timeout"
        end = self.session(child, t + duration + rng.randint(20, 200), spawn_span, child_run)
        if outcome == "timeout":
            end = max(end, t + 600_000)
        t = end + rng.randint(5, 50)
        join: dict[str, Any] = {
            "hook": "subagent_ended",
            "pluginId": PLUGIN_ID,
            "sessionKey": key,
            "targetSessionKey": child.key,
            "targetKind": "subagent",
            "reason": "completed" if outcome == "ok" else outcome,
            "endedAt": t,
            "outcome": outcome,
        }
        if outcome != "ok":
            join["error"] = "sub-agent run timed out after 600s" if outcome == "timeout" else "child run failed"
        self.emit("subagent_join", spawn_span, st.root, t, join)
        if outcome != "ok":
            self.emit(
                "error",
                uuid4_str(rng),
                spawn_span,
                t + rng.randint(1, 3),
                {
                    "hook": "subagent_ended",
                    "pluginId": PLUGIN_ID,
                    "sessionKey": key,
                    "source": "subagent",
                    "targetSessionKey": child.key,
                    "message": join["error"],
                },
            )
        st.ctx += rng.randint(200, 1500)
        st.history += 1
        return t + rng.randint(5, 60)

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
            "durationMs": self.rng.randint(*spec.duration),
        }
        self.emit("tool_after_call", uuid4_str(self.rng), uuid4_str(self.rng), 0, payload)


def _usage(rng: Random, m: ModelSpec, ctx: int, cached: int, output: int) -> dict[str, int]:
    """Provider-style usage of one call whose prompt is `ctx` tokens, `cached` of them seen just before."""
    cache_write = 0
    if m.cache == "anthropic":
        fresh = rng.randint(3, 40)
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
