"""Tracy's agent loop: the real anthropic SDK against the stand-in on 127.0.0.1, tools over a real lake."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from clawtrace_api.tracy.events import Chart, Done, ErrorEvent, TextDelta, ToolFinished, ToolStarted
from clawtrace_api.tracy.loop import LAST_ROUND_NOTE, answer, make_client
from clawtrace_api.tracy.scope import Scope
from clawtrace_api.tracy.tools import Toolbox
from clawtrace_pipelines.core.graph.definition import EDGES, VERTICES
from clawtrace_pipelines.core.pricing import price_usage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.trace_cards import read_card, render_yaml
from tests.anthropic_standin import StandIn, Text, ToolUse, Turn
from tests.api.tracy.conftest import TracyLake

CHART = {"xAxis": {"type": "category", "data": ["a", "b"]}, "yAxis": {}, "series": [{"type": "bar", "data": [1, 2]}]}
HISTORY: list[Any] = [
    {"role": "user", "content": "hello"},
    {"role": "assistant", "content": [{"type": "text", "text": "Hi, ask me about your agents."}]},
]
USAGES = [
    {"input_tokens": 1200, "output_tokens": 40, "cache_read_input_tokens": 0, "cache_creation_input_tokens": 3000},
    {"input_tokens": 900, "output_tokens": 60, "cache_read_input_tokens": 3000, "cache_creation_input_tokens": 0},
    {"input_tokens": 700, "output_tokens": 250, "cache_read_input_tokens": 3000, "cache_creation_input_tokens": 0},
]


def _collect(settings: Settings, toolbox: Toolbox, question: str, page: str | None = None, history=()):
    async def run() -> tuple[list[Any], Any]:
        client = make_client(settings)
        try:
            run = answer(client, settings, toolbox, list(history), question, page)
            return [event async for event in run], run
        finally:
            await client.close()

    return asyncio.run(run())


def _toolbox(tracy_lake: TracyLake, settings: Settings, scope: Scope | None = None) -> Toolbox:
    return Toolbox(tracy_lake.graph, settings, scope or Scope(tracy_lake.tenant), tracy_lake.cards)


def _script_card_chart_answer(standin: StandIn, trace_id: str) -> None:
    standin.script(
        Turn([Text("Let me read the card."), ToolUse("trace_card", {"trace_id": trace_id})], usage=USAGES[0]),
        Turn([ToolUse("make_chart", {"title": "Cost by step", "option": CHART})], usage=USAGES[1]),
        Turn([Text("The trace cost $0.0192; cache the system prompt.")], usage=USAGES[2]),
    )


def test_a_scripted_conversation_yields_its_events_in_order_with_usage_and_cost(tracy_lake, standin, tracy_settings):
    trace_id, agent = tracy_lake.traces[0]
    _script_card_chart_answer(standin, trace_id)
    toolbox = _toolbox(tracy_lake, tracy_settings, Scope(tracy_lake.tenant, agent))
    events, _ = _collect(tracy_settings, toolbox, "Why did this trace cost so much?")
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        *["TextDelta"] * 5,
        "ToolStarted",
        "ToolFinished",
        "ToolStarted",
        "ToolFinished",
        "Chart",
        *["TextDelta"] * 8,
        "Done",
    ]
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(texts) == "Let me read the card.The trace cost $0.0192; cache the system prompt."
    card_start, card_end, chart_start, chart_end, chart = events[5:10]
    assert card_start == ToolStarted(card_start.id, "trace_card", {"trace_id": trace_id})
    assert card_end == ToolFinished(card_start.id, "trace_card", False, {"trace_id": trace_id})
    assert chart_start.name == "make_chart" and chart_end == ToolFinished(
        chart_start.id, "make_chart", False, {"title": "Cost by step"}
    )
    assert chart == Chart("Cost by step", CHART)
    done = events[-1]
    assert done.usage == {
        "input": sum(u["input_tokens"] for u in USAGES),
        "output": sum(u["output_tokens"] for u in USAGES),
        "cache_read": sum(u["cache_read_input_tokens"] for u in USAGES),
        "cache_write": sum(u["cache_creation_input_tokens"] for u in USAGES),
    }
    now = datetime.now(UTC)
    expected = sum(
        price_usage(
            "anthropic",
            tracy_settings.tracy_model,
            u["input_tokens"],
            u["cache_read_input_tokens"],
            u["cache_creation_input_tokens"],
            u["output_tokens"],
            now,
        )
        for u in USAGES
    )
    assert Decimal(done.cost_usd) == expected > 0
    assert (done.model, done.rounds) == (tracy_settings.tracy_model, 2)


def test_what_tracy_sends_the_model_is_the_prompt_the_tools_and_the_tool_results(tracy_lake, standin, tracy_settings):
    trace_id, agent = tracy_lake.traces[0]
    _script_card_chart_answer(standin, trace_id)
    scope = Scope(tracy_lake.tenant, agent, trace_id)
    toolbox = _toolbox(tracy_lake, tracy_settings, scope)
    page = "Trace page: 12 spans, $0.0192"
    _, run = _collect(tracy_settings, toolbox, "Why so expensive?", page, HISTORY)
    first, second, third = standin.bodies
    system = "\n".join(block["text"] for block in first["system"])
    for v in VERTICES:
        assert f"(:{v.label})" in system
        assert all(f"{p.name}: {p.type}" in system for p in v.embedded_properties)
    for e in EDGES:
        assert f"(:{e.from_vertex})-[:{e.label}]->(:{e.to_vertex})" in system
    assert all(f"`{value}`" in system for value in (scope.tenant_id, agent, trace_id))
    assert first["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert all(body["system"] == first["system"] for body in (second, third))
    assert all(body["tools"] == toolbox.specs() for body in (first, second, third))
    assert (first["model"], first["max_tokens"], first["stream"]) == (
        tracy_settings.tracy_model,
        tracy_settings.tracy_max_tokens,
        True,
    )
    assert first["messages"][:2] == HISTORY
    question = first["messages"][2]
    assert question["content"] == [
        {"type": "text", "text": f"<page_context>\n{page}\n</page_context>"},
        {"type": "text", "text": "Why so expensive?", "cache_control": {"type": "ephemeral"}},
    ]
    # The card's tool_result carries the tool's output: the lake's card.
    assistant, results = second["messages"][3:]
    tool_use = assistant["content"][1]
    assert tool_use["type"] == "tool_use" and tool_use["input"] == {"trace_id": trace_id}
    card = render_yaml(read_card(tracy_lake.cards._table, tracy_lake.tenant, trace_id))
    assert results["content"] == [
        {
            "type": "tool_result",
            "tool_use_id": tool_use["id"],
            "content": card,
            "is_error": False,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    chart_result = third["messages"][-1]["content"][0]
    assert chart_result["content"] == "chart 'Cost by step' is shown to the user"
    # The transcript is what the last call sent after the history (without the request's cache breakpoint),
    # and the final answer.
    sent = third["messages"][2:]
    del sent[-1]["content"][-1]["cache_control"]
    assert run.transcript[:-1] == sent
    assert "cache_control" not in repr(run.transcript)
    assert run.transcript[-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "The trace cost $0.0192; cache the system prompt."}],
    }


def test_a_refused_chart_goes_back_to_the_model_as_a_tool_error(tracy_lake, standin, tracy_settings):
    bad = {"tooltip": {"formatter": "function (p) { return p.name }"}}
    standin.script(Turn([ToolUse("make_chart", {"title": "x", "option": bad})]), Turn([Text("Sorry.")]))
    events, _ = _collect(tracy_settings, _toolbox(tracy_lake, tracy_settings), "chart it")
    finished = next(e for e in events if isinstance(e, ToolFinished))
    assert finished.is_error and not any(isinstance(e, Chart) for e in events)
    result = standin.bodies[1]["messages"][-1]["content"][0]
    assert result["is_error"] is True and "JavaScript function" in result["content"]
    assert isinstance(events[-1], Done)


def test_the_last_tool_round_is_followed_by_one_call_without_tools(tracy_lake, standin, tracy_settings):
    settings = tracy_settings.model_copy(update={"tracy_max_tool_rounds": 1})
    chart = ToolUse("make_chart", {"title": "t", "option": CHART})
    # The last turn asks for a tool anyway: it is not run, and the answer ends.
    standin.script(Turn([chart]), Turn([Text("Here is what I found."), chart], stop_reason="tool_use"))
    events, run = _collect(settings, _toolbox(tracy_lake, settings), "q")
    assert [type(e).__name__ for e in events].count("ToolStarted") == 1
    done = events[-1]
    assert isinstance(done, Done) and done.rounds == 1
    first, last = standin.bodies
    assert "tool_choice" not in first and last["tool_choice"] == {"type": "none"}
    assert last["messages"][-1]["content"][-1]["text"] == LAST_ROUND_NOTE
    assert run.transcript[-1] == {"role": "assistant", "content": [{"type": "text", "text": "Here is what I found."}]}


def test_a_tool_use_cut_by_max_tokens_is_not_run_nor_kept(tracy_lake, standin, tracy_settings):
    cut = ToolUse("make_chart", {"title": "t", "option": CHART})
    standin.script(Turn([Text("Charting"), cut], stop_reason="max_tokens"))
    events, run = _collect(tracy_settings, _toolbox(tracy_lake, tracy_settings), "q")
    assert [type(e) for e in events] == [TextDelta, Done]
    assert run.transcript[-1] == {"role": "assistant", "content": [{"type": "text", "text": "Charting"}]}


def test_a_tool_that_breaks_ends_the_answer_with_every_tool_use_answered(
    tracy_lake, standin, tracy_settings, monkeypatch
):
    toolbox = _toolbox(tracy_lake, tracy_settings)

    def broken(name: str, arguments: dict[str, Any]) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(toolbox, "call", broken)
    standin.script(Turn([ToolUse("trace_card", {"trace_id": "a"}), ToolUse("trace_card", {"trace_id": "b"})]))
    events, run = _collect(tracy_settings, toolbox, "q")
    assert [type(e) for e in events] == [ToolStarted, ToolFinished, ErrorEvent]
    assert events[1].is_error and events[2].kind == "tool" and "a bug" not in events[2].message
    uses = [b["id"] for b in run.transcript[1]["content"]]
    results = run.transcript[2]["content"]
    assert [r["tool_use_id"] for r in results] == uses and all(r["is_error"] for r in results)


def test_a_model_without_a_price_has_no_cost_rather_than_zero(tracy_lake, standin, tracy_settings):
    settings = tracy_settings.model_copy(update={"tracy_model": "mystery-model-9000"})
    standin.script(Turn([Text("ok")]))
    events, _ = _collect(settings, _toolbox(tracy_lake, settings), "q")
    assert events[-1] == Done(
        {"input": 100, "output": 20, "cache_read": 0, "cache_write": 0}, None, "mystery-model-9000", 0
    )


def test_an_answer_is_iterated_once(tracy_lake, tracy_settings):
    run = answer(make_client(tracy_settings), tracy_settings, _toolbox(tracy_lake, tracy_settings), [], "q")
    run.__aiter__()
    with pytest.raises(RuntimeError, match="once"):
        run.__aiter__()


def test_the_wall_clock_budget_stops_a_stalled_answer_with_an_error(tracy_lake, standin, tracy_settings):
    settings = tracy_settings.model_copy(update={"tracy_budget_seconds": 0.5})
    standin.script(Turn([Text("thinking very slowly")], delay_s=30))
    events, _ = _collect(settings, _toolbox(tracy_lake, settings), "q")
    assert isinstance(events[-1], ErrorEvent) and events[-1].kind == "budget"
    assert "out of time" in events[-1].message
    assert not any(isinstance(e, Done) for e in events)


def test_a_refused_api_key_is_an_error_event(tracy_lake, standin, tracy_settings):
    settings = tracy_settings.model_copy(update={"anthropic_api_key": SecretStr("sk-ant-wrong")})
    standin.script(Turn([Text("never sent")]))
    events, run = _collect(settings, _toolbox(tracy_lake, settings), "q")
    assert [type(e) for e in events] == [ErrorEvent]
    assert events[0].kind == "auth" and "sk-ant-wrong" not in events[0].message
    assert len(standin.requests) == 1 and standin.turns  # refused before a turn was played
    assert [m["role"] for m in run.transcript] == ["user"]


@pytest.mark.parametrize(("status", "kind"), [(529, "overloaded"), (429, "rate_limit"), (500, "api")])
def test_an_api_error_is_retried_once_then_an_error_event(tracy_lake, standin, tracy_settings, status, kind):
    standin.script(Turn.fail(status, "scripted"), Turn.fail(status, "scripted"), Turn([Text("too late")]))
    events, _ = _collect(tracy_settings, _toolbox(tracy_lake, tracy_settings), "q")
    assert [(type(e), e.kind) for e in events] == [(ErrorEvent, kind)]
    assert len(standin.requests) == 2


def test_an_unreachable_model_is_a_connection_error_event(tracy_lake, tracy_settings):
    from tests.api_server import free_port

    settings = tracy_settings.model_copy(update={"anthropic_base_url": f"http://127.0.0.1:{free_port()}"})
    events, _ = _collect(settings, _toolbox(tracy_lake, settings), "q")
    assert [(type(e), e.kind) for e in events] == [(ErrorEvent, "connection")]
