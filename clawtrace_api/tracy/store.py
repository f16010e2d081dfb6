"""Tracy's sessions and messages in the API database, every read and write filtered by the owning tenant.

A session id is a random UUID, but ownership never rests on it being secret: every method takes the caller's
tenant and matches it, so another tenant's session id behaves exactly like one that does not exist (404).
Messages are stored as the model saw them (Anthropic content blocks, tool calls and results included) for the
record and the UI; what the next question sends the model is only the earlier questions and answers as text
(`history`), which keeps a long session's prompt small and always a valid alternation of turns.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, delete, func, select

from clawtrace_api.db.engine import sessions
from clawtrace_api.db.models import TracyMessage, TracySession

TITLE_CHARS = 200


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    # SQLite hands timezone-aware columns back naive; they were written in UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    agent_id: str | None
    trace_id: str | None
    title: str
    created_at: datetime
    updated_at: datetime
    messages: int


@dataclass(frozen=True)
class MessageInfo:
    message_id: str
    seq: int
    role: str
    content: list[dict[str, Any]]
    usage: dict[str, Any] | None
    created_at: datetime


def _session_info(row: TracySession, messages: int) -> SessionInfo:
    return SessionInfo(
        row.session_id, row.agent_id, row.trace_id, row.title, _utc(row.created_at), _utc(row.updated_at), messages
    )


class TracyStore:
    def __init__(self, engine: Engine) -> None:
        self._sessions = sessions(engine)

    def create(self, tenant_id: str, key_id: str, agent_id: str | None, trace_id: str | None, title: str) -> str:
        """A new session confined to (agent_id, trace_id); its id."""
        now = _now()
        session_id = str(uuid.uuid4())
        with self._sessions.begin() as db:
            db.add(
                TracySession(
                    session_id=session_id,
                    tenant_id=tenant_id,
                    key_id=key_id,
                    agent_id=agent_id,
                    trace_id=trace_id,
                    title=" ".join(title.split())[:TITLE_CHARS] or "(untitled)",
                    created_at=now,
                    updated_at=now,
                )
            )
        return session_id

    def get(self, tenant_id: str, session_id: str) -> SessionInfo | None:
        """The caller's session, or None when there is none of that id in this tenant."""
        with self._sessions() as db:
            row = db.scalar(
                select(TracySession).where(TracySession.session_id == session_id, TracySession.tenant_id == tenant_id)
            )
            if row is None:
                return None
            count = db.scalar(select(func.count()).where(TracyMessage.session_id == session_id)) or 0
            return _session_info(row, count)

    def recent(self, tenant_id: str, limit: int, before: datetime | None = None) -> list[SessionInfo]:
        """The tenant's sessions, most recently active first (`before`: older than that update time)."""
        counts = select(TracyMessage.session_id, func.count().label("n")).group_by(TracyMessage.session_id).subquery()
        query = (
            select(TracySession, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.session_id == TracySession.session_id)
            .where(TracySession.tenant_id == tenant_id)
        )
        if before is not None:
            query = query.where(TracySession.updated_at < before)
        query = query.order_by(TracySession.updated_at.desc(), TracySession.session_id.desc()).limit(limit)
        with self._sessions() as db:
            return [_session_info(row, int(n)) for row, n in db.execute(query).tuples().all()]

    def messages(self, tenant_id: str, session_id: str) -> list[MessageInfo] | None:
        """The session's messages in order, or None when the tenant has no such session."""
        with self._sessions() as db:
            owned = db.scalar(
                select(TracySession.session_id).where(
                    TracySession.session_id == session_id, TracySession.tenant_id == tenant_id
                )
            )
            if owned is None:
                return None
            rows = db.scalars(
                select(TracyMessage).where(TracyMessage.session_id == session_id).order_by(TracyMessage.seq)
            ).all()
            return [
                MessageInfo(
                    r.message_id,
                    r.seq,
                    r.role,
                    orjson.loads(r.content),
                    orjson.loads(r.usage) if r.usage else None,
                    _utc(r.created_at),
                )
                for r in rows
            ]

    def history(self, tenant_id: str, session_id: str) -> list[dict[str, Any]]:
        """Earlier questions and answers as alternating text turns, for the model (see the module docstring).

        A question stored without an answer (the answer failed) is left out with it, so turns alternate."""
        turns: list[dict[str, Any]] = []
        pending: str | None = None
        for message in self.messages(tenant_id, session_id) or []:
            text = "".join(b.get("text", "") for b in message.content if b.get("type") == "text").strip()
            if message.role == "user" and message.usage is None and _is_question(message.content):
                pending = text
            elif message.role == "assistant" and message.usage is not None and pending is not None:
                turns += [{"role": "user", "content": pending}, {"role": "assistant", "content": text or "(no text)"}]
                pending = None
        return turns

    def append(
        self, tenant_id: str, session_id: str, messages: list[dict[str, Any]], usage: dict[str, Any] | None
    ) -> list[str]:
        """Add messages (`role`, `content` blocks) at the end of the caller's session; `usage` goes on the last.

        Raises:
            LookupError: the tenant has no such session (deleted meanwhile).
        """
        now = _now()
        ids: list[str] = []
        with self._sessions.begin() as db:
            row = db.scalar(
                select(TracySession)
                .where(TracySession.session_id == session_id, TracySession.tenant_id == tenant_id)
                .with_for_update()
            )
            if row is None:
                raise LookupError(session_id)
            seq = db.scalar(select(func.max(TracyMessage.seq)).where(TracyMessage.session_id == session_id))
            seq = -1 if seq is None else seq
            for i, message in enumerate(messages):
                seq += 1
                content = message["content"]
                blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
                last = i == len(messages) - 1
                message_id = str(uuid.uuid4())
                ids.append(message_id)
                db.add(
                    TracyMessage(
                        message_id=message_id,
                        session_id=session_id,
                        seq=seq,
                        role=message["role"],
                        content=orjson.dumps(blocks, default=str).decode(),
                        usage=orjson.dumps(usage).decode() if last and usage is not None else None,
                        created_at=now,
                    )
                )
            row.updated_at = now
        return ids

    def delete(self, tenant_id: str, session_id: str) -> bool:
        """Delete the caller's session and its messages; False when the tenant has no such session."""
        with self._sessions.begin() as db:
            owned = db.scalar(
                select(TracySession.session_id).where(
                    TracySession.session_id == session_id, TracySession.tenant_id == tenant_id
                )
            )
            if owned is None:
                return False
            # Explicitly, not by ON DELETE CASCADE: SQLite enforces it only with foreign keys on.
            db.execute(delete(TracyMessage).where(TracyMessage.session_id == session_id))
            db.execute(delete(TracySession).where(TracySession.session_id == session_id))
            return True


def _is_question(content: list[dict[str, Any]]) -> bool:
    """A user message that asks (text), not one that carries tool results back to the model."""
    return any(b.get("type") == "text" for b in content) and not any(b.get("type") == "tool_result" for b in content)
