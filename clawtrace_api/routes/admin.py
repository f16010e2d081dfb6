"""Admin routes (`admin` scope): create, rename and delete agents; create, list and revoke keys.

Everything acts inside the key's tenant: an id of another tenant is answered like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from clawtrace_api.accounts import AccountError
from clawtrace_api.deps import AdminPrincipal, ServicesDep
from clawtrace_api.errors import Problem, not_found
from clawtrace_api.schemas import ADMIN_ITEM_PROBLEMS, ADMIN_PROBLEMS
from clawtrace_api.schemas_admin import (
    Agent,
    AgentCreate,
    AgentCreated,
    AgentDeleted,
    AgentUpdate,
    Key,
    KeyCreate,
    KeyCreated,
    KeyList,
)
from clawtrace_pipelines.core.events import UUID_PATTERN

router = APIRouter(prefix="/v1", tags=["admin"])

AgentId = Annotated[str, Path(pattern=UUID_PATTERN, description="The agent's id")]
KeyId = Annotated[str, Path(pattern=UUID_PATTERN, description="The key's id")]


@router.post("/agents", response_model=AgentCreated, status_code=201, responses=ADMIN_PROBLEMS)
def create_agent(body: AgentCreate, principal: AdminPrincipal, services: ServicesDep) -> AgentCreated:
    """A new agent of the key's tenant, with an ingest key bound to it and its observe key (shown once)."""
    try:
        created = services.accounts.create_agent(principal.tenant_id, body.name)
    except AccountError as exc:
        raise Problem(422, "invalid-request", str(exc)) from exc
    agent = services.accounts.get_agent(principal.tenant_id, created["agent_id"])
    assert agent is not None
    return AgentCreated(
        agent_id=agent.agent_id,
        tenant_id=agent.tenant_id,
        name=agent.name,
        created_at=agent.created_at.isoformat(),
        key_id=created["key_id"],
        api_key=created["api_key"],
        observe_key=created["observe_key"],
    )


@router.patch("/agents/{agent_id}", response_model=Agent, responses=ADMIN_ITEM_PROBLEMS)
def rename_agent(agent_id: AgentId, body: AgentUpdate, principal: AdminPrincipal, services: ServicesDep) -> Agent:
    try:
        renamed = services.accounts.rename_agent(principal.tenant_id, agent_id.lower(), body.name)
    except AccountError as exc:
        raise Problem(422, "invalid-request", str(exc)) from exc
    if renamed is None:
        raise not_found("agent")
    return Agent(**renamed)


@router.delete("/agents/{agent_id}", response_model=AgentDeleted, responses=ADMIN_ITEM_PROBLEMS)
def delete_agent(
    agent_id: AgentId,
    principal: AdminPrincipal,
    services: ServicesDep,
    purge: Annotated[
        bool, Query(description="Also remove the agent's raw files, lake rows and graph data (takes a while)")
    ] = False,
) -> AgentDeleted:
    """Delete an agent: its keys are revoked at once; with `purge=true` its data is removed too."""
    agent_id = agent_id.lower()
    deleted = services.accounts.delete_agent(principal.tenant_id, agent_id)
    if deleted is None:
        raise not_found("agent")
    services.keys.invalidate()
    runtime = services.extras.get("ingest")
    if runtime is not None:
        runtime.agents.forget()
    report = None
    if purge:
        from clawtrace_pipelines.lib.purge import purge_agent

        report = purge_agent(services.settings, principal.tenant_id, agent_id)
        services.accounts.mark_purged(agent_id)
    return AgentDeleted(**deleted, purge=report)


@router.post("/keys", response_model=KeyCreated, status_code=201, responses=ADMIN_PROBLEMS)
def create_key(body: KeyCreate, principal: AdminPrincipal, services: ServicesDep) -> KeyCreated:
    """A new key of the caller's tenant (shown once)."""
    try:
        created = services.accounts.create_key(
            principal.tenant_id,
            [s.value for s in body.scopes],
            agent_id=body.agent_id.lower() if body.agent_id else None,
            name=body.name,
        )
    except (AccountError, ValueError) as exc:
        raise Problem(422, "invalid-request", str(exc)) from exc
    return KeyCreated(**created)


@router.get("/keys", response_model=KeyList, responses=ADMIN_PROBLEMS)
def list_keys(principal: AdminPrincipal, services: ServicesDep) -> KeyList:
    """The tenant's keys: scopes, times, never the secrets."""
    return KeyList(keys=[Key(**k) for k in services.accounts.list_keys(principal.tenant_id)])


@router.delete("/keys/{key_id}", response_model=Key, responses=ADMIN_ITEM_PROBLEMS)
def revoke_key(key_id: KeyId, principal: AdminPrincipal, services: ServicesDep) -> Key:
    """Revoke a key: this process refuses it at once, other workers within CLAWTRACE_KEY_CACHE_SECONDS."""
    revoked = services.accounts.revoke_key(key_id.lower(), tenant_id=principal.tenant_id)
    if revoked is None:
        raise not_found("key")
    services.keys.invalidate()
    return Key(**revoked)
