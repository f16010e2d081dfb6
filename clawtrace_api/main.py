"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from pydantic import BaseModel

from clawtrace_pipelines.core.settings import Settings, get_settings


class Health(BaseModel):
    status: str
    lake: str
    table_format: str


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for `settings` (default: from the environment)."""
    settings = settings or get_settings()
    app = FastAPI(title="ClawTrace Lakehouse API", version="0.1.0")

    @app.get("/healthz", response_model=Health, tags=["health"])
    def healthz() -> Health:
        return Health(status="ok", lake=settings.lake, table_format=settings.table_format)

    return app
