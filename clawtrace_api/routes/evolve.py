"""`POST /v1/evolve/ask`: an agent asks Tracy about its own runs and gets one JSON reply.

The self-evolve skill calls this from the agent itself, with the key it already has: an ingest key bound to
the agent (or a read key naming the agent). The answer is confined to that agent, and carries what Tracy used
(tool calls with their queries and row counts, the TraceCards it read, its charts), so the agent can act on
numbers rather than prose. Nothing is kept as a session: each question stands alone.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Request

from clawtrace_api.accounts import Principal
from clawtrace_api.deps import Services, ServicesDep, authenticate, get_services
from clawtrace_api.errors import Problem
from clawtrace_api.keys import Scope
from clawtrace_api.schemas import problems
from clawtrace_api.schemas_tracy import EvolveAnswer, EvolveRequest, ToolCall, Usage
from clawtrace_api.tracy.scope import Scope as TracyScope
from clawtrace_api.tracy.service import Outcome, confine, run_answer, runtime

router = APIRouter(prefix="/v1/evolve", tags=["tracy"])


async def _agent_principal(request: Request, services: Annotated[Services, Depends(get_services)]) -> Principal:
    principal = await authenticate(request, services)
    if Scope.INGEST not in principal.scopes and Scope.READ not in principal.scopes:
        raise Problem(403, "forbidden", "this key lacks the 'ingest' or 'read' scope")
    await services.guard.check(principal.tenant_id)
    return principal


def _scope(body: EvolveRequest, principal: Principal, services: Services) -> TracyScope:
    runtime(services)
    agent_id = str(body.agent_id) if body.agent_id else principal.agent_id
    if agent_id is None:
        raise Problem(422, "invalid-request", "agent_id: required with a key that is not bound to one agent")
    return confine(services, principal, agent_id, body.trace_id)


@router.post("/ask", response_model=EvolveAnswer, responses=problems(401, 402, 403, 404, 422, 502, 503, 504))
async def ask(
    body: EvolveRequest, principal: Annotated[Principal, Depends(_agent_principal)], services: ServicesDep
) -> EvolveAnswer:
    """Ask about this agent's own runs ("which of my tools failed most this week?"): one JSON answer with the
    numbers and cards it rests on. A model failure is a 502 (or 504 past the budget), never a partial answer."""
    scope = await asyncio.to_thread(_scope, body, principal, services)
    outcome = Outcome()
    async for _ in run_answer(services, scope, [], body.question, None, outcome):
        pass
    if outcome.done is None:
        error = outcome.error
        status = 504 if error is not None and error.kind == "budget" else 502
        raise Problem(status, "tracy-failed", error.message if error else "Tracy gave no answer")
    done = outcome.done
    usage = done.usage
    results = outcome.tool_results()
    return EvolveAnswer(
        answer="".join(outcome.text).strip(),
        agent_id=scope.agent_id or "",
        trace_id=scope.trace_id,
        tool_calls=[_tool_call(t, results.get(t["id"], "")) for t in outcome.tools.values()],
        cards=[c for t in outcome.tools.values() if (c := _card_of(t, results.get(t["id"], ""))) is not None],
        charts=outcome.charts,
        usage=Usage(
            input_tokens=int(usage.get("input", 0)),
            output_tokens=int(usage.get("output", 0)),
            cache_read_tokens=int(usage.get("cache_read", 0)),
            cache_write_tokens=int(usage.get("cache_write", 0)),
        ),
        cost_usd=done.cost_usd,
        model=done.model,
    )


def _tool_call(tool: dict[str, Any], content: str) -> ToolCall:
    return ToolCall(
        id=tool["id"],
        name=tool["name"],
        input=tool.get("input") or {},
        is_error=bool(tool.get("is_error")),
        summary=tool.get("summary") or {},
        content=content,
    )


def _card_of(tool: dict[str, Any], content: str) -> dict[str, Any] | None:
    if tool["name"] != "trace_card" or tool.get("is_error"):
        return None
    # trace_card hands the model the card as YAML (the TraceCard format); the reply carries it as an object.
    try:
        card = yaml.safe_load(content)
    except yaml.YAMLError:
        return None
    return card if isinstance(card, dict) else None
