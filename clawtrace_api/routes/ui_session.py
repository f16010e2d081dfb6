"""`/v1/ui/session`: the web UI's sign-in. A pasted read key is exchanged for an HttpOnly, SameSite=Strict
session cookie; the page never keeps the key, and scripts on it cannot read the cookie."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field, SecretStr

from clawtrace_api.accounts import Principal
from clawtrace_api.deps import UI_COOKIE, UI_HEADER, ServicesDep, principal_of_key, require
from clawtrace_api.errors import Problem
from clawtrace_api.keys import Scope, looks_like_key
from clawtrace_api.schemas import problems

router = APIRouter(prefix="/v1/ui", tags=["ui"])


class SignIn(BaseModel):
    key: SecretStr = Field(description="A key with the `read` scope (`ct_live_...`); never stored, never echoed")


class UiSession(BaseModel):
    tenant_id: str
    key_id: str
    scopes: list[str]
    agent_id: str | None = Field(description="The agent the key is bound to, if any")
    expires_at: datetime | None = Field(description="When the sign-in ends; null when asked with a bearer key")


def _view(principal: Principal, expires: datetime | None) -> UiSession:
    return UiSession(
        tenant_id=principal.tenant_id,
        key_id=principal.key_id,
        scopes=sorted(s.value for s in principal.scopes),
        agent_id=principal.agent_id,
        expires_at=expires,
    )


@router.post("/session", response_model=UiSession, responses=problems(401, 403, 422))
async def sign_in(body: SignIn, request: Request, response: Response, services: ServicesDep) -> UiSession:
    """Exchange a read key for a session cookie (`ct_session`: HttpOnly, SameSite=Strict, Path=/, Secure over
    HTTPS) lasting `CLAWTRACE_UI_SESSION_HOURS`. Send `X-ClawTrace-UI: 1` (what the UI's own scripts send)."""
    if request.headers.get(UI_HEADER) != "1":
        raise Problem(403, "forbidden", f"sign in from the web UI: the request needs {UI_HEADER}: 1")
    secret = body.key.get_secret_value().strip()
    principal = await principal_of_key(services.keys, secret) if looks_like_key(secret) else None
    if principal is None:
        raise Problem(401, "unauthorized", "unknown or revoked API key: paste a key made by `clawtrace keys create`")
    if Scope.READ not in principal.scopes:
        raise Problem(403, "forbidden", "this key lacks the 'read' scope: the UI signs in with a read key")
    hours = services.settings.ui_session_hours
    token, expires = await asyncio.to_thread(services.accounts.start_ui_session, principal.key_id, hours)
    response.set_cookie(
        UI_COOKIE,
        token,
        max_age=int(hours * 3600),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return _view(principal, expires)


@router.get("/session", response_model=UiSession, responses=problems(401, 403))
async def whoami(principal: Annotated[Principal, require(Scope.READ)]) -> UiSession:
    """Who the page is signed in as (401 when it is not: the UI then shows its sign-in form)."""
    return _view(principal, None)


@router.delete("/session", status_code=204)
async def sign_out(request: Request, services: ServicesDep) -> Response:
    """End the cookie's session (its row is deleted, so the cookie opens nothing, even if kept) and clear it."""
    token = request.cookies.get(UI_COOKIE)
    if token:
        services.keys.forget(token)
        await asyncio.to_thread(services.accounts.end_ui_session, token)
    response = Response(status_code=204)
    response.delete_cookie(UI_COOKIE, path="/", httponly=True, samesite="strict")
    return response
