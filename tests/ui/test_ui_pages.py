"""The Sessions and Costs pages in headless Chromium, and the accessibility basics on every page: each
control has a name a screen reader reads, and text has WCAG AA contrast against what it is drawn on."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.api.reads_lake import UNPRICED_MODEL, WINDOW
from tests.api.tracy.chat_world import ChatWorld
from tests.ui.browser import sign_in

# Every focusable control without an accessible name (text, aria-label, a <label>, a title), as selectors.
UNNAMED = """() => {
  const named = (el) => (el.getAttribute('aria-label') || '').trim() || (el.innerText || el.textContent || '').trim()
    || (el.labels && [...el.labels].some((l) => l.innerText.trim())) || (el.getAttribute('title') || '').trim();
  const controls = document.querySelectorAll(
    'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])');
  return [...controls].filter((el) => el.offsetParent !== null || el.closest('svg')).filter((el) => !named(el))
    .map((el) => el.outerHTML.slice(0, 120));
}"""

# Text (HTML, not SVG) whose contrast with its nearest opaque background is under 4.5:1.
LOW_CONTRAST = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const linear = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  const lum = ([r, g, b]) => 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] > 0.9) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || el.closest('svg') || el.offsetParent === null) continue;
    const style = getComputedStyle(el);
    const [a, b] = [lum(rgb(style.color).slice(0, 3)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const what = `${el.tagName}.${el.className}: ${n.textContent.trim().slice(0, 40)}`;
    if (ratio < 4.5) bad.push(`${ratio.toFixed(2)} ${what}`);
  }
  return bad;
}"""


def test_costs_by_model_show_unpriced_calls_apart(ui_world: ChatWorld, page: Page) -> None:
    api = ui_world.client(ui_world.read_a)
    costs = api.get("/v1/costs", params={**WINDOW, "group_by": "model"}).json()
    unpriced = next(g for g in costs["groups"] if g["key"] == UNPRICED_MODEL)
    sign_in(page, ui_world.api.url, ui_world.read_a)
    page.get_by_role("link", name="Costs").click()
    row = page.locator("table[aria-label='Costs by model'] tbody tr", has_text=UNPRICED_MODEL)
    expect(row).to_have_class("has-unpriced")
    expect(row.locator("td").nth(4)).to_have_text(str(unpriced["unpriced_calls"]))
    expect(page.locator(".unpriced-note")).to_contain_text(f"{costs['totals']['unpriced_calls']} calls unpriced")
    page.get_by_label("Group by").select_option("tool")
    expect(page.locator("table[aria-label='Costs by tool']")).to_be_visible()


def test_sessions_list_and_one_session(ui_world: ChatWorld, page: Page) -> None:
    api = ui_world.client(ui_world.read_a)
    first = api.get("/v1/sessions", params={"limit": 50}).json()["sessions"][0]
    detail = api.get(f"/v1/sessions/{first['session_key']}").json()
    sign_in(page, ui_world.api.url, ui_world.read_a)
    page.get_by_role("link", name="Sessions").click()
    page.get_by_role("link", name=first["session_key"], exact=True).click()
    expect(page.get_by_role("heading", name=f"Session {first['session_key']}")).to_be_visible()
    expect(page.locator("table[aria-label='Traces of the session'] tbody tr")).to_have_count(len(detail["traces"]))


@pytest.mark.parametrize(
    "where",
    ["#/agents", "agent", "trace?view=tree", "trace?view=graph", "trace?view=timeline", "#/costs", "#/sessions"],
)
def test_every_control_is_named_and_text_has_aa_contrast(ui_world: ChatWorld, page: Page, where: str) -> None:
    sign_in(page, ui_world.api.url, ui_world.read_a)
    trace, span = ui_world.lake.traces[0][0], None
    if where == "agent":
        where = f"#/agents/{ui_world.lake.lake.agent_a}"
    elif where.startswith("trace"):
        spans = ui_world.client(ui_world.read_a).get(f"/v1/traces/{trace}").json()["spans"]
        span = next(s["span_id"] for s in spans if s["actor_type"] == "llm_call")
        where = f"#/traces/{trace}{where[len('trace') :]}&span={span}"
    page.goto(f"{ui_world.api.url}/{where}")
    expect(page.locator("main p.muted[role=status]")).to_have_count(0)
    if span:
        expect(page.locator("#step dl.facts")).to_be_visible()
        expect(page.locator(".trace-card h3").first).to_be_visible()
    page.get_by_role("button", name="Ask Tracy").click()
    assert page.evaluate(UNNAMED) == []
    assert page.evaluate(LOW_CONTRAST) == []


def test_the_trace_page_works_from_the_keyboard(ui_world: ChatWorld, page: Page) -> None:
    trace = ui_world.lake.traces[0][0]
    timeline = ui_world.client(ui_world.read_a).get(f"/v1/traces/{trace}/timeline").json()
    sign_in(page, ui_world.api.url, ui_world.read_a)
    page.goto(f"{ui_world.api.url}/#/traces/{trace}")
    step = page.locator("ul.tree button.step").nth(1)
    step.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#step dl.facts")).to_have_attribute("data-span-id", step.get_attribute("data-span-id") or "")
    page.get_by_role("tab", name="Execution path").focus()
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Call graph")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_role("tab", name="Call graph")).to_be_focused()
    page.keyboard.press("ArrowRight")
    expect(page.locator("#view-panel")).to_have_attribute("data-view", "timeline")
    last = timeline["bars"][-1]["span_id"]
    page.locator(f'svg.timeline g.bar[data-span-id="{last}"]').focus()
    page.keyboard.press("Enter")
    expect(page.locator("#step dl.facts")).to_have_attribute("data-span-id", last)


def test_a_filter_change_keeps_the_keyboard_on_the_filter(ui_world: ChatWorld, page: Page) -> None:
    sign_in(page, ui_world.api.url, ui_world.read_a)
    page.goto(f"{ui_world.api.url}/#/agents/{ui_world.lake.lake.agent_a}")
    errors = page.get_by_label("Errors")
    errors.focus()
    errors.select_option("true")
    expect(page).to_have_url(re.compile(r"has_error=true"))
    expect(page.locator("table[aria-label=Traces] tbody tr.has-error").first).to_be_visible()
    expect(page.get_by_label("Errors")).to_be_focused()
    expect(page.get_by_label("Errors")).to_have_value("true")
