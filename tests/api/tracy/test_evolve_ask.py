"""`POST /v1/evolve/ask`: an agent asks about its own runs with its ingest key and gets one JSON reply, confined
to that agent."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import orjson
import pytest

from clawtrace_api.errors import PROBLEM_JSON
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.tables import TRACE_CARDS
from clawtrace_pipelines.core.trace_cards import read_card
from tests.anthropic_standin import Text, ToolUse, Turn
from tests.api.reads_lake import silver_spans
from tests.api.tracy.chat_world import ChatWorld, chat_world
from tests.api.tracy.conftest import TracyLake

USAGE = {"input_tokens": 300, "output_tokens": 30, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 10}
FAILED_TOOLS = (
    "MATCH (s:Span) WHERE s.tool_name IS NOT NULL AND s.has_error = 1 "
    "RETURN s.tool_name AS tool, count(*) AS failures ORDER BY failures DESC, tool"
)


@pytest.fixture(scope="module")
def world(tracy_lake: TracyLake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatWorld]:
    with chat_world(tracy_lake, tmp_path_factory.mktemp("evolve")) as running:
        yield running


def test_the_agent_gets_its_own_numbers_and_cards_in_one_reply(world: ChatWorld):
    agent = world.lake.lake.agent_a
    own_trace = next(trace for trace, owner in world.lake.traces if owner == agent)
    world.standin.script(
        Turn([ToolUse("run_cypher", {"query": FAILED_TOOLS})], usage=USAGE),
        Turn([ToolUse("trace_card", {"trace_id": own_trace})], usage=USAGE),
        Turn([Text("Retry less often.")], usage=USAGE),
    )
    with world.client(world.agent_key_a) as client:
        response = client.post("/v1/evolve/ask", json={"question": "which of my tools failed most?"})
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["answer"] == "Retry less often." and reply["agent_id"] == agent
    cypher, card_call = reply["tool_calls"]
    expected = Counter(
        s["tool_name"]
        for s in silver_spans(world.settings, world.lake.tenant)
        if s["tool_name"] and s["has_error"] and s["agent_id"] == agent
    )
    assert expected and not cypher["is_error"], cypher
    assert dict(orjson.loads(cypher["content"])["rows"]) == dict(expected)
    assert card_call["name"] == "trace_card" and not card_call["is_error"]
    card = read_card(open_table(TRACE_CARDS, world.settings), world.lake.tenant, own_trace)
    assert reply["cards"] == [orjson.loads(orjson.dumps(card, default=str))]
    assert reply["usage"] == {
        "input_tokens": 900,
        "output_tokens": 90,
        "cache_read_tokens": 300,
        "cache_write_tokens": 30,
    }
    assert reply["cost_usd"] is not None
    # The system prompt named the agent's scope.
    assert agent in "".join(block["text"] for block in world.standin.bodies[-1]["system"])


def test_an_agent_key_cannot_ask_about_another_agent(world: ChatWorld):
    agent = world.lake.lake.agent_a
    with world.client(world.agent_key_a) as client:
        other = client.post(
            "/v1/evolve/ask", json={"question": "q", "agent_id": "5da5a307-d5a8-4279-ab5d-277757183bba"}
        )
        assert other.status_code == 403 and other.headers["content-type"] == PROBLEM_JSON
        foreign_trace = client.post(
            "/v1/evolve/ask", json={"question": "q", "trace_id": world.lake.trace_of_other_agent(agent)}
        )
        assert foreign_trace.status_code == 404
    with world.client(world.read_a) as reader:
        # A tenant-wide key must say which agent asks.
        assert reader.post("/v1/evolve/ask", json={"question": "q"}).status_code == 422


def test_a_model_failure_is_a_502_problem(world: ChatWorld):
    world.standin.script(Turn.fail(529, "overloaded"), Turn.fail(529, "overloaded"))
    with world.client(world.agent_key_a) as client:
        response = client.post("/v1/evolve/ask", json={"question": "q"})
    assert response.status_code == 502 and response.headers["content-type"] == PROBLEM_JSON
