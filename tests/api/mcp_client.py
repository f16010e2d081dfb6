"""The SDK's own MCP client against a served API: `call(api, key, step)` opens a Streamable HTTP connection to
the MCP endpoint with the key, runs `step(client)` and returns what it returns; metered calls read back."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx2 as httpx
import orjson
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client

from clawtrace_api.tracy.mcp_server import MCP_PATH
from clawtrace_pipelines.core.metering import METERING_PREFIX
from tests.api_server import Running

T = TypeVar("T")


def call(
    api: Running,
    key: str | None,
    step: Callable[[Client], Awaitable[T]],
    *,
    headers: dict[str, str] | None = None,
    mode: str = "auto",
) -> T:
    """`step` run on a fresh client (no response cache: each test sees what the server answers now)."""

    async def run() -> T:
        sent = {**({"authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
        async with (
            httpx.AsyncClient(headers=sent, timeout=60.0) as http,
            Client(streamable_http_client(api.url + MCP_PATH, http_client=http), mode=mode, cache=None) as client,  # type: ignore[arg-type]
        ):
            return await step(client)

    return asyncio.run(run())


def text_of(result: Any) -> str:
    """The text blocks of a CallToolResult, joined."""
    return "".join(block.text for block in result.content if block.type == "text")


def metered(api: Running, tenant_id: str) -> Counter[str]:
    """Categories metered for `tenant_id` so far (the meter's buffer written first)."""
    services = api.app.state.services
    services.meter.flush()
    root = Path(services.settings.lake_root) / METERING_PREFIX / f"tenant={tenant_id}"
    counts: Counter[str] = Counter()
    for path in root.rglob("*.ndjson"):
        for line in path.read_bytes().splitlines():
            record = orjson.loads(line)
            counts[record["category"]] += int(record["quantity"])
    return counts
