"""What an answer yields, in order: text as it streams, each tool's start and end, charts, then `Done` or an
`ErrorEvent` (the last event either way). The routes turn them into SSE events, one `type` each."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class TextDelta:
    text: str
    type: Literal["text"] = "text"


@dataclass(frozen=True)
class ToolStarted:
    id: str
    name: str
    input: dict[str, Any]
    type: Literal["tool_started"] = "tool_started"


@dataclass(frozen=True)
class ToolFinished:
    id: str
    name: str
    is_error: bool
    summary: dict[str, Any]
    type: Literal["tool_finished"] = "tool_finished"


@dataclass(frozen=True)
class Chart:
    title: str
    option: dict[str, Any]
    type: Literal["chart"] = "chart"


@dataclass(frozen=True)
class Done:
    """The answer is complete. `usage` sums every model call: {input, output, cache_read, cache_write};
    `cost_usd` is their price as a decimal string (silver's price book), None for a model without a price."""

    usage: dict[str, int]
    cost_usd: str | None
    model: str
    rounds: int
    type: Literal["done"] = "done"


ErrorKind = Literal["auth", "rate_limit", "overloaded", "connection", "api", "budget", "tool", "internal"]


@dataclass(frozen=True)
class ErrorEvent:
    """The answer stopped early; `message` is for the user, `kind` for the route (what the text so far is)."""

    message: str
    kind: ErrorKind
    usage: dict[str, int] = field(default_factory=dict)
    type: Literal["error"] = "error"


TracyEvent = TextDelta | ToolStarted | ToolFinished | Chart | Done | ErrorEvent
