"""The world of Tracy's route tests: the API under uvicorn over the twin-tenant lake, pointed at the Anthropic
stand-in, with read keys for tenants A and B and an ingest key bound to A's agent; and an SSE reader."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
from pydantic import SecretStr

from clawtrace_api.accounts import Accounts
from clawtrace_api.db.engine import make_engine
from clawtrace_pipelines.core.settings import Settings
from tests.anthropic_standin import API_KEY, StandIn, serve_standin
from tests.api.reads_lake import TENANT_B
from tests.api.tracy.conftest import TracyLake
from tests.api_server import Running, serve_app


@dataclass
class ChatWorld:
    lake: TracyLake
    api: Running
    standin: StandIn
    settings: Settings
    read_a: str
    read_b: str
    agent_key_a: str

    def client(self, key: str) -> httpx.Client:
        return self.api.client(key)


def chat_settings(lake: TracyLake, folder: Path, standin_url: str | None, **update: Any) -> Settings:
    """The lake's settings with a database of the test's own, pointed at the stand-in (None: Tracy off)."""
    return lake.settings(
        db=f"sqlite:///{folder}/api.db",
        anthropic_api_key=SecretStr(API_KEY) if standin_url else None,
        anthropic_base_url=standin_url,
        **update,
    )


def make_keys(settings: Settings, lake: TracyLake) -> tuple[str, str, str]:
    engine = make_engine(settings)
    try:
        accounts = Accounts(engine)
        accounts.create_tenant("a", tenant_id=lake.tenant)
        accounts.create_tenant("b", tenant_id=TENANT_B)
        agent = accounts.create_agent(lake.tenant, "bot", agent_id=lake.lake.agent_a)
        return (
            accounts.create_key(lake.tenant, "read")["key"],
            accounts.create_key(TENANT_B, "read")["key"],
            agent["api_key"],
        )
    finally:
        engine.dispose()


@contextmanager
def chat_world(lake: TracyLake, folder: Path, **update: Any) -> Iterator[ChatWorld]:
    with serve_standin() as standin:
        settings = chat_settings(lake, folder, standin.url, **update)
        read_a, read_b, agent_key = make_keys(settings, lake)
        with serve_app(settings) as api:
            yield ChatWorld(lake, api, standin, settings, read_a, read_b, agent_key)


def sse(response: httpx.Response) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of a text/event-stream body, in order."""
    assert response.headers["content-type"].startswith("text/event-stream"), response.text
    events: list[tuple[str, dict[str, Any]]] = []
    for chunk in response.text.split("\n\n"):
        name, data = "message", []
        for line in chunk.splitlines():
            if line.startswith("event:"):
                name = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].strip())
        if data:
            events.append((name, json.loads("\n".join(data))))
    return events


def ask(client: httpx.Client, **body: Any) -> list[tuple[str, dict[str, Any]]]:
    response = client.post("/v1/tracy/chat", json=body)
    assert response.status_code == 200, response.text
    return sse(response)
