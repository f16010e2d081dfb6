"""One router per resource; `main.create_app` includes them in this order."""

from __future__ import annotations

from fastapi import APIRouter

from clawtrace_api.routes import (
    admin,
    agents,
    billing,
    costs,
    evolve,
    health,
    ingest,
    sessions,
    spans,
    traces,
    tracy,
    ui_session,
)

ROUTERS: list[APIRouter] = [
    health.router,
    ingest.router,
    agents.router,
    traces.router,
    spans.router,
    sessions.router,
    costs.router,
    billing.router,
    tracy.router,
    evolve.router,
    admin.router,
    ui_session.router,
]
