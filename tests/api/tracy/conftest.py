"""Fixtures of Tracy's tests: a real small lake (simulated traffic through bronze, silver, gold and the
embedded graph), its traces that have a TraceCard, and the Anthropic stand-in on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import SecretStr

from clawtrace_api.tracy.scope import Scope
from clawtrace_api.tracy.tools import Toolbox
from clawtrace_api.views.cards import CardReader
from clawtrace_pipelines.core.graph.client import GraphClient, connect
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import TRACE_CARDS
from tests.anthropic_standin import API_KEY, StandIn, serve_standin
from tests.api.reads_lake import ReadsLake, build


@dataclass
class TracyLake:
    lake: ReadsLake
    graph: GraphClient
    cards: CardReader
    # Tenant A's carded traces: (trace_id, agent_id), ordered by trace id.
    traces: list[tuple[str, str]]

    @property
    def tenant(self) -> str:
        return self.lake.tenant_a

    def settings(self, **update: Any) -> Settings:
        return self.lake.settings.model_copy(update=update)

    def toolbox(self, scope: Scope | None = None, **update: Any) -> Toolbox:
        return Toolbox(self.graph, self.settings(**update), scope or Scope(self.tenant), self.cards)

    def trace_of_other_agent(self, agent_id: str) -> str:
        return next(trace for trace, agent in self.traces if agent != agent_id)


@pytest.fixture(scope="session")
def tracy_lake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TracyLake]:
    lake = build(tmp_path_factory.mktemp("tracy"))
    rows = open_table(TRACE_CARDS, lake.settings).read(filters=[("tenant_id", "=", lake.tenant_a)]).to_pylist()
    traces = sorted((row["trace_id"], row["agent_id"]) for row in rows)
    assert len({agent for _, agent in traces}) > 1, "the tests need carded traces of two agents"
    graph = connect(lake.settings)
    try:
        yield TracyLake(lake, graph, CardReader(lake.settings), traces)
    finally:
        graph.close()


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with serve_standin() as running:
        yield running


@pytest.fixture
def tracy_settings(tracy_lake: TracyLake, standin: StandIn) -> Settings:
    """The lake's settings pointed at the stand-in."""
    return tracy_lake.settings(anthropic_api_key=SecretStr(API_KEY), anthropic_base_url=standin.url)
