"""The Ask Tracy panel in headless Chromium, against the Anthropic stand-in: a question from a trace's page
is confined to that trace; the streamed answer shows text, each tool call as a collapsible block with its
query and row count, and the chart drawn by ECharts; without a model key the panel says how to enable Tracy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.anthropic_standin import Text, ToolUse, Turn
from tests.api.tracy.chat_world import ChatWorld, chat_settings, make_keys
from tests.api.tracy.conftest import TracyLake
from tests.api_server import Running, serve_app
from tests.ui.browser import sign_in

SPANS_OF_TRACE = "MATCH (s:Span) RETURN s.span_id AS span ORDER BY span"
CHART = {
    "xAxis": {"type": "category", "data": ["read", "exec"]},
    "yAxis": {},
    "series": [{"type": "bar", "data": [3, 5]}],
}


def test_a_question_from_a_trace_page_streams_text_tools_and_a_chart(
    ui_world: ChatWorld, page: Page, shots: Path
) -> None:
    trace_id = ui_world.lake.traces[0][0]
    ui_world.standin.script(
        Turn([Text("Looking at this run's spans."), ToolUse("run_cypher", {"query": SPANS_OF_TRACE})]),
        Turn([ToolUse("make_chart", {"title": "Calls by tool", "option": CHART})]),
        Turn([Text("Most of the cost is the first model call.")]),
    )
    sign_in(page, ui_world.api.url, ui_world.read_a)
    page.goto(f"{ui_world.api.url}/#/traces/{trace_id}")
    expect(page.locator("ul.tree")).to_be_visible()
    page.get_by_role("button", name="Ask Tracy").click()
    expect(page.locator("#tracy-scope")).to_contain_text(f"trace {trace_id[:12]}")
    page.get_by_label("Your question").fill("Why did this run cost what it did?")
    page.locator("#tracy").get_by_role("button", name="Ask").click()

    answer = page.locator("#tracy .msg.assistant")
    expect(answer.locator(".usage")).to_be_visible()
    expect(answer).to_contain_text("Looking at this run's spans.")
    expect(answer).to_contain_text("Most of the cost is the first model call.")
    spans = ui_world.client(ui_world.read_a).get(f"/v1/traces/{trace_id}").json()["spans"]
    tool = answer.locator("details.tool").first
    expect(tool.locator("summary")).to_contain_text(f"run_cypher {len(spans)} rows")
    expect(tool.locator("pre")).to_be_hidden()  # collapsed until opened
    tool.locator("summary").click()
    expect(tool.locator("pre")).to_contain_text("MATCH (s:Span)")
    chart = answer.locator("figure.chart")
    expect(chart.locator("figcaption")).to_have_text("Calls by tool")
    expect(chart.locator(".chart-canvas svg")).to_be_visible()
    expect(chart.locator(".chart-canvas svg path").first).to_be_attached()
    page.screenshot(path=str(shots / "tracy.png"), full_page=True)

    # The stand-in got the question confined to the page's trace (the model is told its scope).
    first = ui_world.standin.bodies[-3]
    assert trace_id in str(first["system"]) + str(first["messages"])


def test_a_follow_up_continues_the_session_and_a_new_conversation_starts_one(ui_world: ChatWorld, page: Page) -> None:
    agent = ui_world.lake.lake.agent_a
    ui_world.standin.script(Turn([Text("First answer.")]), Turn([Text("Second answer.")]), Turn([Text("Fresh.")]))
    sign_in(page, ui_world.api.url, ui_world.read_a)
    page.goto(f"{ui_world.api.url}/#/agents/{agent}")
    expect(page.locator("table[aria-label=Traces]")).to_be_visible()
    page.get_by_role("button", name="Ask Tracy").click()
    ask = page.locator("#tracy").get_by_role("button", name="Ask")
    for question, reply in (("one?", "First answer."), ("two?", "Second answer.")):
        page.get_by_label("Your question").fill(question)
        ask.click()
        expect(page.locator("#tracy .msg.assistant").last).to_contain_text(reply)
        expect(page.locator("#tracy .msg.assistant").last.locator(".usage")).to_be_visible()
    bodies = ui_world.standin.bodies
    assert len(bodies[-1]["messages"]) == 3, "the follow-up carries the first exchange"
    assert agent in str(bodies[-1]["system"]) + str(bodies[-1]["messages"]), "asked from the agent's page"
    page.get_by_role("button", name="New conversation").click()
    expect(page.locator("#tracy .msg")).to_have_count(0)
    page.get_by_label("Your question").fill("three?")
    ask.click()
    expect(page.locator("#tracy .msg.assistant").last).to_contain_text("Fresh.")
    assert len(ui_world.standin.bodies[-1]["messages"]) == 1


@pytest.fixture
def tracy_off(tracy_lake: TracyLake, tmp_path: Path) -> Iterator[tuple[Running, str]]:
    settings = chat_settings(tracy_lake, tmp_path, None)
    read_a, _, _ = make_keys(settings, tracy_lake)
    with serve_app(settings) as api:
        yield api, read_a


def test_without_a_model_key_the_panel_says_how_to_enable_tracy(tracy_off: tuple[Running, str], page: Page) -> None:
    api, key = tracy_off
    sign_in(page, api.url, key)
    page.get_by_role("button", name="Ask Tracy").click()
    page.get_by_label("Your question").fill("anything?")
    page.locator("#tracy").get_by_role("button", name="Ask").click()
    notice = page.locator("#tracy .tracy-disabled")
    expect(notice).to_contain_text("Tracy is not enabled")
    expect(notice).to_contain_text(re.compile("ANTHROPIC_API_KEY"))
