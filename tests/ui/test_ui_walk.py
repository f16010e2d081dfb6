"""The trace viewer in headless Chromium against the API on 127.0.0.1 (the twin-tenant lake): sign in, open
an agent, filter its traces, open a trace, switch the three views, open a step (its cost, tokens and payload
as the API gives them, the whole payload on demand), follow a TraceCard entry to its step, sign out; a
foreign tenant's trace is not found. Each view is photographed into the test's temp folder."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Page, expect

from tests.api.reads_lake import B_ONLY_TRACE, WINDOW
from tests.api.tracy.chat_world import ChatWorld
from tests.ui.browser import sign_in


def _usd(value: float | None) -> str:
    """The UI's money format (format.js `usd`), for comparing against the API's numbers."""
    if value is None:
        return "unpriced"
    if value == 0:
        return "$0"
    return f"${value:.4f}" if value < 1 else f"${value:.2f}"


def _usd_exact(value: float) -> str:
    """format.js `usdExact`: the step panel's exact figure (8 decimals, trailing zeros dropped, at least 2)."""
    text = f"{value:.8f}".rstrip("0")
    text = text + "00" if text.endswith(".") else text
    return f"${text}0" if re.search(r"\.\d$", text) else f"${text}"


def _api(world: ChatWorld) -> httpx.Client:
    return world.client(world.read_a)


def _pick_trace(world: ChatWorld) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A trace of agent A with a TraceCard naming a top-cost step whose input payload the API cuts."""
    api = _api(world)
    listing = api.get("/v1/traces", params={**WINDOW, "agent_id": world.lake.lake.agent_a, "limit": 500}).json()
    for trace in listing["traces"]:
        card = api.get(f"/v1/traces/{trace['trace_id']}/card")
        if card.status_code != 200 or not card.json()["top_cost_steps"]:
            continue
        step = card.json()["top_cost_steps"][0]
        span = api.get(f"/v1/spans/{step['span_id']}", params={"trace_id": trace["trace_id"]}).json()
        if span["input_payload"]["truncated"]:
            return trace, card.json(), span
    raise AssertionError("the lake has no carded trace with a cut payload")


def test_sign_in_filter_open_switch_views_open_step_follow_card_sign_out(
    ui_world: ChatWorld, page: Page, shots: Path
) -> None:
    api = _api(ui_world)
    base = ui_world.api.url
    agent = ui_world.lake.lake.agent_a
    trace, card, step = _pick_trace(ui_world)
    trace_id = trace["trace_id"]

    sign_in(page, base, ui_world.read_a)
    agents = api.get("/v1/agents").json()["agents"]
    expect(page.locator("table[aria-label=Agents] tbody tr")).to_have_count(len(agents))
    page.screenshot(path=str(shots / "agents.png"), full_page=True)

    # An agent's traces, then a filter: the URL carries it and the rows are the API's.
    page.locator(f'tr[data-agent="{agent}"] a').click()
    expect(page).to_have_url(re.compile(rf"#/agents/{agent}$"))
    window = {"from_ms": 0, "to_ms": 2**52, "agent_id": agent, "limit": 50}
    expect(page.locator("table[aria-label=Traces] tbody tr")).to_have_count(
        len(api.get("/v1/traces", params=window).json()["traces"])
    )
    page.get_by_label("Errors").select_option("true")
    expect(page).to_have_url(re.compile(r"has_error=true"))
    failing = api.get("/v1/traces", params={**window, "has_error": "true"}).json()["traces"]
    assert failing, "the lake needs traces with errors"
    expect(page.locator("table[aria-label=Traces] tbody tr")).to_have_count(len(failing))
    expect(page.locator("table[aria-label=Traces] tbody tr.has-error")).to_have_count(len(failing))
    page.screenshot(path=str(shots / "traces.png"), full_page=True)
    page.get_by_label("Errors").select_option("")
    expect(page).not_to_have_url(re.compile(r"has_error"))

    # A trace: the execution path first, one row per span of the API's tree.
    page.locator(f'tr[data-trace="{trace_id}"] a').first.click()
    expect(page.get_by_role("tab", name="Execution path")).to_have_attribute("aria-selected", "true")
    spans = api.get(f"/v1/traces/{trace_id}").json()["spans"]
    expect(page.locator("ul.tree button.step")).to_have_count(len(spans))
    expect(page.locator(".trace-cost")).to_have_text(_usd(trace["cost_usd"]))
    page.screenshot(path=str(shots / "tree.png"), full_page=True)

    graph = api.get(f"/v1/traces/{trace_id}/graph").json()
    page.get_by_role("tab", name="Call graph").click()
    expect(page).to_have_url(re.compile(r"view=graph"))
    expect(page.locator("svg.callgraph g.gnode")).to_have_count(len(graph["nodes"]))
    page.screenshot(path=str(shots / "graph.png"), full_page=True)

    timeline = api.get(f"/v1/traces/{trace_id}/timeline").json()
    page.get_by_role("tab", name="Timeline").click()
    expect(page.locator("svg.timeline g.bar")).to_have_count(len(timeline["bars"]))
    expect(page.locator("svg.timeline g.bar.critical")).to_have_count(len(timeline["critical_path"]))
    page.screenshot(path=str(shots / "timeline.png"), full_page=True)

    # A step from the timeline: its cost and tokens are the API's; its payload is cut until asked for whole.
    page.locator(f'svg.timeline g.bar[data-span-id="{step["span_id"]}"]').click()
    panel = page.locator("#step")
    expect(panel.locator("dl.facts")).to_have_attribute("data-span-id", step["span_id"])
    expect(panel.locator(".step-cost")).to_have_text(_usd_exact(step["cost_usd"]))
    expect(panel.locator(".step-tokens")).to_contain_text(f"input {step['input_tokens']:,}")
    whole = api.get(f"/v1/spans/{step['span_id']}", params={"trace_id": trace_id, "max_bytes": 10**6}).json()
    full_keys = list(json.loads(whole["input_payload"]["text"]))
    cut_text = step["input_payload"]["text"]
    late_key = next(k for k in reversed(full_keys) if f'"{k}"' not in cut_text)
    payload = panel.locator("section.payload[aria-label=Input]")
    expect(payload.locator("pre.raw")).to_contain_text(cut_text[:40])
    payload.get_by_role("button", name=re.compile(r"Load all")).click()
    expect(payload.locator(".j-key", has_text=f'"{late_key}"').first).to_be_visible()
    expect(payload.get_by_role("button", name=re.compile(r"Load all"))).to_have_count(0)
    page.screenshot(path=str(shots / "step.png"), full_page=True)

    # A TraceCard entry leads to its step, in the view on screen, marked in that view.
    page.get_by_role("tab", name="Execution path").click()
    target = card["failed_steps"]["listed"][0] if card["failed_steps"]["listed"] else card["top_cost_steps"][-1]
    page.locator(f'.trace-card a.card-link[data-span-id="{target["span_id"]}"]').first.click()
    expect(page).to_have_url(re.compile(rf"span={target['span_id']}"))
    expect(panel.locator("dl.facts")).to_have_attribute("data-span-id", target["span_id"])
    expect(page.locator(f'ul.tree button.step[data-span-id="{target["span_id"]}"]')).to_have_attribute(
        "aria-current", "true"
    )
    page.screenshot(path=str(shots / "card.png"), full_page=True)

    # Sign out: the form is back, and a reload (the cookie is gone) keeps it.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert not [c for c in page.context.cookies() if c["name"] == "ct_session"]
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_a_foreign_tenants_trace_is_not_found(ui_world: ChatWorld, page: Page) -> None:
    base = ui_world.api.url
    sign_in(page, base, ui_world.read_a)
    page.goto(f"{base}/#/traces/{B_ONLY_TRACE}")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator("ul.tree")).to_have_count(0)


def test_the_other_tenant_sees_its_own_trace_under_the_same_url(ui_world: ChatWorld, browser: Any) -> None:
    context = browser.new_context()
    page = context.new_page()
    try:
        sign_in(page, ui_world.api.url, ui_world.read_b)
        page.goto(f"{ui_world.api.url}/#/traces/{B_ONLY_TRACE}")
        expect(page.get_by_role("tab", name="Execution path")).to_be_visible()
        expect(page.locator("ul.tree button.step").first).to_be_visible()
    finally:
        context.close()


def test_a_wrong_key_is_refused_on_the_form(ui_world: ChatWorld, page: Page) -> None:
    page.goto(ui_world.api.url + "/")
    page.get_by_label("API key with the read scope").fill("ct_live_" + "x" * 43)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("unknown or revoked")
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()


@pytest.mark.parametrize("view", ["tree", "graph", "timeline"])
def test_a_shared_link_opens_the_view_and_step_it_names(ui_world: ChatWorld, page: Page, view: str) -> None:
    trace, _, step = _pick_trace(ui_world)
    sign_in(page, ui_world.api.url, ui_world.read_a)
    page.goto(f"{ui_world.api.url}/#/traces/{trace['trace_id']}?view={view}&span={step['span_id']}")
    expect(page.locator("#view-panel")).to_have_attribute("data-view", view)
    expect(page.locator("#step dl.facts")).to_have_attribute("data-span-id", step["span_id"])
