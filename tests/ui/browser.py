"""Debian's Chromium, driven headless by Playwright (its own browser builds are never downloaded): where it
is, and a page signed in to the UI."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import Page, expect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_path() -> str:
    """The system browser (CLAWTRACE_CHROMIUM wins). A missing browser fails the test: `.ci/run` installs it."""
    given = os.environ.get("CLAWTRACE_CHROMIUM")
    found = given or next((p for p in map(shutil.which, CANDIDATES) if p), None)
    if not found or not Path(found).exists():
        raise RuntimeError("no Chromium found: apt-get install chromium (or set CLAWTRACE_CHROMIUM)")
    return found


def sign_in(page: Page, base_url: str, key: str) -> None:
    page.goto(base_url + "/")
    page.get_by_label("API key with the read scope").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Agents", exact=True)).to_be_visible()
