"""Tenants, agents and keys: the operations the CLI and the admin routes share, and the key lookup cache."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from clawtrace_api.db.engine import sessions
from clawtrace_api.db.models import Agent, ApiKey, Tenant, UiSession
from clawtrace_api.keys import (
    DISPLAY_CHARS,
    ObserveKey,
    Scope,
    key_hash,
    looks_like_key,
    looks_like_ui_token,
    new_secret,
    new_ui_token,
    parse_scopes,
)
from clawtrace_pipelines.core.events import check_uuid


class AccountError(ValueError):
    """An account operation that cannot be done (unknown tenant or agent, bad name)."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, from its key alone: the tenant, the agent an ingest key is bound to, scopes."""

    tenant_id: str
    key_id: str
    scopes: frozenset[Scope]
    agent_id: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    # SQLite hands timestamps back naive (they were written in UTC).
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _live_principal(s: Session, row: ApiKey | None) -> Principal | None:
    if row is None or row.revoked_at is not None:
        return None
    if row.agent_id is not None:
        # A key created while its agent was being deleted escapes the revoke: the agent decides too.
        agent = s.get(Agent, row.agent_id)
        if agent is None or agent.deleted_at is not None:
            return None
    return Principal(tenant_id=row.tenant_id, key_id=row.key_id, scopes=parse_scopes(row.scopes), agent_id=row.agent_id)


def _check_name(name: str) -> str:
    name = name.strip()
    if not 0 < len(name) <= 200 or any(ord(c) < 32 for c in name):
        raise AccountError("a name is 1-200 printable characters")
    return name


def _key_row(tenant_id: str, agent_id: str | None, scopes: frozenset[Scope], name: str | None) -> tuple[ApiKey, str]:
    secret = new_secret()
    row = ApiKey(
        key_id=str(uuid.uuid4()),
        tenant_id=tenant_id,
        agent_id=agent_id,
        key_hash=key_hash(secret),
        display=secret[: DISPLAY_CHARS + 4] + "...",
        scopes=",".join(sorted(scopes)),
        name=name,
        created_at=_now(),
    )
    return row, secret


def _iso(value: datetime | None) -> str | None:
    # SQLite hands back naive datetimes; every time stored here is UTC.
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def key_view(row: ApiKey) -> dict[str, Any]:
    """A key as listings show it: never the secret."""
    return {
        "key_id": row.key_id,
        "tenant_id": row.tenant_id,
        "agent_id": row.agent_id,
        "scopes": sorted(row.scopes.split(",")),
        "name": row.name,
        "display": row.display,
        "created_at": _iso(row.created_at),
        "last_used_at": _iso(row.last_used_at),
        "revoked_at": _iso(row.revoked_at),
    }


def agent_view(row: Agent) -> dict[str, Any]:
    return {
        "agent_id": row.agent_id,
        "tenant_id": row.tenant_id,
        "name": row.name,
        "created_at": _iso(row.created_at),
        "deleted_at": _iso(row.deleted_at),
    }


class Accounts:
    """Tenants, agents and keys in the API database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions: sessionmaker[Session] = sessions(engine)

    def create_tenant(self, name: str, *, tenant_id: str | None = None) -> dict[str, Any]:
        """A new tenant; `tenant_id` adopts an id the lake already holds data for (default: a new UUID)."""
        tid = check_uuid(tenant_id, "tenant") if tenant_id else str(uuid.uuid4())
        with self._sessions.begin() as s:
            if s.get(Tenant, tid) is not None:
                raise AccountError(f"tenant {tid} exists")
            tenant = Tenant(tenant_id=tid, name=_check_name(name), created_at=_now())
            s.add(tenant)
        return {"tenant_id": tenant.tenant_id, "name": tenant.name}

    def tenant_exists(self, tenant_id: str) -> bool:
        with self._sessions() as s:
            return s.get(Tenant, tenant_id) is not None

    def create_agent(self, tenant_id: str, name: str, *, agent_id: str | None = None) -> dict[str, Any]:
        """A new agent with an ingest key bound to it; the key and observe key are shown only here.

        `agent_id` adopts an id the lake already holds data for (default: a new UUID)."""
        tenant_id = check_uuid(tenant_id, "tenant")
        aid = check_uuid(agent_id, "agent") if agent_id else str(uuid.uuid4())
        with self._sessions.begin() as s:
            if s.get(Tenant, tenant_id) is None:
                raise AccountError(f"no tenant {tenant_id}")
            if s.get(Agent, aid) is not None:
                raise AccountError(f"agent {aid} exists")
            agent = Agent(agent_id=aid, tenant_id=tenant_id, name=_check_name(name), created_at=_now())
            s.add(agent)
            s.flush()
            key, secret = _key_row(tenant_id, agent.agent_id, frozenset({Scope.INGEST}), f"ingest key of {agent.name}")
            s.add(key)
        observe = ObserveKey(api_key=secret, tenant_id=tenant_id, agent_id=agent.agent_id).encode()
        return {
            "agent_id": agent.agent_id,
            "tenant_id": tenant_id,
            "name": agent.name,
            "key_id": key.key_id,
            "api_key": secret,
            "observe_key": observe,
        }

    def get_agent(self, tenant_id: str, agent_id: str) -> Agent | None:
        """The agent if it belongs to `tenant_id` (another tenant's agent is as absent as an unknown one)."""
        with self._sessions() as s:
            row = s.get(Agent, agent_id)
            return row if row is not None and row.tenant_id == tenant_id else None

    def is_live_agent(self, tenant_id: str, agent_id: str) -> bool:
        """Whether the agent exists in `tenant_id` and is not deleted."""
        row = self.get_agent(tenant_id, agent_id)
        return row is not None and row.deleted_at is None

    def list_agents(self, tenant_id: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        with self._sessions() as s:
            q = select(Agent).where(Agent.tenant_id == tenant_id)
            if not include_deleted:
                q = q.where(Agent.deleted_at.is_(None))
            return [agent_view(a) for a in s.scalars(q.order_by(Agent.created_at, Agent.agent_id))]

    def rename_agent(self, tenant_id: str, agent_id: str, name: str) -> dict[str, Any] | None:
        with self._sessions.begin() as s:
            row = s.get(Agent, agent_id)
            if row is None or row.tenant_id != tenant_id or row.deleted_at is not None:
                return None
            row.name = _check_name(name)
            return agent_view(row)

    def delete_agent(self, tenant_id: str, agent_id: str) -> dict[str, Any] | None:
        """Mark the agent deleted and revoke its keys at once; None if it is not this tenant's."""
        with self._sessions.begin() as s:
            row = s.get(Agent, agent_id)
            if row is None or row.tenant_id != tenant_id:
                return None
            now = _now()
            row.deleted_at = row.deleted_at or now
            revoked = s.execute(
                update(ApiKey).where(ApiKey.agent_id == agent_id, ApiKey.revoked_at.is_(None)).values(revoked_at=now)
            ).rowcount
            return {**agent_view(row), "keys_revoked": int(revoked or 0)}

    def mark_purged(self, agent_id: str) -> None:
        with self._sessions.begin() as s:
            row = s.get(Agent, agent_id)
            if row is not None:
                row.purged_at = _now()

    def create_key(
        self, tenant_id: str, scopes: str | list[str], *, agent_id: str | None = None, name: str | None = None
    ) -> dict[str, Any]:
        tenant_id = check_uuid(tenant_id, "tenant")
        parsed = parse_scopes(scopes)
        if agent_id is not None and parsed != {Scope.INGEST}:
            # Reads and admin are tenant-wide: a key bound to an agent must not look narrower than it is.
            raise AccountError("a key bound to an agent can only have the ingest scope")
        with self._sessions.begin() as s:
            if s.get(Tenant, tenant_id) is None:
                raise AccountError(f"no tenant {tenant_id}")
            if agent_id is not None:
                agent = s.get(Agent, agent_id)
                if agent is None or agent.tenant_id != tenant_id or agent.deleted_at is not None:
                    raise AccountError(f"no agent {agent_id} in tenant {tenant_id}")
            row, secret = _key_row(tenant_id, agent_id, parsed, _check_name(name) if name else None)
            s.add(row)
        return {**key_view(row), "key": secret}

    def list_keys(self, tenant_id: str | None = None) -> list[dict[str, Any]]:
        with self._sessions() as s:
            q = select(ApiKey)
            if tenant_id is not None:
                q = q.where(ApiKey.tenant_id == tenant_id)
            return [key_view(k) for k in s.scalars(q.order_by(ApiKey.created_at, ApiKey.key_id))]

    def revoke_key(self, key_id: str, *, tenant_id: str | None = None) -> dict[str, Any] | None:
        """Revoke a key (of `tenant_id` when given); None when there is no such key."""
        with self._sessions.begin() as s:
            row = s.get(ApiKey, key_id)
            if row is None or (tenant_id is not None and row.tenant_id != tenant_id):
                return None
            row.revoked_at = row.revoked_at or _now()
            return key_view(row)

    def principal_of(self, secret: str) -> Principal | None:
        """The live key with this secret, or None (unknown, revoked, its agent deleted). A web UI session's
        token (`ct_ui_...`) answers as the key it was exchanged for, until it expires or is ended."""
        if looks_like_ui_token(secret):
            return self._principal_of_ui_token(secret)
        if not looks_like_key(secret):
            return None
        with self._sessions() as s:
            row = s.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash(secret))).first()
            return _live_principal(s, row)

    def _principal_of_ui_token(self, token: str) -> Principal | None:
        with self._sessions() as s:
            ui = s.get(UiSession, key_hash(token))
            if ui is None or _aware(ui.expires_at) <= _now():
                return None
            return _live_principal(s, s.get(ApiKey, ui.key_id))

    def start_ui_session(self, key_id: str, hours: float) -> tuple[str, datetime]:
        """A new web UI session acting as key `key_id`: its token (shown once, kept as a hash) and expiry."""
        token = new_ui_token()
        now = _now()
        expires = now + timedelta(hours=hours)
        with self._sessions.begin() as s:
            # Expired sessions of the same key go as a new one starts: the table holds live sign-ins only.
            s.execute(delete(UiSession).where(UiSession.key_id == key_id, UiSession.expires_at <= now))
            s.add(UiSession(token_hash=key_hash(token), key_id=key_id, created_at=now, expires_at=expires))
        return token, expires

    def end_ui_session(self, token: str) -> bool:
        """Sign out: the session's row is deleted, so its cookie opens nothing anymore."""
        if not looks_like_ui_token(token):
            return False
        with self._sessions.begin() as s:
            return s.execute(delete(UiSession).where(UiSession.token_hash == key_hash(token))).rowcount > 0

    def touch_keys(self, used: dict[str, datetime]) -> None:
        """Record last-used times (batched by the cache, never one write per request)."""
        if not used:
            return
        with self._sessions.begin() as s:
            for key_id, at in used.items():
                s.execute(update(ApiKey).where(ApiKey.key_id == key_id).values(last_used_at=at))
