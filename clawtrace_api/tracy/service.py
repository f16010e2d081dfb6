"""What Tracy's routes share: the scope a question is confined to, checked before anything streams; the model
client and the graph client of Tracy's own limits, one per app; one answer run to its end, metered, with
everything the model saw kept for the session.

The scope is the caller's tenant (from the key, always) and, when asked from a page, one agent or one trace of
it, checked to exist in that tenant first: a foreign or unknown id is a 404 before any model call is paid for.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, cast

from anthropic import AsyncAnthropic
from anthropic.types import MessageParam

from clawtrace_api.accounts import Principal
from clawtrace_api.deps import Services
from clawtrace_api.errors import Problem, not_found
from clawtrace_api.tracy.events import Chart, Done, ErrorEvent, TextDelta, ToolFinished, ToolStarted, TracyEvent
from clawtrace_api.tracy.loop import Answer
from clawtrace_api.tracy.loop import make_client as make_model_client
from clawtrace_api.tracy.scope import Scope
from clawtrace_api.tracy.tools import Toolbox
from clawtrace_api.views.cards import CardReader
from clawtrace_api.views.rows import trace_row
from clawtrace_pipelines.core.events import check_safe_id
from clawtrace_pipelines.core.graph.client import ClientOptions, GraphClient, connect
from clawtrace_pipelines.core.metering import Category

ENABLE_HINT = (
    "Tracy is not enabled on this server: set ANTHROPIC_API_KEY (and optionally CLAWTRACE_TRACY_MODEL, default "
    "claude-sonnet-4-6) in the API's environment and restart it"
)
_RUNTIME = "tracy_runtime"
_GRAPH = "tracy_graph"


@dataclass
class TracyRuntime:
    """The app's model client and Tracy's graph client (its own timeout and row cap), opened on first use."""

    model: AsyncAnthropic
    graph: GraphClient
    cards: CardReader


# Reentrant: runtime() opens the graph client (tracy_graph) while it holds it.
_runtime_lock = threading.RLock()


def runtime(services: Services) -> TracyRuntime:
    """The app's Tracy runtime (503 with how to enable it when no Anthropic key is set)."""
    settings = services.settings
    if settings.anthropic_api_key is None or not settings.anthropic_api_key.get_secret_value():
        raise Problem(503, "tracy-disabled", ENABLE_HINT)
    with _runtime_lock:
        found: TracyRuntime | None = services.extras.get(_RUNTIME)
        if found is None:
            found = TracyRuntime(make_model_client(settings), tracy_graph(services), services.cards)
            services.extras[_RUNTIME] = found
            services.extras.setdefault("on_stop", []).append(_closer(found.model))
        return found


def tracy_graph(services: Services) -> GraphClient:
    """The graph client of free-form queries (Tracy's and MCP's): the time cap is
    `CLAWTRACE_TRACY_QUERY_TIMEOUT_SECONDS`, not the API's 25 s. Its row limit stays the default, above the
    guard's cut at `tracy_max_rows` (each UNION branch may bring `tracy_max_rows + 1`)."""
    with _runtime_lock:
        found: GraphClient | None = services.extras.get(_GRAPH)
        if found is None:
            found = connect(services.settings, ClientOptions(timeout_s=services.settings.tracy_query_timeout_seconds))
            services.extras[_GRAPH] = found
            services.extras.setdefault("on_stop", []).append(_graph_closer(found))
        return found


def _closer(model: AsyncAnthropic) -> Any:
    async def close() -> None:
        await model.close()

    return close


def _graph_closer(graph: GraphClient) -> Any:
    async def close() -> None:
        graph.close()

    return close


def confine(services: Services, principal: Principal, agent_id: str | None, trace_id: str | None) -> Scope:
    """The scope of a question: the key's tenant, and the agent or trace it was asked from, if any.

    Raises:
        Problem: 404 when the agent or trace is not the caller's; 403 when a key bound to one agent asks
            about another.
    """
    tenant = principal.tenant_id
    if principal.agent_id is not None:
        if agent_id is not None and agent_id != principal.agent_id:
            raise Problem(403, "forbidden", "this key is bound to one agent: it may ask only about that agent")
        agent_id = principal.agent_id
    if agent_id is not None and not services.accounts.is_live_agent(tenant, agent_id):
        raise not_found("agent")
    if trace_id is not None:
        row = trace_row(services.graph, tenant, check_safe_id(trace_id, "trace_id"))
        if agent_id is not None and row.get("agent_id") != agent_id:
            raise not_found("trace")
    return Scope(tenant_id=tenant, agent_id=agent_id, trace_id=trace_id)


@dataclass
class Outcome:
    """One answer as it went: its text, tool calls, charts, cards, usage and the messages to keep."""

    text: list[str] = field(default_factory=list)
    tools: dict[str, dict[str, Any]] = field(default_factory=dict)
    charts: list[dict[str, Any]] = field(default_factory=list)
    done: Done | None = None
    error: ErrorEvent | None = None
    transcript: list[dict[str, Any]] = field(default_factory=list)

    def tool_results(self) -> dict[str, str]:
        """What each tool returned to the model, by tool_use id (from the transcript)."""
        found: dict[str, str] = {}
        for message in self.transcript:
            content = message.get("content")
            for block in content if isinstance(content, list) else []:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    found[str(block.get("tool_use_id"))] = str(block.get("content", ""))
        return found


async def run_answer(
    services: Services,
    scope: Scope,
    history: list[dict[str, Any]],
    question: str,
    page_context: str | None,
    outcome: Outcome,
) -> AsyncIterator[TracyEvent]:
    """Tracy's events for one question, recorded into `outcome` as they pass; metered at the end (the model's
    tokens whatever happened, the question only when answered)."""
    tracy = runtime(services)
    toolbox = Toolbox(tracy.graph, services.settings, scope, tracy.cards)
    run = Answer(tracy.model, services.settings, toolbox, cast(list[MessageParam], history), question, page_context)
    try:
        async for event in run:
            if isinstance(event, Done | ErrorEvent):
                outcome.transcript = [dict(m) for m in run.transcript]
            _record(outcome, event)
            yield event
    finally:
        outcome.transcript = [dict(m) for m in run.transcript]
        usage = outcome.done.usage if outcome.done else getattr(outcome.error, "usage", None)
        if usage:
            services.meter.record_model_usage(
                scope.tenant_id,
                input_tokens=int(usage.get("input", 0)),
                output_tokens=int(usage.get("output", 0)),
                cache_read_tokens=int(usage.get("cache_read", 0)),
                cache_write_tokens=int(usage.get("cache_write", 0)),
            )
        if outcome.done is not None:
            services.meter.record(scope.tenant_id, Category.TRACY_QUESTION)


def _record(outcome: Outcome, event: TracyEvent) -> None:
    if isinstance(event, TextDelta):
        outcome.text.append(event.text)
    elif isinstance(event, ToolStarted):
        outcome.tools[event.id] = {"id": event.id, "name": event.name, "input": event.input}
    elif isinstance(event, ToolFinished):
        outcome.tools.setdefault(event.id, {"id": event.id, "name": event.name, "input": {}})
        outcome.tools[event.id].update(is_error=event.is_error, summary=event.summary)
    elif isinstance(event, Chart):
        outcome.charts.append({"title": event.title, "option": event.option})
    elif isinstance(event, Done):
        outcome.done = event
    elif isinstance(event, ErrorEvent):
        outcome.error = event
