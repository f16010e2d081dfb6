"""Request bodies into raw records: parse, check ownership against the key, validate like bronze does.

Ownership and validity are different failures. An envelope that names another tenant or agent than the key may
write for is an authorization failure of the whole request (`Forbidden`, 403, nothing written): a collector
that does it is misconfigured or forging, and writing its other events would hide that. An envelope that breaks
the event contract is one rejected event (`reason_code` as bronze's quarantine would give it), the others land.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from pydantic import ValidationError

from clawtrace_pipelines.core.events import Envelope, check_payload
from clawtrace_pipelines.core.lake.storage import event_hour, hour_folder

# Beyond year 9999 a timestamp has no calendar date; bronze quarantines such records, so the door refuses them.
MAX_TS_MS = 253_402_300_799_999
# Fields of a raw record the server sets; a client's own values are never kept.
SERVER_FIELDS = ("accountId", "apiKeyId", "receivedAt")

_UUID_LEN = 36


class Forbidden(Exception):
    """The request names a tenant or agent its key may not write for."""


class BadBody(Exception):
    """The body as a whole cannot be read (not JSON, not an array): nothing in it can be accepted."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """One event ready to write: its raw folder (by event hour) and its NDJSON line (no newline)."""

    event_id: str
    folder: str
    line: bytes


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    event_id: str | None
    reason_code: str
    reason: str


@dataclass
class Checked:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


@dataclass(frozen=True)
class Author:
    """Who writes: the key's tenant and key id, and the agents it may write for.

    `agent_id` is the one agent allowed (a key bound to an agent, or the agent the `x-clawtrace-agent-id`
    header pins); None lets `agent_exists` decide per envelope (a tenant-wide ingest key)."""

    tenant_id: str
    key_id: str
    agent_id: str | None
    agent_exists: Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class BadLine:
    """An NDJSON line that is not JSON: rejected on its own, the other lines go on."""

    reason_code: str
    reason: str


def ndjson_lines(body: bytes) -> list[bytes]:
    """Non-blank lines of an NDJSON body."""
    return [line for line in body.split(b"\n") if line.strip()]


def parse_lines(lines: list[bytes]) -> list[Any]:
    """Parse NDJSON lines; a line that does not parse becomes a `BadLine`."""
    out: list[Any] = []
    for line in lines:
        try:
            out.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            code = "invalid_utf8" if "utf-8" in str(exc).lower() else "invalid_json"
            out.append(BadLine(code, f"not valid JSON: {exc}"))
    return out


def parse_array(body: bytes) -> list[Any]:
    """A JSON array body (raises BadBody)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody(f"the body is not valid JSON: {exc}") from None
    if not isinstance(value, list):
        raise BadBody("a JSON batch body must be an array of envelopes (or send application/x-ndjson)")
    return value


def parse_single(body: bytes) -> Any:
    """A single-envelope body (raises BadBody)."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody(f"the body is not valid JSON: {exc}") from None


def check_owner(items: list[Any], author: Author) -> None:
    """Raise Forbidden if any envelope names a tenant or agent this author may not write for.

    Runs over the whole request before anything is validated or written, so a forged envelope in a batch
    refuses the batch. Values that are not even strings are left to validation (a schema error)."""
    tenant = author.tenant_id
    for item in items:
        if not isinstance(item, dict):
            continue
        account = item.get("accountId")
        if isinstance(account, str) and account.lower() != tenant:
            raise Forbidden("accountId names another tenant than this key's")
        agent = item.get("agentId")
        if not isinstance(agent, str):
            continue
        agent = agent.lower()
        if author.agent_id is not None:
            if agent != author.agent_id:
                raise Forbidden("agentId names another agent than this key (or the x-clawtrace-agent-id header) may")
        elif len(agent) == _UUID_LEN and not author.agent_exists(agent):
            raise Forbidden("agentId is not an agent of this key's tenant")


def check_events(items: list[Any], author: Author, *, received: datetime, max_record_bytes: int) -> Checked:
    """Validate envelopes with bronze's contract and build their raw records.

    Args:
        items: parsed envelopes (`BadLine` for NDJSON lines that did not parse).
        author: whose events these are (run `check_owner` first).
        received: the server's receive time, stamped on every record.
        max_record_bytes: the largest record bronze loads; larger ones are refused here.
    """
    out = Checked()
    prefix = {"schemaVersion": 1, "accountId": author.tenant_id, "apiKeyId": author.key_id}
    received_iso = received.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    for index, item in enumerate(items):
        if isinstance(item, BadLine):
            out.rejected.append(Rejected(index, None, item.reason_code, item.reason))
            continue
        result = _check_one(index, item, prefix, received_iso, max_record_bytes)
        if isinstance(result, Accepted):
            out.accepted.append(result)
        else:
            out.rejected.append(result)
    return out


def _check_one(
    index: int, obj: Any, prefix: dict[str, Any], received_iso: str, max_record_bytes: int
) -> Accepted | Rejected:
    if not isinstance(obj, dict):
        return Rejected(index, None, "not_object", f"an envelope must be a JSON object, got {type(obj).__name__}")
    event_obj = obj.get("event")
    raw_id = event_obj.get("eventId") if isinstance(event_obj, dict) else None
    event_id = raw_id if isinstance(raw_id, str) else None
    try:
        envelope = Envelope.model_validate(obj)
        check_payload(envelope.event.eventType, envelope.event.payload)
    except ValidationError as exc:
        code = "unsupported_version" if _is_version_error(exc) else "schema"
        return Rejected(index, event_id, code, _describe(exc))
    event = envelope.event
    if event.tsMs > MAX_TS_MS:
        return Rejected(index, event_id, "schema", f"event.tsMs {event.tsMs} is beyond year 9999")
    agent = envelope.agentId.lower()
    record = {**prefix, "agentId": agent, "receivedAt": received_iso}
    # Extra envelope fields are kept (EVENTS.md: never dropped silently); server facts are ours alone.
    for key, value in obj.items():
        if key not in record and key not in SERVER_FIELDS and key != "event":
            record[key] = value
    record["schemaVersion"] = envelope.schemaVersion
    record["event"] = event_obj
    line = orjson.dumps(record)
    if len(line) > max_record_bytes:
        return Rejected(
            index, event_id, "too_large", f"record of {len(line)} bytes exceeds the {max_record_bytes}-byte limit"
        )
    folder = f"raw/v1/tenant={prefix['accountId']}/agent={agent}/{hour_folder(event_hour(event.tsMs))}"
    return Accepted(event.eventId, folder, line)


def _is_version_error(exc: ValidationError) -> bool:
    return any(err["loc"][:1] == ("schemaVersion",) and "not supported" in err["msg"] for err in exc.errors())


def _describe(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in err['loc']) or 'envelope'}: {err['msg']}" for err in exc.errors()[:3]]
    more = exc.error_count() - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
