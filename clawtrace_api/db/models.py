"""Tables of the API database. Ids are UUID strings (the lake's folders are named by them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    tenant_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Agent(Base):
    __tablename__ = "agents"

    agent_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.tenant_id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Set when the agent is deleted: its keys are revoked with it; its data stays until a purge.
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    purged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_hash", "key_hash", unique=True),)

    key_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.tenant_id"), index=True)
    # An ingest key bound to one agent writes only that agent's events; null: a tenant-wide key.
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.agent_id"), default=None, index=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    display: Mapped[str] = mapped_column(String(32))
    scopes: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class TracySession(Base):
    """A conversation with Tracy: owned by a tenant, confined for its whole life to the scope it started in."""

    __tablename__ = "tracy_sessions"
    __table_args__ = (Index("ix_tracy_sessions_tenant_updated", "tenant_id", "updated_at"),)

    session_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.tenant_id"))
    # The key that started it (audit); the tenant, not the key, owns it.
    key_id: Mapped[str] = mapped_column(String(36))
    agent_id: Mapped[str | None] = mapped_column(String(36), default=None)
    trace_id: Mapped[str | None] = mapped_column(String(200), default=None)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class TracyMessage(Base):
    """One message of a session, as the model saw it: Anthropic content blocks as JSON text."""

    __tablename__ = "tracy_messages"
    __table_args__ = (Index("ix_tracy_messages_session_seq", "session_id", "seq", unique=True),)

    message_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("tracy_sessions.session_id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    # Set on the assistant message that closes an answer: the answer's token usage and cost (JSON), its text.
    usage: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class UiSession(Base):
    """A web UI sign-in: the hash of its cookie's token and the key it was exchanged for (the session acts as
    that key, so revoking the key ends it)."""

    __tablename__ = "ui_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("api_keys.key_id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
