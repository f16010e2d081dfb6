"""The FastAPI application factory: `create_app(settings)` (uvicorn: `clawtrace serve`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from clawtrace_api import docs, errors, web_ui
from clawtrace_api.accounts import Accounts
from clawtrace_api.billing_guard import DeficitGuard
from clawtrace_api.db.engine import make_engine
from clawtrace_api.deps import Services
from clawtrace_api.ingest.fast_path import IngestFastPath
from clawtrace_api.ingest.runtime import ingest_runtime
from clawtrace_api.key_cache import KeyCache
from clawtrace_api.metering import MeterRecorder
from clawtrace_api.routes import ROUTERS
from clawtrace_api.tracy import mcp_server
from clawtrace_pipelines.core.settings import Settings, get_settings

DESCRIPTION = """The front door of ClawTrace Lakehouse: collectors write events, the UI and scripts read traces.

Authenticate with `Authorization: Bearer ct_live_...`. A key's scopes (`ingest`, `read`, `admin`) decide what it
may call, and its tenant is the only tenant it ever sees. Errors are `application/problem+json` (RFC 9457).
"""


def build_services(settings: Settings) -> Services:
    engine = make_engine(settings)
    accounts = Accounts(engine)
    return Services(
        settings=settings,
        engine=engine,
        accounts=accounts,
        keys=KeyCache(accounts, ttl_s=settings.key_cache_seconds),
        meter=MeterRecorder(settings),
        guard=DeficitGuard(settings),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (default: from the environment)."""
    settings = settings or get_settings()
    services = build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The ingest writer first: it moves what a crashed process left in the spool before anything is served.
        await ingest_runtime(services)
        await services.meter.start()
        for start in services.extras.get("on_start", []):
            await start()
        try:
            yield
        finally:
            try:
                for stop in services.extras.get("on_stop", []):
                    await stop()
            finally:
                # Last: every request has been answered, so every metered action is in the buffer.
                await services.meter.close()
                services.close()

    # /docs and /redoc are served from bundled assets (docs.py): the default pages load them from a CDN.
    app = FastAPI(
        title="ClawTrace Lakehouse API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    docs.install(app)
    app.state.services = services
    errors.install(app)
    # The plugin's one-event POST skips the router (ingest/fast_path.py); added before CORS, so CORS (the
    # outermost) still answers a browser's preflight and adds its headers to the fast path's answers.
    app.add_middleware(IngestFastPath)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["authorization", "content-type"],
        )
    for router in ROUTERS:
        app.include_router(router)
    mcp_server.install(app, services)
    web_ui.install(app)
    return app
