"""What routes depend on, as `Annotated` dependencies: the services of the app, the caller's principal.

The tenant is always the key's: no route reads a tenant from a header, the path or the body.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Engine

from clawtrace_api.accounts import Accounts, Principal
from clawtrace_api.billing_guard import DeficitGuard
from clawtrace_api.errors import Problem
from clawtrace_api.key_cache import KeyCache
from clawtrace_api.keys import Scope
from clawtrace_api.metering import MeterRecorder
from clawtrace_api.views.cards import CardReader
from clawtrace_pipelines.core.graph.client import GraphClient, connect
from clawtrace_pipelines.core.settings import Settings


@dataclass
class Services:
    """One per app: settings, the database, the key cache, the meter, the graph client (opened on first use)."""

    settings: Settings
    engine: Engine
    accounts: Accounts
    keys: KeyCache
    meter: MeterRecorder
    guard: DeficitGuard
    extras: dict[str, Any] = field(default_factory=dict)
    _graph: GraphClient | None = None
    _cards: CardReader | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def graph(self) -> GraphClient:
        with self._lock:
            if self._graph is None:
                self._graph = connect(self.settings)
            return self._graph

    @property
    def cards(self) -> CardReader:
        """The app's one `trace_cards` reader (the card route and Tracy's tools share it), opened on first use."""
        with self._lock:
            if self._cards is None:
                self._cards = CardReader(self.settings)
            return self._cards

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()
        self.keys.flush_usage()
        self.engine.dispose()


# `async def` for the dependencies that do no I/O: FastAPI runs a plain `def` dependency in its thread pool,
# a hop that costs more than the function (measured on the ingest path: a quarter of its event-loop time).
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]

_BEARER = "bearer "


async def _principal(request: Request, services: ServicesDep) -> Principal:
    return await authenticate(request, services)


UI_COOKIE = "ct_session"
# A cookie-authenticated request that changes something must carry this header: a cross-site form cannot set
# it, and a cross-origin script cannot send it without a CORS preflight the API does not grant. SameSite=Strict
# already keeps the cookie off cross-site requests; this is the second lock.
UI_HEADER = "x-clawtrace-ui"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def authenticate(request: Request, services: Services, scope: Scope | None = None) -> Principal:
    """The principal of the request's bearer key, else of its web UI session cookie (401 without either,
    403 when it lacks `scope`).

    Async, so a cached key costs no thread hand-off: ingest checks a key on every event the plugin sends."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith(_BEARER):
        secret = header[len(_BEARER) :].strip()
    elif not header and (cookie := request.cookies.get(UI_COOKIE)):
        if request.method not in _SAFE_METHODS and request.headers.get(UI_HEADER) != "1":
            raise Problem(403, "forbidden", f"a signed-in browser request that changes something needs {UI_HEADER}: 1")
        secret = cookie
    else:
        raise Problem(
            401,
            "unauthorized",
            "send an API key: Authorization: Bearer ct_live_...",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = await principal_of_key(services.keys, secret)
    if principal is None:
        raise Problem(401, "unauthorized", "unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    if scope is not None:
        _check_scope(principal, scope)
    return principal


async def principal_of_key(keys: KeyCache, secret: str) -> Principal | None:
    """The principal of a key's secret (None: unknown or revoked), through the cache; the database is asked in a
    thread, only on a miss. Shared by the routes and the MCP endpoint's token verifier."""
    cached, principal = keys.peek(secret)
    if not cached:
        principal = await asyncio.to_thread(keys.lookup, secret)
    elif keys.usage_due():
        await asyncio.to_thread(keys.flush_usage)
    return principal


def _check_scope(principal: Principal, scope: Scope) -> None:
    if scope not in principal.scopes:
        raise Problem(403, "forbidden", f"this key lacks the {scope.value!r} scope")


def require(scope: Scope, *, guarded: bool = False) -> Any:
    """A dependency: the caller's principal, if its key has `scope` (403 otherwise) and, when `guarded`, its
    tenant is not in credit deficit (402, with the deficit guard on: billing_guard.py)."""

    async def dependency(principal: Annotated[Principal, Depends(_principal)], services: ServicesDep) -> Principal:
        _check_scope(principal, scope)
        if guarded:
            await services.guard.check(principal.tenant_id)
        return principal

    return Depends(dependency)


IngestPrincipal = Annotated[Principal, require(Scope.INGEST, guarded=True)]
ReadPrincipal = Annotated[Principal, require(Scope.READ, guarded=True)]
# The billing routes: a tenant in deficit must still see its usage and balance.
BillingPrincipal = Annotated[Principal, require(Scope.READ)]
AdminPrincipal = Annotated[Principal, require(Scope.ADMIN)]
