"""`/healthz` (the process is up) and `/readyz` (database, lake and graph reachable)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from clawtrace_api.deps import ServicesDep
from clawtrace_pipelines.core.lake.storage import LakeStorage

router = APIRouter(tags=["health"])
NIL_TENANT = "00000000-0000-0000-0000-000000000000"


class Health(BaseModel):
    status: str
    lake: str
    table_format: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


@router.get("/healthz", response_model=Health)
def healthz(services: ServicesDep) -> Health:
    s = services.settings
    return Health(status="ok", lake=s.lake, table_format=s.table_format)


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
def readyz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        with services.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure, it never raises
        checks["database"] = f"failed: {type(exc).__name__}"
    try:
        LakeStorage(services.settings).ls_dirs("raw")
        checks["lake"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["lake"] = f"failed: {type(exc).__name__}"
    try:
        # The nil tenant has no data: this asks the engine to answer, and reads nobody's rows.
        services.graph.run("RETURN 1 AS ok", {"tenant_id": NIL_TENANT})
        checks["graph"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["graph"] = f"failed: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = Readiness(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
