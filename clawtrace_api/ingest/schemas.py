"""Response models of the ingest routes, with the examples the OpenAPI document shows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EXAMPLE_EVENT_ID = "0b9f6d2e-3c1a-4e8b-9a51-2f0c7d4e6a13"
EXAMPLE_AGENT_ID = "5d8c2a71-0f3e-4b6a-8c9d-1e2f3a4b5c6d"

ENVELOPE_EXAMPLE: dict[str, Any] = {
    "schemaVersion": 1,
    "agentId": EXAMPLE_AGENT_ID,
    "event": {
        "eventId": EXAMPLE_EVENT_ID,
        "eventType": "llm_after_call",
        "traceId": "run-7f3a",
        "spanId": "llm-1",
        "parentSpanId": "root",
        "tsMs": 1767225600000,
        "payload": {
            "hook": "llm_output",
            "provider": "anthropic",
            "model": "claude-sonnet-4-5",
            "usage": {"input": 1200, "output": 310, "cacheRead": 8000, "cacheWrite": 0, "total": 9510},
        },
    },
}


class RejectedEvent(BaseModel):
    """One event that was not accepted, and why (the reason codes of bronze's quarantine)."""

    index: int = Field(description="Position of the envelope in the request (0 for the single-event route)")
    event_id: str | None = Field(description="`event.eventId` when the envelope had a readable one")
    reason_code: str = Field(
        description="schema, unsupported_version, invalid_json, invalid_utf8, not_object, too_large, event_id_mismatch"
    )
    reason: str


class IngestResult(BaseModel):
    """What a write accepted (durable in the raw zone, visible after the next tick) and what it refused."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": [EXAMPLE_EVENT_ID],
                    "rejected": [
                        {
                            "index": 1,
                            "event_id": "evt-2",
                            "reason_code": "schema",
                            "reason": "event.eventType: Input should be 'session_start', 'session_end', ...",
                        }
                    ],
                }
            ]
        }
    )

    accepted: list[str] = Field(description="Event ids written durably, in request order")
    rejected: list[RejectedEvent] = Field(description="Events not written; retrying them unchanged cannot help")


SINGLE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One envelope, exactly as the ClawTrace plugin sends it (EVENTS.md).",
        "content": {"application/json": {"schema": {"type": "object"}, "example": ENVELOPE_EXAMPLE}},
    },
    "parameters": [
        {"name": h, "in": "header", "required": False, "schema": {"type": "string"}, "description": d}
        for h, d in (
            ("x-clawtrace-event-id", "Must equal event.eventId when sent"),
            ("x-clawtrace-tenant-id", "Must be the key's tenant when sent (403 otherwise)"),
            ("x-clawtrace-agent-id", "Must be an agent this key may write for when sent (403 otherwise)"),
        )
    ],
}

BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "Envelopes as a JSON array (application/json) or one per line (application/x-ndjson).",
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"type": "object"}},
                "example": [ENVELOPE_EXAMPLE],
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    },
    "parameters": SINGLE_BODY["parameters"][1:],
}
