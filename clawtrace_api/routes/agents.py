"""`GET /v1/agents`: the tenant's agents with trace count, error rate, tokens, cost and last activity."""

from __future__ import annotations

from fastapi import APIRouter

from clawtrace_api.deps import ReadPrincipal, ServicesDep
from clawtrace_api.schemas import READ_PROBLEMS, AgentList
from clawtrace_api.views.listing import agent_summaries
from clawtrace_pipelines.core.graph.queries import run

router = APIRouter(prefix="/v1/agents", tags=["agents"])


@router.get("", response_model=AgentList, responses=READ_PROBLEMS)
def list_agents(principal: ReadPrincipal, services: ServicesDep) -> AgentList:
    """Every agent of the key's tenant: those with traces in the lake, and registered ones without any yet."""
    rows = run(services.graph, "agents_of_tenant", tenant_id=principal.tenant_id)
    registered = services.accounts.list_agents(principal.tenant_id, include_deleted=True)
    return AgentList(agents=agent_summaries(rows, registered))
