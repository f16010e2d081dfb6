"""What each kind of trace asks of a session: work, sub-agents, heartbeats, compactions, retry loops,
runaway contexts and orphans."""

from __future__ import annotations

from random import Random
from typing import Any

from clawtrace_pipelines.simulator.agents import Agent
from clawtrace_pipelines.simulator.catalog import (
    ANSWERS,
    ANY_MODEL,
    COMPACTION_PROMPT,
    HEARTBEAT_PROMPT,
    PLANNING_TEXTS,
    RUNAWAY_MODELS,
    SUBAGENT_SYSTEM_PROMPT,
    SUBAGENT_TASKS,
    TASKS,
    TOPICS,
    ModelSpec,
    Weighted,
)
from clawtrace_pipelines.simulator.ids import uuid4_str
from clawtrace_pipelines.simulator.session_plan import SessionPlan, Step, ToolReq
from clawtrace_pipelines.simulator.tools import SUBAGENT_TOOLS, TOOLS, WORK_TOOLS, ToolSpec

KINDS = Weighted(
    [
        ("work", 62.0),
        ("subagent", 10.0),
        ("heartbeat", 14.0),
        ("compaction", 5.0),
        ("retry", 4.0),
        ("runaway", 1.5),
        ("orphan", 3.5),
    ]
)
SPECIAL_KINDS = ("subagent", "heartbeat", "compaction", "retry", "runaway", "orphan")
_MESSAGE_SPAN_RATE = 0.04


def session_model(rng: Random, agent: Agent) -> ModelSpec:
    """Agents stick to their models; now and then a session is routed elsewhere (a fallback, a test)."""
    r = rng.random()
    return agent.primary if r < 0.75 else agent.secondary if r < 0.95 else ANY_MODEL.pick(rng)


def tool_req(rng: Random, spec: ToolSpec, params: dict[str, Any] | None = None, fail: bool | None = None) -> ToolReq:
    """A call of `spec`; params, failure and result size drawn unless given."""
    params = spec.params(rng) if params is None else params
    fail = rng.random() < spec.error_rate if fail is None else fail
    tokens = rng.randint(30, 120) if fail else rng.randint(*spec.result_tokens)
    return ToolReq(spec, params, fail, tokens)


def tool_steps(rng: Random, calls: int, tools: Weighted[ToolSpec] = WORK_TOOLS) -> list[Step]:
    """`calls` LLM calls: each but the last asks for one to three tools, the last answers."""
    steps = []
    for _ in range(calls - 1):
        r = rng.random()
        n = 1 if r < 0.6 else 2 if r < 0.9 else 3
        steps.append(Step([tool_req(rng, tools.pick(rng)) for _ in range(n)], rng.choice(PLANNING_TEXTS)))
    steps.append(Step([], rng.choice(ANSWERS)))
    return steps


def _target_key(rng: Random, agent: Agent) -> tuple[str, str]:
    """A session key and the prompt wrapper of the channel it came from."""
    if rng.random() < 0.5:
        return agent.main_key, "{task}"
    target = rng.choice(agent.targets)
    channel, peer = target.split(":")
    return f"agent:{agent.name}:{target}", f"[{channel.title()} id:{peer}] {{task}}"


def _work(rng: Random, agent: Agent, calls: int) -> SessionPlan:
    key, wrapper = _target_key(rng, agent)
    plan = SessionPlan(
        key=key,
        model=session_model(rng, agent),
        prompt=wrapper.format(task=rng.choice(TASKS)),
        system_prompt=agent.system_prompt,
        sys_tokens=agent.sys_tokens,
        history=rng.randint(0, 60),
        steps=tool_steps(rng, calls),
    )
    if key != agent.main_key and rng.random() < _MESSAGE_SPAN_RATE:
        plan.spans.append("message_sending")
    return plan


def _child(rng: Random, agent: Agent, label: str, task: str) -> SessionPlan:
    return SessionPlan(
        key=f"agent:{agent.name}:subagent:{uuid4_str(rng)}",
        model=agent.secondary if rng.random() < 0.6 else agent.cheap,
        prompt=task,
        system_prompt=SUBAGENT_SYSTEM_PROMPT.format(name=agent.name),
        sys_tokens=rng.randint(3_000, 6_000),
        history=0,
        steps=tool_steps(rng, rng.randint(1, 4), SUBAGENT_TOOLS),
        is_sub=True,
    )


def _with_subagents(rng: Random, agent: Agent) -> SessionPlan:
    plan = _work(rng, agent, rng.randint(3, 6))
    for _ in range(1 if rng.random() < 0.8 else 2):
        label, template = rng.choice(SUBAGENT_TASKS)
        task = template.format(topic=rng.choice(TOPICS))
        params: dict[str, Any] = {"task": task, "label": label, "mode": "run", "runTimeoutSeconds": 600}
        rng.choice(plan.steps[:-1]).tools.append(ToolReq(None, params, False, 30))
        plan.child_plans.append(_child(rng, agent, label, task))
    return plan


def _retry_loop(rng: Random, agent: Agent) -> SessionPlan:
    plan = _work(rng, agent, rng.randint(2, 5))
    spec = TOOLS["exec"] if rng.random() < 0.7 else TOOLS["web_fetch"]
    # The model repeats the very same call: one params object, serialized identically every time.
    params = spec.params(rng)
    tries = rng.randint(3, 6)
    loop = [
        Step([tool_req(rng, spec, params, fail=i < tries - 1 or rng.random() < 0.5)], "Let me try that again.")
        for i in range(tries)
    ]
    at = rng.randint(0, len(plan.steps) - 1)
    plan.steps[at:at] = loop
    return plan


def _runaway(rng: Random, agent: Agent) -> SessionPlan:
    plan = _work(rng, agent, 2)
    plan.model = rng.choice(RUNAWAY_MODELS)
    plan.history = rng.randint(5, 30)
    steps = []
    for _ in range(rng.randint(20, 40) - 1):
        reqs = []
        for _ in range(rng.randint(1, 2)):
            spec = TOOLS["read"] if rng.random() < 0.6 else TOOLS["exec"]
            req = tool_req(rng, spec)
            # Whole files and long logs pasted back into the context: nothing ever trims it.
            req.result_tokens = rng.randint(1_500, 9_000)
            reqs.append(req)
        steps.append(Step(reqs, rng.choice(PLANNING_TEXTS)))
    plan.steps = [*steps, Step([], rng.choice(ANSWERS))]
    return plan


def _heartbeat(rng: Random, agent: Agent) -> SessionPlan:
    steps = [Step([], "HEARTBEAT_OK")]
    if rng.random() < 0.35:
        steps.insert(0, Step([tool_req(rng, TOOLS["read"], {"path": "HEARTBEAT.md"})], ""))
    return SessionPlan(
        key=agent.main_key,
        model=agent.cheap,
        prompt=HEARTBEAT_PROMPT,
        system_prompt=agent.system_prompt,
        sys_tokens=agent.sys_tokens,
        history=rng.randint(10, 80),
        steps=steps,
    )


def _compaction(rng: Random, agent: Agent, day: str) -> SessionPlan:
    key, _ = _target_key(rng, agent)
    note = {"path": f"memory/{day}.md", "content": "- Decided to move billing retries to the queue.\n"}
    return SessionPlan(
        key=key,
        model=session_model(rng, agent),
        prompt=COMPACTION_PROMPT.format(day=day),
        system_prompt=agent.system_prompt,
        sys_tokens=agent.sys_tokens,
        history=rng.randint(80, 300),
        steps=[
            Step([tool_req(rng, TOOLS["memory_search"])], ""),
            Step([tool_req(rng, TOOLS["write"], note)], ""),
            Step([], "NO_REPLY"),
        ],
        spans=["compaction"],
    )


def plan_session(rng: Random, agent: Agent, kind: str, day: str) -> SessionPlan:
    """The root session of a trace of `kind` (any kind but `orphan`)."""
    if kind == "work":
        return _work(rng, agent, rng.randint(2, 7))
    if kind == "subagent":
        return _with_subagents(rng, agent)
    if kind == "retry":
        return _retry_loop(rng, agent)
    if kind == "runaway":
        return _runaway(rng, agent)
    if kind == "heartbeat":
        return _heartbeat(rng, agent)
    if kind == "compaction":
        return _compaction(rng, agent, day)
    raise ValueError(f"no session plan for trace kind {kind!r}")
