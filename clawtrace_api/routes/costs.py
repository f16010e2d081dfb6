"""`GET /v1/costs`: cost by model, tool, agent, session, day or category, unpriced calls counted apart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from clawtrace_api.deps import ReadPrincipal, ServicesDep
from clawtrace_api.routes.params import FromMs, ToMs, window
from clawtrace_api.schemas import READ_PROBLEMS
from clawtrace_api.schemas_sessions import CostBreakdown
from clawtrace_api.views.sessions import GroupBy, cost_breakdown

router = APIRouter(prefix="/v1/costs", tags=["costs"])


@router.get("", response_model=CostBreakdown, responses=READ_PROBLEMS)
def get_costs(
    principal: ReadPrincipal,
    services: ServicesDep,
    group_by: GroupBy = "model",
    from_ms: FromMs = None,
    to_ms: ToMs = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Groups shown; the rest add up in `other`")] = 100,
) -> CostBreakdown:
    """The cost of the traces started in [from_ms, to_ms), grouped; calls with no known price are counted
    in `unpriced_calls`, never priced at 0."""
    start, end = window(from_ms, to_ms)
    return cost_breakdown(services.graph, principal.tenant_id, group_by, start, end, limit)
