"""The spans a session opens besides its LLM calls: tool calls (with failures and OpenClaw's shadow copies),
sub-agents and rare generic spans. Each function emits through the trace's builder and returns the time after."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from clawtrace_pipelines.simulator.ids import between, uuid4_str
from clawtrace_pipelines.simulator.session_plan import PLUGIN_ID, SHADOW_RATE, SessionPlan, SessionState, ToolReq
from clawtrace_pipelines.simulator.tools import SHADOWED_TOOLS

if TYPE_CHECKING:
    from clawtrace_pipelines.simulator.session import TraceBuilder


def tool_call(b: TraceBuilder, st: SessionState, llm_span: str, call_id: str, req: ToolReq, t: int) -> int:
    """A tool span under the LLM span that asked for it; a failure adds an `error` event on its own span."""
    rng, spec = b.rng, req.spec
    assert spec is not None
    span = uuid4_str(rng)
    key = st.plan.key
    b.emit(
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
    duration = between(rng, *spec.duration)
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
    b.emit("tool_after_call", span, llm_span, t, after)
    maybe_shadow(b, st, after, t)
    if req.fail:
        b.tool_errors += 1
        b.emit(
            "error",
            uuid4_str(rng),
            span,
            t + between(rng, 1, 3),
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
    return t + between(rng, 1, 5)


def maybe_shadow(b: TraceBuilder, st: SessionState, after: dict[str, Any], t: int) -> None:
    """For exec/write/sessions_spawn, sometimes OpenClaw's second `after_tool_call`, 3-5 ms after the real one."""
    if after["toolName"] not in SHADOWED_TOOLS or b.rng.random() >= SHADOW_RATE:
        return
    # The global hook path knows neither the session nor the call id, nor the active span.
    shadow = {k: ("unknown" if k == "sessionKey" else v) for k, v in after.items() if k != "toolCallId"}
    b.events.append(("tool_after_call", uuid4_str(b.rng), st.root, t + between(b.rng, 3, 5), shadow, True))


def spawn(
    b: TraceBuilder, st: SessionState, llm_span: str, call_id: str, req: ToolReq, child: SessionPlan, t: int
) -> int:
    """A `sessions_spawn` tool call, the spawn span under the root, the child's whole session under the spawn
    span (same trace), then the join on the spawn span."""
    rng, key = b.rng, st.plan.key
    tool_span, spawn_span, child_run = uuid4_str(rng), uuid4_str(rng), uuid4_str(rng)
    b.emit(
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
    t += between(rng, 2, 8)
    b.emit(
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
    duration = between(rng, 10, 40)
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
    b.emit("tool_after_call", tool_span, llm_span, t + duration, after)
    maybe_shadow(b, st, after, t + duration)
    r = rng.random()
    outcome = "ok" if r < 0.8 else "error" if r < 0.94 else "timeout"
    # A timed-out child is killed: its session never ends, the join comes at the run timeout.
    child.ends = outcome != "timeout"
    end = b.session(child, t + duration + between(rng, 20, 200), spawn_span, child_run)
    if outcome == "timeout":
        end = max(end, t + 600_000)
    t = end + between(rng, 5, 50)
    join: dict[str, Any] = {
        "hook": "subagent_ended",
        "pluginId": PLUGIN_ID,
        "sessionKey": key,
        "targetSessionKey": child.key,
        "targetKind": "subagent",
        "reason": "completed" if outcome == "ok" else outcome,
        "endedAt": None,  # epoch ms, set once the trace is placed in time (see traffic.py)
        "outcome": outcome,
    }
    if outcome != "ok":
        join["error"] = "sub-agent run timed out after 600s" if outcome == "timeout" else "child run failed"
    b.emit("subagent_join", spawn_span, st.root, t, join)
    if outcome != "ok":
        b.emit(
            "error",
            uuid4_str(rng),
            spawn_span,
            t + between(rng, 1, 3),
            {
                "hook": "subagent_ended",
                "pluginId": PLUGIN_ID,
                "sessionKey": key,
                "source": "subagent",
                "targetSessionKey": child.key,
                "message": join["error"],
            },
        )
    st.ctx += between(rng, 200, 1500)
    st.history += 1
    return t + between(rng, 5, 60)


def generic_span(b: TraceBuilder, st: SessionState, name: str, t: int) -> int:
    """A rare generic span: a context compaction, or an outbound message on a channel session."""
    rng, key, span = b.rng, st.plan.key, uuid4_str(b.rng)
    start: dict[str, Any] = {"hook": "before_compaction", "pluginId": PLUGIN_ID, "sessionKey": key}
    end: dict[str, Any] = {"hook": "after_compaction", "pluginId": PLUGIN_ID, "sessionKey": key}
    if name == "compaction":
        start |= {"name": name, "messageCount": st.history, "tokenCount": st.ctx}
        end |= {"spanName": name, "messageCount": 2, "tokenCount": st.ctx // between(rng, 4, 9)}
        duration = between(rng, 4_000, 40_000)
    else:
        channel = key.split(":")[2]
        start |= {"hook": "message_sending", "name": name, "channel": channel}
        end |= {"hook": "message_sent", "spanName": name, "channel": channel, "success": True}
        duration = between(rng, 80, 1_200)
    b.emit("span_start", span, st.root, t, start)
    t += duration
    b.emit("span_end", span, st.root, t, end)
    return t + between(rng, 2, 20)
