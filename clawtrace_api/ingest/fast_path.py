"""The plugin's one-event request served beside FastAPI's router: same code, none of its per-request machinery.

The original plugin sends one request per event, so what each request costs in routing and dependency
resolution is most of what a single-event ingest costs. This ASGI middleware answers `POST /v1/traces/events`
itself: it authenticates with the same function the dependencies use, applies the deficit guard as
`IngestPrincipal` does, runs the route's own handler
(`routes/ingest.py:handle_event`), and turns a `Problem` into the same problem+json answer. Everything else,
and the OpenAPI description of this route, stays with FastAPI.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from clawtrace_api.errors import Problem, problem_response
from clawtrace_api.keys import Scope as KeyScope

PATH = "/v1/traces/events"


class IngestFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        # Imported here: the routes import the app's modules, which import this one.
        from clawtrace_api.deps import authenticate
        from clawtrace_api.routes.ingest import handle_event

        request = Request(scope, receive)
        services = scope["app"].state.services
        try:
            principal = await authenticate(request, services, KeyScope.INGEST)
            await services.guard.check(principal.tenant_id)
            response = await handle_event(request, principal, services)
        except Problem as problem:
            response = problem_response(problem, request)
        await response(scope, receive, send)
