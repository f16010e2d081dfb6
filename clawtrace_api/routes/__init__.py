"""One router per resource; `main.create_app` includes them in this order."""

from __future__ import annotations

from fastapi import APIRouter

from clawtrace_api.routes import admin, health, ingest

ROUTERS: list[APIRouter] = [health.router, ingest.router, admin.router]
