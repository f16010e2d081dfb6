"""`POST /v1/tracy/chat` end to end: the API under uvicorn, the real anthropic SDK talking to the stand-in, the
tools over the twin-tenant lake; and the sessions it keeps, owned by the tenant of the key."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from clawtrace_api.errors import PROBLEM_JSON
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.tables import TRACE_CARDS
from clawtrace_pipelines.core.trace_cards import read_card, render_yaml
from tests.anthropic_standin import Text, ToolUse, Turn
from tests.api.reads_lake import B_ONLY_TRACE, TENANT_B, silver_spans
from tests.api.tracy.chat_world import ChatWorld, ask, chat_settings, chat_world, make_keys
from tests.api.tracy.conftest import TracyLake
from tests.api_server import serve_app

TOOLS_BY_USE = (
    "MATCH (s:Span) WHERE s.tool_name IS NOT NULL "
    "RETURN s.tool_name AS tool, count(*) AS calls ORDER BY calls DESC, tool"
)
CHART = {"xAxis": {"type": "category", "data": ["read"]}, "yAxis": {}, "series": [{"type": "bar", "data": [3]}]}
USAGE = {"input_tokens": 500, "output_tokens": 50, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}


@pytest.fixture(scope="module")
def world(tracy_lake: TracyLake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatWorld]:
    with chat_world(tracy_lake, tmp_path_factory.mktemp("chat")) as running:
        yield running


def _script_three_tools(world: ChatWorld, trace_id: str) -> None:
    world.standin.script(
        Turn([Text("Counting tool calls."), ToolUse("run_cypher", {"query": TOOLS_BY_USE})], usage=USAGE),
        Turn([ToolUse("trace_card", {"trace_id": trace_id})], usage=USAGE),
        Turn([ToolUse("make_chart", {"title": "Calls by tool", "option": CHART})], usage=USAGE),
        Turn([Text("Your most used tool is shown above.")], usage=USAGE),
    )


def _tool_results(body: dict[str, Any]) -> dict[str, str]:
    return {
        block["tool_use_id"]: block["content"]
        for message in body["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_result"
    }


def test_a_conversation_streams_its_events_and_the_tool_results_are_the_lakes_numbers(world: ChatWorld):
    trace_id = world.lake.traces[0][0]
    _script_three_tools(world, trace_id)
    with world.client(world.read_a) as client:
        events = ask(client, question="Which tool do my agents use most?")

    # Text streams in several deltas: compare runs of them as one.
    names = [name for i, (name, _) in enumerate(events) if name != "text" or events[i - 1][0] != "text"]
    assert names == [
        "session",
        "text",
        "tool_started",
        "tool_finished",
        "tool_started",
        "tool_finished",
        "tool_started",
        "tool_finished",
        "chart",
        "text",
        "done",
    ]
    data = [d for name, d in events if name != "text"]
    assert "".join(d["text"] for name, d in events if name == "text") == (
        "Counting tool calls.Your most used tool is shown above."
    )
    assert data[1]["name"] == "run_cypher" and data[1]["input"] == {"query": TOOLS_BY_USE}
    expected = Counter(s["tool_name"] for s in silver_spans(world.settings, world.lake.tenant) if s["tool_name"])
    assert data[2]["summary"].get("rows") == len(expected), data[2]
    assert data[2]["summary"]["rows"] == len(expected) and data[2]["is_error"] is False
    assert data[7] == {"title": "Calls by tool", "option": CHART, "type": "chart"}
    done = data[-1]
    assert done["usage"] == {"input": 2000, "output": 200, "cache_read": 0, "cache_write": 0}
    assert done["cost_usd"] is not None and done["message_id"]

    # What the model was handed: tenant A's counts exactly (twin tenant B has the same ids, other data) and A's card.
    last = world.standin.bodies[-1]
    results = _tool_results(last)
    uses = {
        block["name"]: block["id"]
        for message in last["messages"]
        if message["role"] == "assistant" and isinstance(message["content"], list)
        for block in message["content"]
        if block.get("type") == "tool_use"
    }
    cypher = orjson.loads(results[uses["run_cypher"]])
    assert dict(cypher["rows"]) == dict(expected)
    card = read_card(open_table(TRACE_CARDS, world.settings), world.lake.tenant, trace_id)
    assert results[uses["trace_card"]] == render_yaml(card)


def test_the_session_keeps_the_transcript_and_sends_earlier_turns_as_history(world: ChatWorld):
    world.standin.script(Turn([Text("First answer.")], usage=USAGE))
    with world.client(world.read_a) as client:
        session_id = ask(client, question="first question")[0][1]["session_id"]
        world.standin.script(Turn([Text("Second answer.")], usage=USAGE))
        events = ask(client, question="second question", session_id=session_id)
        assert events[0][1]["session_id"] == session_id
        sent = world.standin.bodies[-1]["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]
        assert sent[0]["content"] == "first question"
        assert sent[1]["content"] == "First answer."

        listed = client.get("/v1/tracy/sessions").json()["sessions"]
        assert session_id in [s["session_id"] for s in listed]
        messages = client.get(f"/v1/tracy/sessions/{session_id}/messages").json()
        assert messages["session"]["title"] == "first question"
        texts = [b["text"] for m in messages["messages"] for b in m["content"] if b["type"] == "text"]
        assert "First answer." in texts and "Second answer." in texts
        assert messages["messages"][-1]["usage"]["cost_usd"] == events[-1][1]["cost_usd"]


def test_another_tenants_session_is_not_found_anywhere(world: ChatWorld):
    world.standin.script(Turn([Text("Mine.")], usage=USAGE))
    with world.client(world.read_a) as a, world.client(world.read_b) as b:
        session_id = ask(a, question="tenant A's question")[0][1]["session_id"]
        for response in (
            b.get(f"/v1/tracy/sessions/{session_id}"),
            b.get(f"/v1/tracy/sessions/{session_id}/messages"),
            b.delete(f"/v1/tracy/sessions/{session_id}"),
            b.post("/v1/tracy/chat", json={"question": "hijack", "session_id": session_id}),
        ):
            assert response.status_code == 404, response.text
            assert response.headers["content-type"] == PROBLEM_JSON
        assert session_id not in [s["session_id"] for s in b.get("/v1/tracy/sessions").json()["sessions"]]
        # The foreign attempts changed nothing; the owner deletes it.
        assert a.get(f"/v1/tracy/sessions/{session_id}").json()["messages"] == 2
        assert a.delete(f"/v1/tracy/sessions/{session_id}").status_code == 204
        assert a.get(f"/v1/tracy/sessions/{session_id}").status_code == 404


def test_a_question_from_a_page_is_confined_to_its_agent_or_trace(world: ChatWorld):
    agent = world.lake.lake.agent_a
    own_trace = next(trace for trace, owner in world.lake.traces if owner == agent)
    with world.client(world.read_a) as client:
        world.standin.script(Turn([Text("About this agent.")], usage=USAGE))
        events = ask(client, question="how is it doing?", agent_id=agent, page_context="page: 12 traces")
        assert events[0][1]["scope"] == {"agent_id": agent, "trace_id": None}
        system = "".join(block["text"] for block in world.standin.bodies[-1]["system"])
        assert agent in system
        assert "12 traces" in orjson.dumps(world.standin.bodies[-1]["messages"][-1]).decode()

        session_id = events[0][1]["session_id"]
        conflict = client.post(
            "/v1/tracy/chat", json={"question": "elsewhere", "session_id": session_id, "trace_id": own_trace}
        )
        assert conflict.status_code == 409, conflict.text

        for body in (
            {"trace_id": B_ONLY_TRACE},  # tenant B's trace
            {"agent_id": "5da5a307-d5a8-4279-ab5d-277757183bba"},  # no such agent
            {"agent_id": agent, "trace_id": world.lake.trace_of_other_agent(agent)},  # another agent's trace
        ):
            refused = client.post("/v1/tracy/chat", json={"question": "q", **body})
            assert refused.status_code == 404, (body, refused.text)


def test_a_model_failure_is_an_error_event_and_the_question_is_kept(world: ChatWorld):
    world.standin.script(Turn.fail(401, "invalid x-api-key"))
    with world.client(world.read_a) as client:
        events = ask(client, question="will this fail?")
        assert [name for name, _ in events] == ["session", "error"]
        assert events[1][1]["kind"] == "auth"
        messages = client.get(f"/v1/tracy/sessions/{events[0][1]['session_id']}/messages").json()["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant"]
        assert "no complete answer" in messages[-1]["content"][-1]["text"]


def test_bad_requests_are_precise_problems(world: ChatWorld):
    with world.client(world.read_a) as client:
        for body, status in (
            ({}, 422),
            ({"question": ""}, 422),
            ({"question": "q", "session_id": "not-a-uuid"}, 422),
            ({"question": "q", "trace_id": "../../etc"}, 422),
            ({"question": "q", "tenant_id": TENANT_B}, 422),  # the tenant is never taken from the body
            ({"question": "q", "session_id": "5da5a307-d5a8-4279-ab5d-277757183bba"}, 404),
        ):
            response = client.post("/v1/tracy/chat", json=body)
            assert response.status_code == status, (body, response.text)
            assert response.headers["content-type"] == PROBLEM_JSON
    with world.client(world.agent_key_a) as ingest_only:
        assert ingest_only.post("/v1/tracy/chat", json={"question": "q"}).status_code == 403
    with world.api.client() as anonymous:
        assert anonymous.post("/v1/tracy/chat", json={"question": "q"}).status_code == 401


def test_without_an_anthropic_key_tracy_answers_503_saying_how_to_enable_it(
    tracy_lake: TracyLake, tmp_path_factory: pytest.TempPathFactory
):
    settings = chat_settings(tracy_lake, tmp_path_factory.mktemp("off"), None)
    read_a, _, agent_key = make_keys(settings, tracy_lake)
    with serve_app(settings) as api:
        with api.client(read_a) as client:
            response = client.post("/v1/tracy/chat", json={"question": "hello?"})
            assert response.status_code == 503
            assert response.headers["content-type"] == PROBLEM_JSON
            assert "ANTHROPIC_API_KEY" in response.json()["detail"]
            assert client.get("/v1/tracy/sessions").json()["sessions"] == []
        with api.client(agent_key) as agent:
            assert agent.post("/v1/evolve/ask", json={"question": "hello?"}).status_code == 503
