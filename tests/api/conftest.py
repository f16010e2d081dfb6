"""Fixtures of the API tests: a lake and database under tmp_path, accounts in it, a real server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clawtrace_api.accounts import Accounts
from clawtrace_api.db.engine import make_engine
from clawtrace_pipelines.core.settings import Settings
from tests.api_server import Running, serve_app


@pytest.fixture
def api_settings(tmp_path) -> Settings:
    """A fresh Delta lake and a SQLite database under tmp_path; a key lookup is trusted for no time at all, so
    revocation tests need no waiting."""
    return Settings(lake=str(tmp_path / "lake"), db=f"sqlite:///{tmp_path}/api.db", key_cache_seconds=0)


@pytest.fixture
def accounts(api_settings: Settings) -> Iterator[Accounts]:
    engine = make_engine(api_settings)
    try:
        yield Accounts(engine)
    finally:
        engine.dispose()


@pytest.fixture
def api(api_settings: Settings, accounts: Accounts) -> Iterator[Running]:
    """The API served by uvicorn on 127.0.0.1 over `api_settings`."""
    with serve_app(api_settings) as running:
        yield running
