"""The MCP endpoint's own rules, with a stand-in Toolbox that echoes who it runs as: the API under uvicorn on
127.0.0.1, the SDK's client. Whose data a tool sees is the key's tenant (never an argument's), a call is
metered once when it answers, keys are checked on every request, foreign Host and Origin headers are refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx2 as httpx
import pytest
from mcp.shared.exceptions import MCPError

from clawtrace_api.accounts import Accounts, Principal
from clawtrace_api.tracy import mcp_server
from clawtrace_api.tracy.mcp_server import MCP_PATH
from clawtrace_api.tracy.tools import ToolOutcome
from clawtrace_pipelines.core.metering import Category
from clawtrace_pipelines.core.settings import Settings
from tests.api.mcp_client import call, metered, text_of
from tests.api_server import Running, serve_app

SPECS = [
    {
        "name": "echo",
        "description": "Says whose data it would read.",
        "input_schema": {
            "type": "object",
            "properties": {"text": {"type": "string"}, "tenant_id": {"type": "string"}},
            "required": ["text"],
            "additionalProperties": False,
        },
    },
    {"name": "fail", "description": "Answers an error.", "input_schema": {"type": "object", "properties": {}}},
    {"name": "crash", "description": "Raises.", "input_schema": {"type": "object", "properties": {}}},
]


@dataclass
class EchoToolbox:
    principal: Principal

    def specs(self) -> list[dict[str, Any]]:
        return SPECS

    def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        if name == "fail":
            return ToolOutcome("no such trace", is_error=True)
        if name == "crash":
            raise RuntimeError("internal detail: /secret/path")
        return ToolOutcome(f"tenant={self.principal.tenant_id} agent={self.principal.agent_id} {arguments['text']}")


MCP_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
}
ACCEPT = {"accept": "application/json, text/event-stream"}


@pytest.fixture
def world(
    monkeypatch: pytest.MonkeyPatch, api_settings: Settings, accounts: Accounts
) -> Iterator[tuple[Running, dict[str, str]]]:
    monkeypatch.setattr(mcp_server, "tracy_toolbox", lambda services: EchoToolbox)
    a = accounts.create_tenant("a")["tenant_id"]
    b = accounts.create_tenant("b")["tenant_id"]
    agent = accounts.create_agent(a, "bot")
    read_a = accounts.create_key(a, "read")
    keys = {
        "a": read_a["key"],
        "b": accounts.create_key(b, "read")["key"],
        "ingest": agent["api_key"],
        "tenant_a": a,
        "tenant_b": b,
        "read_key_id_a": read_a["key_id"],
    }
    with serve_app(api_settings) as api:
        yield api, keys


def test_the_tools_listed_are_the_toolboxs_specs_as_written(world: tuple[Running, dict[str, str]]) -> None:
    api, keys = world

    async def listing(client: Any) -> Any:
        return await client.list_tools()

    for mode in ("auto", "legacy"):  # the 2026 protocol and the initialize handshake of 2025 clients
        tools = call(api, keys["a"], listing, mode=mode).tools
        assert [(t.name, t.description, t.input_schema) for t in tools] == [
            (s["name"], s["description"], s["input_schema"]) for s in SPECS
        ]
        assert all(t.annotations.read_only_hint for t in tools)


def test_a_call_runs_as_the_keys_tenant_whatever_its_arguments_say(world: tuple[Running, dict[str, str]]) -> None:
    api, keys = world

    async def echo(client: Any) -> Any:
        return await client.call_tool("echo", {"text": "hi", "tenant_id": keys["tenant_b"]})

    result = call(api, keys["a"], echo)
    assert not result.is_error
    assert text_of(result) == f"tenant={keys['tenant_a']} agent=None hi"
    assert text_of(call(api, keys["b"], echo)) == f"tenant={keys['tenant_b']} agent=None hi"


def test_each_answered_call_is_metered_once_for_the_keys_tenant_and_a_failed_one_not_at_all(
    world: tuple[Running, dict[str, str]],
) -> None:
    api, keys = world

    async def three_calls(client: Any) -> list[Any]:
        return [
            await client.call_tool("echo", {"text": "1"}),
            await client.call_tool("echo", {"text": "2"}),
            await client.call_tool("fail", {}),
        ]

    results = call(api, keys["a"], three_calls)
    assert [r.is_error for r in results] == [False, False, True]
    assert text_of(results[2]) == "no such trace"
    assert metered(api, keys["tenant_a"])[Category.MCP_QUERY.value] == 2
    assert metered(api, keys["tenant_b"])[Category.MCP_QUERY.value] == 0


def test_a_tool_that_raises_answers_a_generic_error_that_keeps_its_internals(
    world: tuple[Running, dict[str, str]],
) -> None:
    api, keys = world

    async def crash(client: Any) -> Any:
        return await client.call_tool("crash", {})

    result = call(api, keys["a"], crash)
    assert result.is_error
    assert text_of(result) == "Error executing tool crash"
    assert metered(api, keys["tenant_a"])[Category.MCP_QUERY.value] == 0


def test_a_tenant_in_credit_deficit_gets_the_guards_answer_and_no_data(
    world: tuple[Running, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    api, keys = world
    guard = api.app.state.services.guard
    monkeypatch.setattr(guard.settings, "billing_guard", True)

    async def balance(tenant_id: str) -> Decimal | None:
        return Decimal("-2") if tenant_id == keys["tenant_a"] else None

    monkeypatch.setattr(guard, "balance", balance)

    async def echo(client: Any) -> Any:
        return await client.call_tool("echo", {"text": "hi"})

    refused = call(api, keys["a"], echo)
    assert refused.is_error
    assert "below zero" in text_of(refused) and "tenant=" not in text_of(refused)
    assert not call(api, keys["b"], echo).is_error
    assert metered(api, keys["tenant_a"])[Category.MCP_QUERY.value] == 0


def test_no_key_an_unknown_key_and_a_revoked_key_are_refused_with_401(
    world: tuple[Running, dict[str, str]], accounts: Accounts
) -> None:
    api, keys = world
    url = api.url + MCP_PATH
    for headers in ({}, {"authorization": "Bearer ct_live_not-a-key"}, {"authorization": "Basic eDp5"}):
        answer = httpx.post(url, json=MCP_INITIALIZE, headers={**headers, **ACCEPT})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")

    async def listing(client: Any) -> Any:
        return await client.list_tools()

    # The SDK's client does not get as far as a session (its error names no status: the raw posts above do).
    with pytest.raises(ExceptionGroup) as refused:
        call(api, None, listing)
    assert refused.group_contains(MCPError)

    assert call(api, keys["a"], listing).tools
    accounts.revoke_key(keys["read_key_id_a"])  # the tests' key cache trusts a lookup for no time at all
    answer = httpx.post(url, json=MCP_INITIALIZE, headers={"authorization": f"Bearer {keys['a']}", **ACCEPT})
    assert answer.status_code == 401


def test_a_key_without_the_read_scope_is_refused_with_403(world: tuple[Running, dict[str, str]]) -> None:
    api, keys = world
    answer = httpx.post(
        api.url + MCP_PATH, json=MCP_INITIALIZE, headers={"authorization": f"Bearer {keys['ingest']}", **ACCEPT}
    )
    assert answer.status_code == 403
    assert "read" in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("headers", "status"),
    [({"host": "evil.example"}, 421), ({"host": "evil.example:8000"}, 421), ({"origin": "http://evil.example"}, 403)],
)
def test_a_foreign_host_or_origin_is_refused_even_with_a_good_key(
    world: tuple[Running, dict[str, str]], headers: dict[str, str], status: int
) -> None:
    api, keys = world
    sent = {"authorization": f"Bearer {keys['a']}", **ACCEPT, **headers}
    assert httpx.post(api.url + MCP_PATH, json=MCP_INITIALIZE, headers=sent).status_code == status
    # The same request from a local page passes: the check is on the headers, not on the key.
    local = {**sent, **({"host": api.url.removeprefix("http://")} if "host" in headers else {})}
    local.pop("origin", None)
    assert httpx.post(api.url + MCP_PATH, json=MCP_INITIALIZE, headers=local).status_code == 200
