"""Bodies of Tracy's routes: a question, its SSE events, sessions and their messages, and the self-evolve reply."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

QUESTION_CHARS = 8_000
# A page may send more than Tracy forwards (`tracy_context_chars` cuts it, with a marker); past this it is
# not a page's data but an attempt to make the API hold a huge body.
PAGE_CONTEXT_CHARS = 200_000
TRACE_ID = r"^[A-Za-z0-9._:@/+=-]{1,256}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChatRequest(_Strict):
    question: str = Field(min_length=1, max_length=QUESTION_CHARS, description="What to ask Tracy")
    session_id: UUID | None = Field(default=None, description="Continue this session (omit to start one)")
    agent_id: UUID | None = Field(
        default=None, description="Asked from an agent's page: confine the answer to that agent"
    )
    trace_id: str | None = Field(
        default=None,
        pattern=TRACE_ID,
        description="Asked from a trace's page: confine the answer to that trace",
    )
    page_context: str | None = Field(
        default=None,
        max_length=PAGE_CONTEXT_CHARS,
        description="What the page shows (cut to CLAWTRACE_TRACY_CONTEXT_CHARS before Tracy sees it)",
    )


class EvolveRequest(_Strict):
    question: str = Field(min_length=1, max_length=QUESTION_CHARS, description="The agent's question")
    agent_id: UUID | None = Field(
        default=None, description="Required with a tenant-wide key; a key bound to an agent implies its agent"
    )
    trace_id: str | None = Field(default=None, pattern=TRACE_ID, description="Confine the answer to this run")


class Usage(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int


class ToolCall(BaseModel):
    id: str
    name: str
    input: dict[str, Any]
    is_error: bool
    summary: dict[str, Any] = Field(description="The query and row count of run_cypher; a card's trace; ...")
    content: str = Field(description="What the tool returned to the model (cut with a marker when large)")


class EvolveAnswer(BaseModel):
    answer: str
    agent_id: str
    trace_id: str | None
    tool_calls: list[ToolCall]
    cards: list[dict[str, Any]] = Field(description="The TraceCards Tracy read to answer")
    charts: list[dict[str, Any]]
    usage: Usage
    cost_usd: str | None = Field(description="The cost of Tracy's own model calls, decimal USD (null: unpriced)")
    model: str


class SessionSummary(BaseModel):
    session_id: str
    title: str
    agent_id: str | None
    trace_id: str | None
    created_at: datetime
    updated_at: datetime
    messages: int


class SessionList(BaseModel):
    sessions: list[SessionSummary]
    next_before: datetime | None = Field(description="Pass as `before` for the next (older) page; null at the end")


class Message(BaseModel):
    message_id: str
    seq: int
    role: Literal["user", "assistant"]
    content: list[dict[str, Any]] = Field(description="Anthropic content blocks: text, tool_use, tool_result")
    usage: dict[str, Any] | None = Field(description="On the message closing an answer: tokens and cost")
    created_at: datetime


class MessageList(BaseModel):
    session: SessionSummary
    messages: list[Message]
