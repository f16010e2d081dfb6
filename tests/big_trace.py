"""A synthetic trace of an exact number of spans, as raw events of the event contract (shared/EVENTS.md): a
session root, LLM calls with tool-call children, failed tools with their error spans, and sub-agents (down to
two levels) whose sessions hang under their spawn spans. The simulator's traces are far smaller; the UI's
bench (bench/ui_page.py) and its big-trace test (tests/ui/test_ui_big_trace.py) need 200 and 2,000 spans."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from clawtrace_pipelines.core.lake.storage import LakeStorage, event_hour
from tests.factories import batch_path, ndjson, record, write_raw

PLUGIN_ID = "clawtrace"
MODELS = (("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-haiku-4-5"), ("openai", "gpt-4o"))
TOOLS = ("read", "exec", "web_search", "write", "grep")
WORDS = (
    "the agent reads the repository and plans the next step before it calls a tool with the file path "
    "output error retry summary context window cache token budget schedule deploy review patch test"
).split()
FAIL_RATE = 0.04
SUBAGENT_RATE = 0.08
MAX_DEPTH = 2  # sub-agent nesting: root session -> sub-agent -> sub-sub-agent


def _text(rng: random.Random, low: int, high: int) -> str:
    """Prose of `low`..`high` bytes: payloads of realistic size (a few hundred bytes to a few KB)."""
    size = rng.randint(low, high)
    out: list[str] = []
    n = 0
    while n < size:
        word = rng.choice(WORDS)
        out.append(word)
        n += len(word) + 1
    return " ".join(out)[:size]


@dataclass
class _Builder:
    tenant: str
    agent: str
    trace_id: str
    rng: random.Random
    events: list[dict[str, Any]] = field(default_factory=list)
    spans: int = 0
    errors: int = 0

    def new_span(self) -> str:
        self.spans += 1
        return f"{self.trace_id}-s{self.spans:05d}"

    def emit(self, kind: str, span: str, parent: str | None, ts_ms: int, payload: dict[str, Any]) -> None:
        self.events.append(
            record(
                self.tenant,
                self.agent,
                event_id=f"{self.trace_id}-e{len(self.events):06d}",
                event_type=kind,
                trace_id=self.trace_id,
                span_id=span,
                parent_span_id=parent,
                ts_ms=ts_ms,
                payload={"pluginId": PLUGIN_ID, **payload},
            )
        )

    def tool(self, key: str, llm: str, t: int, room: int) -> tuple[int, int]:
        """A tool call under `llm`; a failure (when `room` allows its error span) adds one. (time, spans used)."""
        rng, span, name = self.rng, self.new_span(), self.rng.choice(TOOLS)
        call_id = f"call-{span}"
        params = {"path": f"src/module_{rng.randint(1, 99)}.py", "query": _text(rng, 40, 300)}
        self.emit(
            "tool_before_call",
            span,
            llm,
            t,
            {"toolCallId": call_id, "sessionKey": key, "toolName": name, "params": params},
        )
        t += rng.randint(20, 1500)
        fail = room >= 2 and rng.random() < FAIL_RATE
        after: dict[str, Any] = {"toolCallId": call_id, "sessionKey": key, "toolName": name, "params": params}
        after |= {"error": "exit status 1: command failed"} if fail else {"result": _text(rng, 200, 3000)}
        self.emit("tool_after_call", span, llm, t, after)
        if not fail:
            return t + rng.randint(1, 5), 1
        self.errors += 1
        message = {"source": "tool", "toolName": name, "toolCallId": call_id, "message": after["error"]}
        self.emit("error", self.new_span(), span, t + 2, {"sessionKey": key, **message})
        return t + 5, 2

    def llm(self, key: str, root: str, t: int) -> tuple[str, int, int]:
        """The LLM span's two events, the call taking 0.5-4 s. (span, time after, output tokens)."""
        rng, span = self.rng, self.new_span()
        provider, model = rng.choice(MODELS)
        before = {"sessionKey": key, "provider": provider, "model": model, "prompt": _text(rng, 300, 4000)}
        self.emit("llm_before_call", span, root, t, before | {"historyMessagesCount": rng.randint(1, 80)})
        t += rng.randint(500, 4000)
        usage = {"input": rng.randint(200, 8000), "output": rng.randint(20, 1500), "cacheRead": rng.randint(0, 20000)}
        usage |= {"cacheWrite": 0, "total": usage["input"] + usage["output"] + usage["cacheRead"]}
        after = {"sessionKey": key, "provider": provider, "model": model, "usage": usage}
        self.emit("llm_after_call", span, root, t, after | {"assistantTexts": [_text(rng, 100, 2000)]})
        return span, t, usage["output"]

    def session(self, key: str, parent: str | None, t: int, quota: int, depth: int) -> int:
        """A session of exactly `quota` spans (its root included) from `t`; the time it ends."""
        rng, root = self.rng, self.new_span()
        name = key.split(":")[1]
        start = {"sessionKey": key, "agentName": name, "isSubAgent": depth > 0, "prompt": _text(rng, 200, 1200)}
        self.emit("session_start", root, parent, t, start)
        used = 1
        while used < quota:
            room = quota - used
            llm, t, _ = self.llm(key, root, t + rng.randint(5, 200))
            used += 1
            room -= 1
            if depth < MAX_DEPTH and room >= 12 and rng.random() < SUBAGENT_RATE:
                # sessions_spawn tool + spawn span (under the root) + the child's session under the spawn span.
                child = min(room - 2, rng.randint(8, 80))
                t = self.spawn(key, root, llm, t, child, depth)
                used += 2 + child
                continue
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 4))):
                if used >= quota:
                    break
                t, n = self.tool(key, llm, t, quota - used)
                used += n
        t += rng.randint(10, 500)
        self.emit("session_end", root, parent, t, {"sessionKey": key, "messageCount": used, "durationMs": 0})
        return t

    def spawn(self, key: str, root: str, llm: str, t: int, child_quota: int, depth: int) -> int:
        tool, spawn = self.new_span(), self.new_span()
        child_key = f"{key.rsplit(':subagent:', 1)[0]}:subagent:{spawn}"
        params = {"label": f"helper-{spawn[-5:]}", "mode": "run", "task": _text(self.rng, 100, 600)}
        call = {"toolCallId": f"call-{tool}", "sessionKey": key, "toolName": "sessions_spawn", "params": params}
        self.emit("tool_before_call", tool, llm, t, call)
        spawned = {"sessionKey": key, "requesterSessionKey": key, "childSessionKey": child_key, "mode": "run"}
        self.emit("subagent_spawn", spawn, root, t + 3, spawned | {"label": params["label"]})
        self.emit("tool_after_call", tool, llm, t + 20, call | {"result": {"status": "accepted"}, "durationMs": 17})
        t = self.session(child_key, spawn, t + 50, child_quota, depth + 1)
        join = {"sessionKey": key, "targetSessionKey": child_key, "targetKind": "subagent", "outcome": "ok"}
        self.emit("subagent_join", spawn, root, t + 10, join | {"reason": "completed"})
        return t + 20


@dataclass
class BigTrace:
    trace_id: str
    spans: int
    errors: int
    start_ms: int
    end_ms: int
    events: list[dict[str, Any]]


def big_trace(tenant: str, agent: str, trace_id: str, spans: int, start_ms: int, seed: int = 3) -> BigTrace:
    """The raw events of a trace of exactly `spans` spans, starting at `start_ms`."""
    b = _Builder(tenant, agent, trace_id, random.Random(f"{seed}:{trace_id}"))
    end = b.session(f"agent:big:{trace_id}", None, start_ms, spans, 0)
    assert b.spans == spans, (b.spans, spans)
    return BigTrace(trace_id, spans, b.errors, start_ms, end, b.events)


def write_big_trace(storage: LakeStorage, trace: BigTrace, tenant: str, agent: str) -> None:
    """One batch file per event hour (the raw zone is partitioned by event time), each with its arrival record."""
    by_hour: dict[Any, list[dict[str, Any]]] = {}
    for event in trace.events:
        by_hour.setdefault(event_hour(event["event"]["tsMs"]), []).append(event)
    for events in by_hour.values():
        first = events[0]["event"]["tsMs"]
        write_raw(
            storage, batch_path(tenant, agent, first, name=f"batch-{trace.trace_id}-{first}.ndjson"), ndjson(events)
        )
