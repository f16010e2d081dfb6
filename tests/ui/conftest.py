"""Fixtures of the UI tests: the twin-tenant lake (reads_lake.py, carded by gold), the API serving it with
Tracy pointed at the Anthropic stand-in, read keys of tenants A and B, and headless Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.api.tracy.chat_world import ChatWorld, chat_world
from tests.api.tracy.conftest import TracyLake, tracy_lake  # noqa: F401 - the lake fixture, shared
from tests.ui.browser import chromium_path


@pytest.fixture(scope="session")
def ui_world(tracy_lake: TracyLake, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChatWorld]:  # noqa: F811
    with chat_world(tracy_lake, tmp_path_factory.mktemp("ui-api")) as world:
        yield world


# Waits, not timings: an `expect` polls until the page shows what it should. The default 5 s is too short on a
# shared 2-core host under load; a page that never shows it still fails, after 30 s.
WAIT_MS = 30_000
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Per module, not per session: Playwright's sync API runs an event loop in this thread while it is open,
    # and later tests in the same worker that call asyncio.run() would find it running.
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies) per test; any uncaught script error fails the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, errors


@pytest.fixture(scope="session")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests' screenshots go: a temp folder, or CLAWTRACE_UI_SCREENSHOTS (how docs/ui/ was made)."""
    given = os.environ.get("CLAWTRACE_UI_SCREENSHOTS")
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        return Path(given)
    return tmp_path_factory.mktemp("screenshots")
