"""Sessions: traces grouped by OpenClaw session key, and one session's traces and context growth."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from clawtrace_api.deps import ReadPrincipal, ServicesDep
from clawtrace_api.routes.params import MAX_MS, Cursor, FromMs, Limit, OptionalId, ToMs, window
from clawtrace_api.schemas import ITEM_PROBLEMS, READ_PROBLEMS
from clawtrace_api.schemas_sessions import SessionDetail, SessionList
from clawtrace_api.views.listing import optional_id
from clawtrace_api.views.sessions import list_sessions, session_detail

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


@router.get("", response_model=SessionList, responses=READ_PROBLEMS)
def get_sessions(
    principal: ReadPrincipal,
    services: ServicesDep,
    agent_id: OptionalId = None,
    from_ms: FromMs = None,
    to_ms: ToMs = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> SessionList:
    """Sessions with a trace started in [from_ms, to_ms), latest activity first."""
    start, end = window(from_ms, to_ms)
    return list_sessions(
        services.graph, principal.tenant_id, optional_id(agent_id, "agent_id"), start, end, limit, cursor
    )


@router.get("/{session_key:path}", response_model=SessionDetail, responses=ITEM_PROBLEMS)
def get_session(
    session_key: Annotated[str, Path(min_length=1, max_length=1024, description="e.g. agent:ops:main")],
    principal: ReadPrincipal,
    services: ServicesDep,
    from_ms: Annotated[int, Query(ge=0, le=MAX_MS, description="Traces and calls from this time on")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> SessionDetail:
    """The session's traces in order and every LLM call's context size: is the context window growing?"""
    return session_detail(services.graph, principal.tenant_id, session_key, from_ms, limit)
