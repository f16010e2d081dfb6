"""Tracy's tools over MCP on a real lake (tests/api/reads_lake.py: twin tenants A and B with the same trace ids
and other data), through the API under uvicorn and the SDK's client: the listing is the Toolbox's, and a key
reads its own tenant's cards and rows only; another tenant's trace is as unknown as one that exists nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from clawtrace_api.accounts import Accounts, Principal
from clawtrace_api.db.engine import make_engine
from clawtrace_api.keys import Scope as KeyScope
from clawtrace_api.tracy import mcp_server
from clawtrace_api.tracy.scope import Scope
from clawtrace_api.tracy.tools import Toolbox
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.metering import Category
from clawtrace_pipelines.core.tables import TRACE_CARDS
from clawtrace_pipelines.core.trace_cards import read_card, render_yaml
from tests.api.mcp_client import call, metered, text_of
from tests.api.reads_lake import B_ONLY_TRACE, TENANT_B, ReadsLake, build, read_keys, silver_traces
from tests.api_server import Running, serve_app


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReadsLake, Running, dict[str, str]]]:
    lake = build(tmp_path_factory.mktemp("mcp"))
    engine = make_engine(lake.settings)
    accounts = Accounts(engine)
    keys = read_keys(lake, accounts)
    with serve_app(lake.settings) as api:
        yield lake, api, keys
    engine.dispose()


def _card(api: Running, key: str, trace_id: str) -> Any:
    async def step(client: Any) -> Any:
        return await client.call_tool("trace_card", {"trace_id": trace_id})

    return call(api, key, step)


def test_the_tools_listed_over_mcp_are_tracys_toolbox_specs(world: tuple[ReadsLake, Running, dict[str, str]]) -> None:
    lake, api, keys = world
    services = api.app.state.services
    specs = Toolbox(services.graph, lake.settings, Scope(tenant_id=lake.tenant_a), services.cards).specs()

    async def listing(client: Any) -> Any:
        return await client.list_tools()

    tools = call(api, keys[lake.tenant_a], listing).tools
    assert [t.name for t in tools] == [s["name"] for s in specs] == ["run_cypher", "trace_card", "make_chart"]
    assert [(t.description, t.input_schema) for t in tools] == [(s["description"], s["input_schema"]) for s in specs]


def test_a_trace_card_over_mcp_is_the_keys_tenants_card_for_ids_both_tenants_hold(
    world: tuple[ReadsLake, Running, dict[str, str]],
) -> None:
    lake, api, keys = world
    cards = open_table(TRACE_CARDS, lake.settings)
    twin_ids = {t["trace_id"] for t in silver_traces(lake.settings, TENANT_B)}
    shared = sorted(t["trace_id"] for t in silver_traces(lake.settings, lake.tenant_a) if t["trace_id"] in twin_ids)
    assert shared
    differs = 0
    before = metered(api, lake.tenant_a)[Category.MCP_QUERY.value]
    for trace_id in shared[:4]:
        mine, twin = read_card(cards, lake.tenant_a, trace_id), read_card(cards, TENANT_B, trace_id)
        assert mine and twin
        for tenant, card in ((lake.tenant_a, mine), (TENANT_B, twin)):
            result = _card(api, keys[tenant], trace_id)
            assert not result.is_error
            assert text_of(result) == render_yaml(card)
        differs += mine != twin
    assert differs, "the twin tenants' cards should differ somewhere, or this test proves nothing"
    assert metered(api, lake.tenant_a)[Category.MCP_QUERY.value] == before + len(shared[:4])


def test_another_tenants_trace_is_as_unknown_over_mcp_as_one_that_exists_nowhere(
    world: tuple[ReadsLake, Running, dict[str, str]],
) -> None:
    lake, api, keys = world
    foreign = _card(api, keys[lake.tenant_a], B_ONLY_TRACE)
    nowhere = _card(api, keys[lake.tenant_a], "no-such-trace")
    assert foreign.is_error and nowhere.is_error
    assert text_of(foreign).replace(B_ONLY_TRACE, "X") == text_of(nowhere).replace("no-such-trace", "X")
    assert not _card(api, keys[TENANT_B], B_ONLY_TRACE).is_error


def _cypher(api: Running, key: str, query: str, params: dict[str, Any] | None = None) -> Any:
    async def step(client: Any) -> Any:
        return await client.call_tool("run_cypher", {"query": query, **({"params": params} if params else {})})

    return call(api, key, step)


def test_run_cypher_over_mcp_reads_the_keys_tenants_traces_only(
    world: tuple[ReadsLake, Running, dict[str, str]],
) -> None:
    lake, api, keys = world
    query = "MATCH (t:Trace) RETURN t.trace_id AS trace_id ORDER BY trace_id"
    for tenant in (lake.tenant_a, TENANT_B):
        result = _cypher(api, keys[tenant], query)
        assert not result.is_error, text_of(result)
        rows = [row[0] for row in orjson.loads(text_of(result))["rows"]]
        assert rows == sorted(t["trace_id"] for t in silver_traces(lake.settings, tenant))
    assert B_ONLY_TRACE in rows


def test_run_cypher_over_mcp_never_reads_the_tenant_its_query_names(
    world: tuple[ReadsLake, Running, dict[str, str]],
) -> None:
    lake, api, keys = world
    query = "MATCH (t:Trace {tenant_id: $tenant_id}) RETURN t.trace_id AS trace_id"
    foreign = B_ONLY_TRACE  # a trace only B has: A's key must never see it, whatever the query asks for
    result = _cypher(api, keys[lake.tenant_a], query, {"tenant_id": TENANT_B})
    # Refused, or answered with A's traces: either way, not B's.
    assert result.is_error or foreign not in text_of(result)
    literal = f"MATCH (t:Trace) WHERE t.tenant_id = '{TENANT_B}' RETURN t.trace_id AS trace_id"
    assert foreign not in text_of(_cypher(api, keys[lake.tenant_a], literal))


def test_a_write_over_mcp_is_refused_with_the_guards_reason_and_not_metered(
    world: tuple[ReadsLake, Running, dict[str, str]],
) -> None:
    lake, api, keys = world
    before = metered(api, lake.tenant_a)[Category.MCP_QUERY.value]
    result = _cypher(api, keys[lake.tenant_a], "MATCH (t:Trace) DETACH DELETE t")
    assert result.is_error
    assert text_of(result).startswith("query refused:")
    assert metered(api, lake.tenant_a)[Category.MCP_QUERY.value] == before


def test_a_key_bound_to_an_agent_gets_tools_confined_to_that_agent(
    world: tuple[ReadsLake, Running, dict[str, str]],
) -> None:
    # Today only ingest keys are agent-bound, and they lack `read` (403 at the endpoint); the confinement holds
    # anyway, should a read key ever be bound to an agent.
    lake, api, _ = world
    toolbox_for = mcp_server.tracy_toolbox(api.app.state.services)
    trace = next(t for t in silver_traces(lake.settings, lake.tenant_a) if t["agent_id"] == lake.agent_a)
    scopes = frozenset({KeyScope.READ})
    own = toolbox_for(Principal(lake.tenant_a, "k1", scopes, agent_id=lake.agent_a))
    other = toolbox_for(Principal(lake.tenant_a, "k2", scopes, agent_id="another-agent"))
    assert not own.call("trace_card", {"trace_id": trace["trace_id"]}).is_error
    refused = other.call("trace_card", {"trace_id": trace["trace_id"]})
    assert refused.is_error and "agent another-agent" in refused.content


def test_make_chart_over_mcp_hands_back_the_validated_option_as_text_and_structured_content(
    world: tuple[ReadsLake, Running, dict[str, str]],
) -> None:
    lake, api, keys = world
    option = {
        "xAxis": {"type": "category", "data": ["a", "b"]},
        "yAxis": {},
        "series": [{"type": "bar", "data": [1, 2]}],
    }

    async def chart(client: Any) -> Any:
        return await client.call_tool("make_chart", {"title": "Calls", "option": option})

    result = call(api, keys[lake.tenant_a], chart)
    assert not result.is_error, text_of(result)
    assert result.structured_content == orjson.loads(text_of(result)) == {"title": "Calls", "option": option}
