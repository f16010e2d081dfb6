"""Seeded factories for raw records and raw files (write only under tmp_path)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from clawtrace_pipelines.core.lake.storage import LakeStorage, event_hour, raw_dir, write_arrival_record

T0_MS = 1_763_800_000_000  # 2025-11-22T08:26:40Z


def seeded_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def record(
    tenant: str,
    agent: str,
    *,
    event_id: str,
    event_type: str = "llm_after_call",
    trace_id: str = "trace-1",
    span_id: str = "span-1",
    parent_span_id: str | None = "root-1",
    ts_ms: int = T0_MS,
    payload: Any = None,
    **event_extra: Any,
) -> dict[str, Any]:
    """One raw record as the ingest service writes it."""
    if payload is None:
        payload = {"model": "claude-sonnet-4-5", "provider": "anthropic", "usage": {"input": 10, "output": 5}}
    return {
        "schemaVersion": 1,
        "accountId": tenant,
        "apiKeyId": "key-1",
        "agentId": agent,
        "receivedAt": "2025-11-22T08:26:41Z",
        "event": {
            "eventId": event_id,
            "eventType": event_type,
            "traceId": trace_id,
            "spanId": span_id,
            "parentSpanId": parent_span_id,
            "tsMs": ts_ms,
            "payload": payload,
            **event_extra,
        },
    }


def batch_path(tenant: str, agent: str, ts_ms: int = T0_MS, name: str = "batch-1.ndjson") -> str:
    return f"{raw_dir(tenant, agent, event_hour(ts_ms))}/{name}"


def ndjson(records: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


def write_raw(
    storage: LakeStorage, relpath: str, data: bytes, *, arrival: bool = True, arrived: datetime | None = None
) -> None:
    """Write a raw file like a writer we own (with an arrival record) or a foreign one (arrival=False)."""
    storage.write_bytes(relpath, data)
    if arrival:
        write_arrival_record(storage, [storage.info(relpath)], writer="test", arrived=arrived or datetime.now(UTC))
