"""The raw event contract (see `shared/EVENTS.md`) as typed models.

- `Envelope`: what a collector POSTs to `/v1/traces/events`.
- `RawRecord`: what lands in the raw zone: the envelope plus the server's facts.
- `EventType` and one payload model per type. Payload fields are all optional and extra fields are kept;
  only the fields the pipeline computes with are typed, so a wrong type there is caught at the door.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_validator

from clawtrace_pipelines.core.errors import InvalidIdError

SCHEMA_VERSION = 1

# Ids end up in object keys and file names (`event-<eventId>.json`): no control characters (NUL included), no
# path separators, no leading dot (no '.', '..' or hidden file), bounded length. Checked in pydantic-core's
# regex engine (no Python call per record), which matters at 50k events/s.
SAFE_ID_PATTERN = r"^[^\x00-\x1f\x7f/\\.][^\x00-\x1f\x7f/\\]{0,255}$"
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_SAFE_ID = re.compile(SAFE_ID_PATTERN)
_UUID = re.compile(UUID_PATTERN)


class EventType(StrEnum):
    SESSION_START = "session_start"
    SESSION_END = "session_end"
    LLM_BEFORE_CALL = "llm_before_call"
    LLM_AFTER_CALL = "llm_after_call"
    TOOL_BEFORE_CALL = "tool_before_call"
    TOOL_AFTER_CALL = "tool_after_call"
    SUBAGENT_SPAWN = "subagent_spawn"
    SUBAGENT_JOIN = "subagent_join"
    ERROR = "error"
    SPAN_START = "span_start"
    SPAN_END = "span_end"


def check_safe_id(value: str, what: str = "id") -> str:
    """Return `value` if it is usable as a storage path segment.

    Raises:
        InvalidIdError: empty, too long, a control or separator character, or a leading dot.
    """
    if not isinstance(value, str) or not _SAFE_ID.match(value):
        raise InvalidIdError(f"{what} must be 1-256 characters without control characters, slashes or a leading dot")
    return value


def check_uuid(value: str, what: str = "id") -> str:
    """Return the canonical lower-case form of a UUID string.

    Raises:
        InvalidIdError: not a UUID in its canonical 36-character form.
    """
    if not isinstance(value, str) or not _UUID.match(value):
        raise InvalidIdError(f"{what} is not a UUID")
    return value.lower()


SafeId = Annotated[str, StringConstraints(pattern=SAFE_ID_PATTERN)]
# Canonical (36-character, hyphenated) UUIDs; compare with `.lower()` since case is not significant.
UuidStr = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
NonNegInt = Annotated[StrictInt, Field(ge=0)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Usage(_Lenient):
    """Token usage as the provider reported it; `input` is fresh (uncached) input."""

    input: NonNegInt | None = None
    output: NonNegInt | None = None
    cacheRead: NonNegInt | None = None
    cacheWrite: NonNegInt | None = None
    total: NonNegInt | None = None


class BasePayload(_Lenient):
    hook: str | None = None
    pluginId: str | None = None
    collectedAtIso: str | None = None
    sessionKey: str | None = None


class SessionStartPayload(BasePayload):
    agentId: str | None = None
    agentName: str | None = None
    isSubAgent: bool | None = None
    sessionId: str | None = None
    runId: str | None = None


class SessionEndPayload(BasePayload):
    sessionId: str | None = None
    messageCount: NonNegInt | None = None
    durationMs: NonNegInt | None = None


class LlmBeforeCallPayload(BasePayload):
    runId: str | None = None
    sessionId: str | None = None
    provider: str | None = None
    model: str | None = None
    systemPrompt: Any = None
    prompt: Any = None
    historyMessagesCount: NonNegInt | None = None
    imagesCount: NonNegInt | None = None


class LlmAfterCallPayload(BasePayload):
    provider: str | None = None
    model: str | None = None
    assistantTexts: list[Any] | None = None
    lastAssistant: Any = None
    usage: Usage | None = None


class ToolBeforeCallPayload(BasePayload):
    runId: str | None = None
    toolCallId: str | None = None
    toolName: str | None = None
    params: Any = None


class ToolAfterCallPayload(BasePayload):
    toolCallId: str | None = None
    toolName: str | None = None
    params: Any = None
    result: Any = None
    error: Any = None
    durationMs: NonNegInt | None = None


class SubagentSpawnPayload(BasePayload):
    runId: str | None = None
    requesterSessionKey: str | None = None
    childSessionKey: str | None = None
    subagentId: str | None = None
    label: str | None = None
    mode: str | None = None
    threadRequested: Any = None


class SubagentJoinPayload(BasePayload):
    targetSessionKey: str | None = None
    targetKind: str | None = None
    reason: str | None = None
    endedAt: Any = None
    outcome: str | None = None
    error: Any = None


class ErrorPayload(BasePayload):
    source: str | None = None
    toolName: str | None = None
    targetSessionKey: str | None = None
    toolCallId: str | None = None
    message: Any = None


class SpanPayload(BasePayload):
    name: str | None = None
    spanName: str | None = None


PAYLOAD_MODELS: dict[EventType, type[BasePayload]] = {
    EventType.SESSION_START: SessionStartPayload,
    EventType.SESSION_END: SessionEndPayload,
    EventType.LLM_BEFORE_CALL: LlmBeforeCallPayload,
    EventType.LLM_AFTER_CALL: LlmAfterCallPayload,
    EventType.TOOL_BEFORE_CALL: ToolBeforeCallPayload,
    EventType.TOOL_AFTER_CALL: ToolAfterCallPayload,
    EventType.SUBAGENT_SPAWN: SubagentSpawnPayload,
    EventType.SUBAGENT_JOIN: SubagentJoinPayload,
    EventType.ERROR: ErrorPayload,
    EventType.SPAN_START: SpanPayload,
    EventType.SPAN_END: SpanPayload,
}


def _typed_fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(name for name, info in model.model_fields.items() if info.annotation is not Any)


# Payload fields with a type to check; the others are `Any` and accept whatever they hold.
PAYLOAD_TYPED_FIELDS: dict[EventType, tuple[str, ...]] = {t: _typed_fields(m) for t, m in PAYLOAD_MODELS.items()}


def check_payload(event_type: EventType, payload: dict[str, Any]) -> None:
    """Validate the typed fields of a payload against its event type's model (raises ValidationError).

    Only the typed fields are handed to pydantic: `Any` fields and extra fields would be accepted as they
    are anyway, and copying large prompts and tool results through the validator is most of its cost.
    """
    fields = PAYLOAD_TYPED_FIELDS[event_type]
    PAYLOAD_MODELS[event_type].model_validate({k: payload[k] for k in fields if k in payload})


class Event(BaseModel):
    """One hook event. Extra top-level fields are kept (`model_extra`), never dropped."""

    model_config = ConfigDict(extra="allow")

    eventId: SafeId
    eventType: EventType
    traceId: SafeId
    spanId: SafeId
    parentSpanId: SafeId | None = None
    tsMs: NonNegInt
    payload: dict[str, Any]

    @field_validator("parentSpanId", mode="before")
    @classmethod
    def _empty_parent_is_root(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("payload", mode="before")
    @classmethod
    def _payload_may_be_a_string(cls, value: Any) -> Any:
        # Some collectors send the payload JSON-encoded; it must still decode to an object.
        if isinstance(value, str | bytes):
            try:
                value = orjson.loads(value)
            except orjson.JSONDecodeError as exc:
                raise ValueError("payload is a string that is not valid JSON") from exc
            if not isinstance(value, dict):
                raise ValueError("payload is a string that does not hold a JSON object")
        return value

    def typed_payload(self) -> BasePayload:
        """The payload checked against its event type's model (raises pydantic.ValidationError)."""
        return PAYLOAD_MODELS[self.eventType].model_validate(self.payload)


class Envelope(BaseModel):
    """What a collector sends: one event of one agent."""

    model_config = ConfigDict(extra="allow")

    schemaVersion: StrictInt
    agentId: UuidStr
    event: Event

    @field_validator("schemaVersion")
    @classmethod
    def _supported_version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"schemaVersion {value} is not supported (this service reads {SCHEMA_VERSION})")
        return value


class RawRecord(Envelope):
    """What the raw zone holds: the envelope plus `accountId` (the tenant), `apiKeyId` and `receivedAt`."""

    accountId: UuidStr
    apiKeyId: str | None = None
    receivedAt: datetime | None = None


SHADOW_SESSION_KEY = "unknown"


def is_shadow_duplicate(event_type: str, payload: dict[str, Any]) -> bool:
    """OpenClaw's second `after_tool_call` from the global hook path (see EVENTS.md, quirks)."""
    return (
        event_type == EventType.TOOL_AFTER_CALL
        and payload.get("sessionKey") == SHADOW_SESSION_KEY
        and payload.get("toolCallId") is None
    )
