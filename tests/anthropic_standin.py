"""A local stand-in of the Anthropic Messages API for tests: a real HTTP server on 127.0.0.1 that plays
scripted turns, so the real `anthropic` SDK is exercised end to end (it speaks httpx2, which respx cannot
intercept).

Each request to `POST /v1/messages` takes the next scripted `Turn`: a message of text and tool_use blocks with
its stop reason and usage, sent as the full SSE sequence when the request streams (message_start,
content_block_start / delta / stop with text_delta and input_json_delta, message_delta with usage and stop
reason, message_stop) or as one JSON message when it does not; or an error (`Turn.fail(529, ...)`). The key
is checked (`Authorization: Bearer` or `x-api-key`) before a turn is taken, and every request received is
recorded, body and headers, so tests can read what the client sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.api_server import serve_asgi

API_KEY = "sk-ant-standin-key"
MODEL = "claude-sonnet-4-6"
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]
    id: str = ""


Block = Text | ToolUse


@dataclass
class Turn:
    """One scripted answer. `stop_reason` defaults to tool_use when a block is a tool_use, else end_turn;
    `delay_s` is slept before each stream event (a slow model); `status` set makes the turn an error."""

    blocks: list[Block] = field(default_factory=list)
    stop_reason: str | None = None
    usage: dict[str, int] = field(default_factory=lambda: {"input_tokens": 100, "output_tokens": 20})
    delay_s: float = 0.0
    status: int | None = None
    error_message: str = ""

    @classmethod
    def fail(cls, status: int, message: str = "scripted error") -> Turn:
        return cls(status=status, error_message=message)


class StandIn:
    """The server's state: the turns still to play and the requests received (in order)."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.url = ""
        self.turns: list[Turn] = []
        self.requests: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def script(self, *turns: Turn) -> None:
        """Replace the turns still to play."""
        with self._lock:
            self.turns = list(turns)

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]

    async def messages(self, request: Request) -> Response:
        body = await request.json()
        with self._lock:
            self.requests.append({"headers": dict(request.headers), "body": body})
            authorized = request.headers.get("authorization") == f"Bearer {self.api_key}" or (
                request.headers.get("x-api-key") == self.api_key
            )
            turn = self.turns.pop(0) if authorized and self.turns else None
        if not authorized:
            return _error(401, "invalid x-api-key")
        if turn is None:
            return _error(500, "stand-in: no scripted turn left")
        if turn.status is not None:
            return _error(turn.status, turn.error_message)
        message = self._message(turn, body)
        if not body.get("stream"):
            return JSONResponse(message)
        return StreamingResponse(_sse(message, turn.delay_s), media_type="text/event-stream")

    def _message(self, turn: Turn, body: dict[str, Any]) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for block in turn.blocks:
            if isinstance(block, Text):
                content.append({"type": "text", "text": block.text})
            else:
                tool_id = block.id or f"toolu_standin_{next(self._ids):04d}"
                content.append({"type": "tool_use", "id": tool_id, "name": block.name, "input": block.input})
        uses_tools = any(b["type"] == "tool_use" for b in content)
        return {
            "id": f"msg_standin_{next(self._ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", MODEL),
            "content": content,
            "stop_reason": turn.stop_reason or ("tool_use" if uses_tools else "end_turn"),
            "stop_sequence": None,
            "usage": {"cache_read_input_tokens": 0, "cache_creation_input_tokens": 0, **turn.usage},
        }


def _error(status: int, message: str) -> Response:
    body = {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}
    # retry-after-ms: the SDK's retry of a 429/529 waits a millisecond, not its backoff.
    return JSONResponse(body, status_code=status, headers={"retry-after-ms": "1", "request-id": "req_standin"})


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()


async def _sse(message: dict[str, Any], delay_s: float) -> AsyncIterator[bytes]:
    """The stream of `message`: text in word-sized deltas, tool input JSON in two partial pieces."""
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    events = [("message_start", {"type": "message_start", "message": start}), ("ping", {"type": "ping"})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            first: dict[str, Any] = {"type": "text", "text": ""}
            words = block["text"].split(" ")
            pieces = [w + (" " if n < len(words) - 1 else "") for n, w in enumerate(words)]
            deltas = [{"type": "text_delta", "text": piece} for piece in pieces]
        else:
            first = {**block, "input": {}}
            raw = json.dumps(block["input"])
            half = len(raw) // 2
            deltas = [{"type": "input_json_delta", "partial_json": part} for part in (raw[:half], raw[half:])]
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": first}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    for name, data in events:
        if delay_s:
            await asyncio.sleep(delay_s)
        yield _event(name, data)


@contextmanager
def serve_standin(api_key: str = API_KEY) -> Iterator[StandIn]:
    """The stand-in served by uvicorn on 127.0.0.1 (a free port) in a thread until the block ends."""
    standin = StandIn(api_key)
    app = Starlette(routes=[Route("/v1/messages", standin.messages, methods=["POST"])])
    # A short graceful shutdown: a test may leave a slow stream unfinished.
    with serve_asgi(app, "the Anthropic stand-in", timeout_graceful_shutdown=1) as url:
        standin.url = url
        yield standin
