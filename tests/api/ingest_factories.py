"""Envelopes as the ClawTrace plugin sends them, the plugin's request, and what a tick made of them."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL
from clawtrace_pipelines.lib.bronze import run_bronze


def envelope(agent_id: str, event_id: str | None = None, *, trace_id: str = "trace-1", **event: Any) -> dict[str, Any]:
    """A valid `llm_after_call` envelope of `agent_id` (fields of `event` override)."""
    body = {
        "eventId": event_id or str(uuid.uuid4()),
        "eventType": "llm_after_call",
        "traceId": trace_id,
        "spanId": "llm-1",
        "parentSpanId": "root",
        "tsMs": int(time.time() * 1000),
        "payload": {"hook": "llm_output", "model": "claude-sonnet-4-5", "usage": {"input": 10, "output": 5}},
    }
    body.update(event)
    return {"schemaVersion": 1, "agentId": agent_id, "event": body}


def plugin_headers(env: dict[str, Any], tenant_id: str) -> dict[str, str]:
    """The headers the plugin adds to its one-envelope POST."""
    return {
        "x-clawtrace-event-id": env["event"]["eventId"],
        "x-clawtrace-tenant-id": tenant_id,
        "x-clawtrace-agent-id": env["agentId"],
    }


def ndjson_body(envs: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in envs)


def post_batch(client: httpx.Client, envs: list[dict[str, Any]], *, ndjson: bool = False) -> httpx.Response:
    if ndjson:
        return client.post(
            "/v1/traces/events/batch", content=ndjson_body(envs), headers={"content-type": "application/x-ndjson"}
        )
    return client.post("/v1/traces/events/batch", json=envs)


def tick_event_ids(settings: Settings) -> Counter[str]:
    """Run bronze (the tick's first step) and count the rows of `events_all` by event id."""
    run_bronze(settings)
    table = open_table(EVENTS_ALL, settings).read()
    return Counter(table.column("event_id").to_pylist()) if table.num_rows else Counter()


def raw_files(settings: Settings) -> list[Path]:
    root = Path(settings.lake_root) / "raw" / "v1"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def raw_event_ids(settings: Settings) -> Counter[str]:
    """Event ids in the raw zone, one per line of every raw file (every line must parse)."""
    out: Counter[str] = Counter()
    for path in raw_files(settings):
        for line in path.read_bytes().splitlines():
            out[orjson.loads(line)["event"]["eventId"]] += 1
    return out
