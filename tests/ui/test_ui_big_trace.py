"""The UI stays usable on a 2,000-span trace (tests/big_trace.py, through bronze, silver and the graph update
in a lake of its own): the tree shows with its deep levels collapsed, a collapsed node opens on click and shows
its children, the timeline draws one bar per API bar, and a deep span opens its step panel, from the tree and
from a shared link. No timing here: bench/ui_page.py measures it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from playwright.sync_api import Page, expect

from clawtrace_api.accounts import Accounts
from clawtrace_api.db.engine import make_engine
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.graph_update import run_graph_update
from clawtrace_pipelines.lib.silver import run_silver
from tests.api_server import Running, serve_app
from tests.big_trace import big_trace, write_big_trace
from tests.ui.browser import sign_in

TENANT = "b16b0000-0000-4000-8000-0000000000aa"
AGENT = "b16b0000-0000-4000-8000-0000000000bb"
TRACE = "big-trace-2000"
SPANS = 2000


@dataclass
class BigWorld:
    api: Running
    key: str

    def client(self) -> httpx.Client:
        return self.api.client(self.key)


@pytest.fixture(scope="module")
def big_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BigWorld]:
    root: Path = tmp_path_factory.mktemp("big-trace")
    settings = Settings(lake=str(root / "lake"), db=f"sqlite:///{root}/api.db", key_cache_seconds=0)
    now_ms = int(time.time() * 1000)
    trace = big_trace(TENANT, AGENT, TRACE, SPANS, start_ms=now_ms - 3 * 3_600_000)
    write_big_trace(LakeStorage(settings), trace, TENANT, AGENT)
    run_bronze(settings, now=datetime.now(UTC))
    run_silver(settings)
    run_graph_update(settings)
    engine = make_engine(settings)
    try:
        accounts = Accounts(engine)
        accounts.create_tenant("big", tenant_id=TENANT)
        key = accounts.create_key(TENANT, "read")["key"]
    finally:
        engine.dispose()
    with serve_app(settings) as api:
        yield BigWorld(api, key)


def _deepest_collapsed(roots: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The path (root first) to a node at depth >= 2 that has children: the tree view builds those on expand."""
    best: tuple[list[dict[str, Any]], dict[str, Any]] | None = None
    stack = [([r], r) for r in roots]
    while stack:
        path, node = stack.pop()
        if len(path) >= 3 and node["children"] and (best is None or len(path) > len(best[0])):
            best = (path, node)
        stack.extend(([*path, c], c) for c in node["children"])
    assert best, "the big trace has no deep node with children"
    return best


def _open(page: Page, world: BigWorld, query: str = "") -> None:
    # A query string of its own makes it a real navigation, not a hash change of the signed-in page.
    page.goto(f"{world.api.url}/?open=1#/traces/{TRACE}" + (f"?{query}" if query else ""))


def test_the_api_holds_every_span(big_world: BigWorld) -> None:
    detail = big_world.client().get(f"/v1/traces/{TRACE}").json()
    assert len(detail["spans"]) == SPANS


def test_tree_expands_a_collapsed_deep_node(big_world: BigWorld, page: Page) -> None:
    tree = big_world.client().get(f"/v1/traces/{TRACE}/tree").json()
    path, node = _deepest_collapsed(tree["roots"])
    sign_in(page, big_world.api.url, big_world.key)
    _open(page, big_world)
    expect(page.locator("ul.tree[role=tree]")).to_be_visible()
    # Lazy: the top levels are drawn, nothing below level 2 is in the DOM before a click.
    expect(page.locator("li[aria-level='1'] > div.node button.step")).to_have_count(len(tree["roots"]))
    expect(page.locator("li[aria-level='4']")).to_have_count(0)
    # Open each collapsed ancestor from level 3 down, then the node itself: its children appear.
    for ancestor in path[2:]:
        item = page.locator(f"li[role=treeitem][data-span-id='{ancestor['span_id']}']")
        expect(item).to_have_attribute("aria-expanded", "false")
        item.locator(":scope > div.node > button.toggle").click()
        expect(item).to_have_attribute("aria-expanded", "true")
    children = page.locator(f"li[data-span-id='{node['span_id']}'] > ul[role=group] > li[role=treeitem]")
    expect(children).to_have_count(len(node["children"]))
    expect(children.first).to_be_visible()
    # A deep step opens its panel.
    leaf = node["children"][0]["span_id"]
    page.locator(f"button.step[data-span-id='{leaf}']").click()
    expect(page.locator(f"#step dl.facts[data-span-id='{leaf}']")).to_be_visible()


def test_timeline_draws_every_bar(big_world: BigWorld, page: Page) -> None:
    bars = big_world.client().get(f"/v1/traces/{TRACE}/timeline").json()["bars"]
    assert len(bars) > SPANS // 2
    sign_in(page, big_world.api.url, big_world.key)
    _open(page, big_world, "view=timeline")
    expect(page.locator("svg.timeline g.bar")).to_have_count(len(bars))


def test_shared_link_to_a_deep_span_opens_its_step(big_world: BigWorld, page: Page) -> None:
    tree = big_world.client().get(f"/v1/traces/{TRACE}/tree").json()
    path, node = _deepest_collapsed(tree["roots"])
    deep = node["children"][-1]["span_id"]
    sign_in(page, big_world.api.url, big_world.key)
    _open(page, big_world, f"span={deep}")
    expect(page.locator(f"#step dl.facts[data-span-id='{deep}']")).to_be_visible()
    # The tree opened the path to it, though it sits below the lazily built levels.
    expect(page.locator(f"button.step.selected[data-span-id='{deep}']")).to_be_visible()
