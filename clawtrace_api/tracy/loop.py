"""Tracy's agent loop on the Messages API: stream the model's text, run the tools it asks for, send their
results back, until it answers or a limit stops it.

A plain loop over `client.messages.stream(...)` rather than the SDK's tool runner: the loop owns the limits
(tool rounds, tokens per call, the wall-clock budget), the events the routes stream, and the transcript they
persist. Each model call streams in its own task and hands its events over a queue, so the budget cuts a call
off wherever it is (a stalled stream included) and the caller's task is never cancelled from inside a yield.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import anthropic
from anthropic import AsyncAnthropic
from anthropic.types import Message, MessageParam

from clawtrace_api.tracy.events import Chart, Done, ErrorEvent, TextDelta, ToolFinished, ToolStarted, TracyEvent
from clawtrace_api.tracy.prompt import system_blocks, user_turn
from clawtrace_api.tracy.tools import Toolbox
from clawtrace_pipelines.core.errors import ConfigError
from clawtrace_pipelines.core.pricing import price_usage
from clawtrace_pipelines.core.settings import Settings

logger = logging.getLogger(__name__)

# One retry: a second attempt rides out a blip; more would spend the answer's budget waiting.
MAX_RETRIES = 1
PROVIDER = "anthropic"
LAST_ROUND_NOTE = "You have used every tool round: answer now from what you have found, without tools."


def make_client(settings: Settings) -> AsyncAnthropic:
    """The Messages API client of `settings` (the key is revealed here only).

    Raises:
        ConfigError: no Anthropic API key is set (the routes answer 503).
    """
    if settings.anthropic_api_key is None:
        raise ConfigError("Tracy needs ANTHROPIC_API_KEY (or CLAWTRACE_ANTHROPIC_API_KEY)")
    return AsyncAnthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        max_retries=MAX_RETRIES,
        timeout=settings.tracy_budget_seconds,
    )


class Answer:
    """One answer to `question` after `history`: iterate it (once) for its events (`events.py`); `transcript`
    then holds the messages it added - the user turn, assistant turns, tool results - ready to persist. SDK
    and tool failures end it with an `ErrorEvent`, never an exception."""

    def __init__(
        self,
        client: AsyncAnthropic,
        settings: Settings,
        toolbox: Toolbox,
        history: list[MessageParam],
        question: str,
        page_context: str | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.toolbox = toolbox
        self.history = list(history)
        self.question = question
        self.page_context = page_context
        self.transcript: list[MessageParam] = []
        self.usage = {"input": 0, "output": 0, "cache_read": 0, "cache_write": 0}
        self._cost: Decimal | None = Decimal(0)
        self._started = False

    def __aiter__(self) -> AsyncIterator[TracyEvent]:
        if self._started:
            raise RuntimeError("an Answer is iterated once (its transcript would repeat)")
        self._started = True
        return self._run()

    async def _run(self) -> AsyncIterator[TracyEvent]:
        settings, loop = self.settings, asyncio.get_running_loop()
        deadline = loop.time() + settings.tracy_budget_seconds
        system = system_blocks(self.toolbox.scope, settings.tracy_max_rows)
        tools = self.toolbox.specs()
        self._add(user_turn(self.question, self.page_context, settings.tracy_context_chars))
        rounds = 0
        while True:
            last = rounds >= settings.tracy_max_tool_rounds
            request: dict[str, Any] = {
                "model": settings.tracy_model,
                "max_tokens": settings.tracy_max_tokens,
                "system": system,
                "messages": _with_breakpoint([*self.history, *self.transcript]),
                # Tools stay declared on the last call: the history holds tool_use blocks, which need them.
                "tools": tools,
            }
            if last:
                request["tool_choice"] = {"type": "none"}
            call = _ModelCall(self.client, request)
            try:
                while True:
                    item = await call.next(deadline - loop.time()) or _budget_error(settings)
                    if not isinstance(item, TextDelta):
                        break
                    yield item
            finally:
                call.cancel()
            if isinstance(item, ErrorEvent):
                yield ErrorEvent(item.message, item.kind, dict(self.usage))
                return
            self._count(item)
            uses = [block for block in item.content if block.type == "tool_use"]
            runs_tools = item.stop_reason == "tool_use" and bool(uses) and not last
            # A tool_use that will not run (on the last call, or cut by max_tokens) is dropped from the
            # transcript: a tool_use without its tool_result would make the next question's request invalid.
            self._add({"role": "assistant", "content": _content(item, keep_tools=runs_tools)})
            if not runs_tools:
                cost = None if self._cost is None else str(self._cost)
                yield Done(dict(self.usage), cost, item.model, rounds)
                return
            rounds += 1
            results: list[dict[str, Any]] = []
            failure: ErrorEvent | None = None
            for block in uses:
                if failure is not None:
                    results.append(_tool_result(block.id, "not run: the answer stopped", True))
                    continue
                arguments = block.input if isinstance(block.input, dict) else {}
                yield ToolStarted(block.id, block.name, arguments)
                try:
                    outcome = await asyncio.wait_for(
                        asyncio.to_thread(self.toolbox.call, block.name, arguments),
                        max(deadline - loop.time(), 0),
                    )
                except TimeoutError:
                    failure = _budget_error(settings)
                except Exception:  # a bug in a tool ends this answer, not the app's event loop
                    logger.exception("tool %s failed", block.name)
                    failure = ErrorEvent(f"the tool {block.name} failed unexpectedly", "tool")
                if failure is not None:
                    # Every ToolStarted has its ToolFinished, so the page never shows a tool still running.
                    yield ToolFinished(block.id, block.name, True, {"error": failure.message})
                    results.append(_tool_result(block.id, f"not finished: {failure.message}", True))
                    continue
                yield ToolFinished(block.id, block.name, outcome.is_error, outcome.summary)
                if outcome.chart is not None:
                    yield Chart(outcome.chart["title"], outcome.chart["option"])
                results.append(_tool_result(block.id, outcome.content, outcome.is_error))
            if rounds >= settings.tracy_max_tool_rounds and failure is None:
                results.append({"type": "text", "text": LAST_ROUND_NOTE})
            # Every tool_use gets its result, even when the answer stops here: the transcript stays valid.
            self._add({"role": "user", "content": results})
            if failure is not None:
                yield ErrorEvent(failure.message, failure.kind, dict(self.usage))
                return

    def _add(self, message: dict[str, Any]) -> None:
        self.transcript.append(message)  # type: ignore[arg-type]

    def _count(self, message: Message) -> None:
        usage = message.usage
        tokens = {
            "input": usage.input_tokens,
            "output": usage.output_tokens,
            "cache_read": usage.cache_read_input_tokens or 0,
            "cache_write": usage.cache_creation_input_tokens or 0,
        }
        for key, value in tokens.items():
            self.usage[key] += value
        # Each call priced on its own: tiers go by one call's prompt, not by the answer's total.
        price = price_usage(
            PROVIDER,
            message.model,
            tokens["input"],
            tokens["cache_read"],
            tokens["cache_write"],
            tokens["output"],
            datetime.now(UTC),
        )
        self._cost = None if price is None or self._cost is None else self._cost + price


class _ModelCall:
    """One streamed model call in its own task: `next` hands over its text deltas, then the final Message or
    an ErrorEvent."""

    def __init__(self, client: AsyncAnthropic, request: dict[str, Any]) -> None:
        self._queue: asyncio.Queue[TextDelta | Message | ErrorEvent] = asyncio.Queue()
        self._task = asyncio.create_task(self._stream(client, request))

    async def next(self, remaining: float) -> TextDelta | Message | ErrorEvent | None:
        """The next item, or None when `remaining` seconds pass first."""
        try:
            return await asyncio.wait_for(self._queue.get(), max(remaining, 0))
        except TimeoutError:
            return None

    def cancel(self) -> None:
        self._task.cancel()

    async def _stream(self, client: AsyncAnthropic, request: dict[str, Any]) -> None:
        put = self._queue.put_nowait
        try:
            async with client.messages.stream(**request) as stream:
                async for event in stream:
                    if event.type == "text":
                        put(TextDelta(event.text))
                put(await stream.get_final_message())
        except anthropic.APIError as exc:
            put(_api_error(exc))
        except Exception:  # a malformed stream (tool input that is not JSON) ends the answer
            logger.exception("the model's stream could not be read")
            put(ErrorEvent("the model's answer could not be read", "api"))


def _api_error(exc: anthropic.APIError) -> ErrorEvent:
    """A user-facing message for an SDK error (no key, no request body)."""
    if isinstance(exc, anthropic.AuthenticationError | anthropic.PermissionDeniedError):
        return ErrorEvent("Tracy's Anthropic API key was refused: an administrator must check it.", "auth")
    if isinstance(exc, anthropic.RateLimitError):
        return ErrorEvent("Tracy is rate-limited by the model provider: try again in a minute.", "rate_limit")
    if isinstance(exc, anthropic.APIStatusError) and exc.status_code == 529:
        return ErrorEvent("The model is overloaded right now: try again shortly.", "overloaded")
    if isinstance(exc, anthropic.APIConnectionError):
        return ErrorEvent("Tracy could not reach the model provider: try again shortly.", "connection")
    status = f" ({exc.status_code})" if isinstance(exc, anthropic.APIStatusError) else ""
    return ErrorEvent(f"The model provider answered with an error{status}: {exc.message}", "api")


def _budget_error(settings: Settings) -> ErrorEvent:
    seconds = settings.tracy_budget_seconds
    return ErrorEvent(f"Tracy ran out of time ({seconds:g} s) for this answer; ask a narrower question.", "budget")


def _with_breakpoint(messages: list[Any]) -> list[Any]:
    """The messages with a cache breakpoint on the newest block: each tool round re-sends the whole
    conversation, so the next call reads all but the newest turn from the cache. A copy: the transcript
    persisted stays free of request options."""
    last = messages[-1]
    content = last["content"]
    if isinstance(content, str):
        content = [{"type": "text", "text": content}]
    marked = [*content[:-1], {**content[-1], "cache_control": {"type": "ephemeral"}}]
    return [*messages[:-1], {**last, "content": marked}]


def _tool_result(tool_use_id: str, content: str, is_error: bool) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": content, "is_error": is_error}


def _content(message: Message, *, keep_tools: bool) -> list[dict[str, Any]]:
    """The assistant turn as request params (what the next call sends back); thinking blocks kept whole."""
    blocks: list[dict[str, Any]] = []
    for block in message.content:
        if block.type == "text":
            blocks.append({"type": "text", "text": block.text})
        elif block.type == "tool_use" and keep_tools:
            blocks.append({"type": "tool_use", "id": block.id, "name": block.name, "input": block.input})
        elif block.type in ("thinking", "redacted_thinking"):
            blocks.append(block.to_dict())
    return blocks


# `answer(client, settings, toolbox, history, question, page_context)`: what the routes and tests call.
answer = Answer
