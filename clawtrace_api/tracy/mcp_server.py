"""Tracy's tools over MCP: the official SDK's `MCPServer`, mounted in the API at `/v1/tracy/mcp` (`install`).

An outside agent (Claude Desktop, Claude Code, any MCP client) calls the same tools Tracy calls, with an API key:
the tools are listed from `Toolbox.specs()` and run by `Toolbox.call`, so their names, descriptions and JSON
Schemas have one source (clawtrace_api/tracy/tools.py). The tenant, and the agent of an agent-bound key, come
from the key alone (mcp_auth.py); no tool takes a tenant.

The transport is stateless Streamable HTTP answering plain JSON: `clawtrace serve --workers N` runs N processes,
and a session kept in one process's memory would be unknown to the next request's process; no tool streams
progress or asks the client anything, so neither SSE nor sessions would carry anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any, Protocol

import orjson
from fastapi import FastAPI
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from mcp_types import Tool as MCPTool
from starlette.routing import Route

from clawtrace_api.accounts import Principal
from clawtrace_api.deps import Services
from clawtrace_api.errors import Problem
from clawtrace_api.tracy.mcp_auth import KeyAccess, KeyVerifier, auth_settings, principal_of
from clawtrace_api.tracy.scope import Scope
from clawtrace_api.tracy.service import tracy_graph
from clawtrace_api.tracy.tools import Toolbox, ToolOutcome
from clawtrace_pipelines.core.metering import Category
from clawtrace_pipelines.core.settings import Settings

# Under /v1 like every route the same keys open, beside Tracy's own routes (/v1/tracy/...); the original served
# /tracy/mcp, outside the versioned API.
MCP_PATH = "/v1/tracy/mcp"

INSTRUCTIONS = """ClawTrace Lakehouse: traces of AI agents (sessions, LLM calls, tool calls, costs) as a graph.
Every tool sees only the data of the tenant your API key belongs to (and of its agent, for an agent's key)."""


class Tools(Protocol):
    """What the server needs of Tracy's `Toolbox`."""

    def specs(self) -> list[dict[str, Any]]: ...

    def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome: ...


ToolboxFactory = Callable[[Principal], Tools]


def _tool(spec: dict[str, Any]) -> MCPTool:
    return MCPTool(
        name=spec["name"],
        description=spec["description"],
        input_schema=spec["input_schema"],
        # Every tool reads (the Cypher guard refuses writes): a client may run them without asking each time.
        annotations=ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False),
    )


def _result(outcome: ToolOutcome) -> CallToolResult:
    if outcome.chart is None:
        return CallToolResult(content=[TextContent(type="text", text=outcome.content)], is_error=outcome.is_error)
    # Tracy's text tells its model that the viewer shows the chart; over MCP nothing is shown, so the caller
    # gets the validated option itself (`{title, option}`), to render or hand on.
    text = orjson.dumps(outcome.chart).decode()
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=outcome.chart)


class TracyMCP(MCPServer[Any]):
    """An `MCPServer` whose tools are a `Toolbox` per caller rather than decorated functions.

    `list_tools` and `call_tool` are the server's public entry points for `tools/list` and `tools/call`; they
    are overridden so a tool's schema is the Toolbox's JSON Schema as written, not one the SDK derives from a
    Python signature."""

    def __init__(self, services: Services, toolbox_for: ToolboxFactory) -> None:
        super().__init__(
            name="clawtrace-tracy",
            title="ClawTrace Tracy",
            instructions=INSTRUCTIONS,
            token_verifier=KeyVerifier(services.keys),
            auth=auth_settings(),
            # The SDK calls logging.basicConfig with this level: WARNING is the threshold the API already
            # shows (Python's last-resort handler), so the SDK does not turn on every library's INFO lines.
            log_level="WARNING",
            subscriptions=False,
        )
        self.services = services
        self.toolbox_for = toolbox_for

    async def _toolbox(self, principal: Principal) -> Tools:
        # In a thread: the first use opens the graph client, which blocks.
        return await asyncio.to_thread(self.toolbox_for, principal)

    async def list_tools(self) -> list[MCPTool]:
        # The SDK's request context variable: `tools/list` hands its handler no request to read the key from.
        token = get_access_token()
        if not isinstance(token, KeyAccess):
            return []
        toolbox = await self._toolbox(token.principal)
        return [_tool(spec) for spec in toolbox.specs()]

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult:
        principal = principal_of(context.request_context.request) if context is not None else None
        if principal is None:
            # Unreachable behind the SDK's RequireAuthMiddleware; refuse rather than guess a tenant.
            raise ToolError("not authenticated: send Authorization: Bearer ct_live_...")
        try:
            # Like the read routes (ReadPrincipal): a tenant in credit deficit reads nothing.
            await self.services.guard.check(principal.tenant_id)
        except Problem as exc:
            raise ToolError(exc.detail) from exc
        toolbox = await self._toolbox(principal)
        if name not in {spec["name"] for spec in toolbox.specs()}:
            raise ToolError(f"Unknown tool: {name}")
        try:
            outcome = await asyncio.to_thread(toolbox.call, name, dict(arguments))
        except Exception as exc:
            # The SDK logs it with its traceback and answers this generic text: internals stay here.
            raise UnexpectedToolError(f"Error executing tool {name}") from exc
        if not outcome.is_error:
            # Like the read routes, a call that failed (a refused query, an unknown trace) is not charged.
            self.services.meter.record(principal.tenant_id, Category.MCP_QUERY)
        return _result(outcome)


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: only the configured Host headers, and Origins on those hosts or the API's CORS
    origins (a browser page elsewhere must not reach a server on a developer's localhost through its DNS)."""
    hosts = list(settings.mcp_allowed_hosts)
    origins = [f"{scheme}://{host}" for host in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[*origins, *settings.cors_origins],
    )


def tracy_toolbox(services: Services) -> ToolboxFactory:
    """Tracy's Toolbox for a caller: the key's tenant, and its agent when the key is bound to one."""

    def toolbox_for(principal: Principal) -> Tools:
        # An agent-bound key sees its agent only; the trace scope is for questions asked from a trace's page.
        scope = Scope(tenant_id=principal.tenant_id, agent_id=principal.agent_id)
        return Toolbox(tracy_graph(services), services.settings, scope, services.cards)

    return toolbox_for


def install(app: FastAPI, services: Services, toolbox_for: ToolboxFactory | None = None) -> TracyMCP:
    """Serve the MCP endpoint at `MCP_PATH` in `app`, its session manager run by the app's lifespan."""
    server = TracyMCP(services, toolbox_for or tracy_toolbox(services))
    asgi = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(services.settings),
    )
    # A route for the exact path, not a Mount: a Mount answers only below its path (a client POSTing to
    # /v1/tracy/mcp would be redirected) and would catch every other /v1/tracy/... route of Tracy's.
    # The SDK's app routes on the full path itself, so it is handed the request unchanged.
    app.router.routes.append(Route(MCP_PATH, endpoint=asgi, include_in_schema=False))

    stack = AsyncExitStack()

    async def start() -> None:
        await stack.enter_async_context(server.session_manager.run())

    async def stop() -> None:
        await stack.aclose()

    services.extras.setdefault("on_start", []).append(start)
    services.extras.setdefault("on_stop", []).append(stop)
    return server
