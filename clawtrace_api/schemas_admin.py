"""Request and response models of the admin routes (agents and keys)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from clawtrace_api.keys import Scope

_AGENT_ID = "5da5a307-d5a8-4279-ab5d-277757183bba"
_TENANT_ID = "06ab8044-00a4-4a82-9f5f-94947335245f"


class AgentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "support-bot"}]})

    name: str = Field(min_length=1, max_length=200)


class AgentUpdate(AgentCreate):
    pass


class Agent(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "agent_id": _AGENT_ID,
                    "tenant_id": _TENANT_ID,
                    "name": "support-bot",
                    "created_at": "2026-12-01T15:00:00+00:00",
                    "deleted_at": None,
                }
            ]
        }
    )

    agent_id: str
    tenant_id: str
    name: str
    created_at: str | None
    deleted_at: str | None = None


class AgentCreated(Agent):
    """The agent, its ingest key and the observe key the ClawTrace plugin takes: shown this once."""

    key_id: str
    api_key: str
    observe_key: str


class AgentList(BaseModel):
    agents: list[Agent]


class AgentDeleted(Agent):
    keys_revoked: int
    purge: dict[str, object] | None = Field(
        default=None, description="With ?purge=true: the raw files and rows removed, per table"
    )


class KeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"scopes": ["read"], "name": "dashboard"}]}
    )

    scopes: list[Scope] = Field(min_length=1)
    agent_id: str | None = Field(default=None, description="Bind an ingest key to one agent of the tenant")
    name: str | None = Field(default=None, min_length=1, max_length=200)


class Key(BaseModel):
    key_id: str
    tenant_id: str
    agent_id: str | None
    scopes: list[Scope]
    name: str | None
    display: str = Field(description="The key's first characters: enough to recognise it, not to use it")
    created_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class KeyCreated(Key):
    key: str = Field(description="The secret: shown this once, stored only as a hash")


class KeyList(BaseModel):
    keys: list[Key]
