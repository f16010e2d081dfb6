"""Tracy's chat: `POST /v1/tracy/chat` answers as Server-Sent Events; `/v1/tracy/sessions` lists, shows and
deletes the caller's conversations.

Everything that can refuse a question (no Anthropic key: 503; a session, agent or trace that is not the
caller's: 404; a session asked under another scope: 409; credit deficit: 402) is checked in the `_plan`
dependency, before the stream starts, so it is a real HTTP status with a problem body. Once streaming, a failure
is an `error` event and the stream ends.

Events, each `data` a JSON object: `session` {session_id, scope} first; then `text` {text}, `tool_started`
{id, name, input}, `tool_finished` {id, name, is_error, summary: query and row count ...}, `chart` {title,
option}; last either `done` {usage, cost_usd, model, rounds, message_id} or `error` {message, kind}.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent

from clawtrace_api.deps import ReadPrincipal, Services, ServicesDep
from clawtrace_api.errors import Problem, not_found
from clawtrace_api.schemas import ITEM_PROBLEMS, READ_PROBLEMS, problems
from clawtrace_api.schemas_tracy import ChatRequest, Message, MessageList, SessionList, SessionSummary
from clawtrace_api.tracy.events import Done, TracyEvent
from clawtrace_api.tracy.scope import Scope
from clawtrace_api.tracy.service import Outcome, confine, run_answer, runtime
from clawtrace_api.tracy.store import SessionInfo, TracyStore

router = APIRouter(prefix="/v1/tracy", tags=["tracy"])

SessionId = Annotated[UUID, Path(description="The session id (from the `session` event)")]
CHAT_PROBLEMS = problems(401, 402, 403, 404, 409, 422, 503)


def store(services: Services) -> TracyStore:
    found: TracyStore | None = services.extras.get("tracy_store")
    if found is None:
        found = services.extras.setdefault("tracy_store", TracyStore(services.engine))
    return found


@dataclass
class ChatPlan:
    session_id: str
    scope: Scope
    history: list[dict[str, Any]]
    question: str
    page_context: str | None


def _plan_sync(body: ChatRequest, principal: Any, services: Services) -> ChatPlan:
    runtime(services)
    tenant = principal.tenant_id
    agent_id = str(body.agent_id) if body.agent_id else None
    sessions = store(services)
    if body.session_id is None:
        scope = confine(services, principal, agent_id, body.trace_id)
        session_id = sessions.create(tenant, principal.key_id, scope.agent_id, scope.trace_id, body.question)
        history: list[dict[str, Any]] = []
    else:
        session_id = str(body.session_id)
        info = sessions.get(tenant, session_id)
        if info is None:
            raise not_found("session")
        if (agent_id is not None and agent_id != info.agent_id) or (
            body.trace_id is not None and body.trace_id != info.trace_id
        ):
            raise Problem(
                409, "scope-conflict", "a session keeps the scope it was started in: start a new session to ask there"
            )
        scope = confine(services, principal, info.agent_id, info.trace_id)
        history = sessions.history(tenant, session_id)
    return ChatPlan(session_id, scope, history, body.question, body.page_context)


async def _plan(body: ChatRequest, principal: ReadPrincipal, services: ServicesDep) -> ChatPlan:
    return await asyncio.to_thread(_plan_sync, body, principal, services)


def _sse(event: TracyEvent) -> ServerSentEvent:
    # Every event names its SSE type in `type` (tracy/events.py).
    return ServerSentEvent(event=event.type, data=asdict(event))


@router.post("/chat", response_class=EventSourceResponse, responses=CHAT_PROBLEMS)
async def chat(plan: Annotated[ChatPlan, Depends(_plan)], services: ServicesDep) -> AsyncIterable[ServerSentEvent]:
    """Ask Tracy; the answer streams as Server-Sent Events (see the module docs for the event types).

    Without `session_id` a session starts, confined to the agent or trace given (or the whole tenant). The
    question and every message of the answer are kept in the session, even when the stream is cut off."""
    scope = {"agent_id": plan.scope.agent_id, "trace_id": plan.scope.trace_id}
    yield ServerSentEvent(event="session", data={"session_id": plan.session_id, "scope": scope})
    outcome = Outcome()
    try:
        async for event in run_answer(services, plan.scope, plan.history, plan.question, plan.page_context, outcome):
            sse = _sse(event)
            if isinstance(event, Done):
                ids = await asyncio.to_thread(_keep, services, plan, outcome)
                sse.data["message_id"] = ids[-1] if ids else None
            yield sse
    finally:
        if outcome.done is None:
            # Cut off or failed: keep the question and what was said, so the session shows what happened.
            await asyncio.shield(asyncio.to_thread(_keep, services, plan, outcome))


def _keep(services: Services, plan: ChatPlan, outcome: Outcome) -> list[str]:
    done = outcome.done
    transcript = list(outcome.transcript)
    if done is None and outcome.error is not None:
        # Say in the session why the answer stopped, as the closing assistant turn (so turns still alternate).
        note = {"type": "text", "text": f"(no complete answer: {outcome.error.message})"}
        if transcript and transcript[-1]["role"] == "assistant":
            last = transcript[-1]
            blocks = (
                last["content"] if isinstance(last["content"], list) else [{"type": "text", "text": last["content"]}]
            )
            transcript[-1] = {"role": "assistant", "content": [*blocks, note]}
        else:
            transcript.append({"role": "assistant", "content": [note]})
    if not transcript:
        transcript = [{"role": "user", "content": plan.question}]
        said = "".join(outcome.text)
        if outcome.error is not None:
            said += f"\n\n(no complete answer: {outcome.error.message})"
        transcript.append({"role": "assistant", "content": said.strip() or "(no answer)"})
    usage: dict[str, Any] = (
        {"usage": done.usage, "cost_usd": done.cost_usd, "model": done.model}
        if done is not None
        else {"error": outcome.error.message if outcome.error else "the answer was cut off"}
    )
    try:
        return store(services).append(plan.scope.tenant_id, plan.session_id, transcript, usage)
    except LookupError:
        return []  # deleted while it answered


def _summary(info: SessionInfo) -> SessionSummary:
    return SessionSummary(
        session_id=info.session_id,
        title=info.title,
        agent_id=info.agent_id,
        trace_id=info.trace_id,
        created_at=info.created_at,
        updated_at=info.updated_at,
        messages=info.messages,
    )


@router.get("/sessions", response_model=SessionList, responses=READ_PROBLEMS)
def list_sessions(
    principal: ReadPrincipal,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[datetime | None, Query(description="Only sessions last active before this time")] = None,
) -> SessionList:
    """The caller's sessions, most recently active first."""
    found = store(services).recent(principal.tenant_id, limit + 1, before)
    page = found[:limit]
    return SessionList(
        sessions=[_summary(s) for s in page], next_before=page[-1].updated_at if len(found) > limit else None
    )


@router.get("/sessions/{session_id}", response_model=SessionSummary, responses=ITEM_PROBLEMS)
def get_session(session_id: SessionId, principal: ReadPrincipal, services: ServicesDep) -> SessionSummary:
    """One of the caller's sessions (404 for an id of another tenant, as for one that does not exist)."""
    info = store(services).get(principal.tenant_id, str(session_id))
    if info is None:
        raise not_found("session")
    return _summary(info)


@router.get("/sessions/{session_id}/messages", response_model=MessageList, responses=ITEM_PROBLEMS)
def get_messages(session_id: SessionId, principal: ReadPrincipal, services: ServicesDep) -> MessageList:
    """Every message of the session in order, as the model saw them (tool calls and their results included)."""
    sessions = store(services)
    info = sessions.get(principal.tenant_id, str(session_id))
    messages = sessions.messages(principal.tenant_id, str(session_id)) if info else None
    if info is None or messages is None:
        raise not_found("session")
    return MessageList(
        session=_summary(info),
        messages=[
            Message(
                message_id=m.message_id,
                seq=m.seq,
                role="assistant" if m.role == "assistant" else "user",
                content=m.content,
                usage=m.usage,
                created_at=m.created_at,
            )
            for m in messages
        ],
    )


@router.delete("/sessions/{session_id}", status_code=204, responses=ITEM_PROBLEMS)
def delete_session(session_id: SessionId, principal: ReadPrincipal, services: ServicesDep) -> Response:
    """Delete the session and its messages."""
    if not store(services).delete(principal.tenant_id, str(session_id)):
        raise not_found("session")
    return Response(status_code=204)
