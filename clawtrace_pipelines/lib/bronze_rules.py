"""Bronze rules: raw file bytes in, validated `events_all` rows and quarantined records out.

Every record of a file is accounted for exactly once: accepted (a candidate row), rejected (a quarantine row
with a reason), or a shadow duplicate (counted and dropped). Exact duplicates are found later, across files
and against the table (see `lib/bronze.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import ValidationError

from clawtrace_pipelines.core.errors import InvalidIdError, LakeLayoutError
from clawtrace_pipelines.core.events import PAYLOAD_MODELS, RawRecord, is_shadow_duplicate
from clawtrace_pipelines.core.lake.storage import parse_raw_path

# Beyond year 9999 a timestamp has no calendar date: such a record is quarantined, not loaded.
MAX_TS_MS = 253_402_300_799_999

ROW_COLUMNS = (
    "tenant_id",
    "agent_id",
    "event_id",
    "event_type",
    "trace_id",
    "span_id",
    "parent_span_id",
    "event_ts_ms",
    "span_name",
    "tool_name",
    "model_name",
    "payload_json",
    "raw_path",
    "schema_version",
    "received_at",
    "extra_json",
    "line",
)


@dataclass
class Rejection:
    raw_path: str
    line: int
    reason_code: str
    reason: str
    record_bytes: int
    excerpt: str
    tenant_id: str | None = None
    agent_id: str | None = None
    event_id: str | None = None


@dataclass
class ParsedFile:
    """One raw file after the bronze rules: candidate rows (column lists), rejections and counts."""

    path: str
    size: int
    records_read: int = 0
    shadow_duplicates: int = 0
    rows: dict[str, list[Any]] = field(default_factory=lambda: {c: [] for c in ROW_COLUMNS})
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def candidates(self) -> int:
        return len(self.rows["event_id"])


class _Reject(Exception):
    def __init__(self, code: str, reason: str, event_id: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.event_id = event_id


def parse_file(relpath: str, data: bytes, *, max_record_bytes: int, excerpt_chars: int) -> ParsedFile:
    """Apply the bronze rules to one raw file.

    Args:
        relpath: the file's path relative to the lake root (`raw/v1/tenant=.../x.ndjson`).
        data: the file's whole content.
        max_record_bytes: records larger than this are quarantined as `too_large`.
        excerpt_chars: length of the copy of a rejected record kept in the quarantine.

    Returns:
        The parsed file; never raises for bad content.
    """
    parsed = ParsedFile(path=relpath, size=len(data))

    def reject(line: int, raw: bytes, code: str, reason: str, event_id: str | None = None) -> None:
        parsed.rejections.append(
            Rejection(
                raw_path=relpath,
                line=line,
                reason_code=code,
                reason=reason,
                record_bytes=len(raw),
                excerpt=raw[: excerpt_chars * 4].decode("utf-8", errors="replace")[:excerpt_chars],
                tenant_id=tenant,
                agent_id=agent,
                event_id=event_id,
            )
        )

    tenant: str | None = None
    agent: str | None = None
    folder_error: tuple[str, str] | None = None
    try:
        raw_path = parse_raw_path(relpath)
        is_batch = raw_path.is_batch
        try:
            tenant, agent = raw_path.validate_ids()
        except InvalidIdError as exc:
            code = "invalid_tenant_folder" if "tenant" in str(exc) else "invalid_agent_folder"
            folder_error = (code, f"{exc}: {relpath}")
    except LakeLayoutError as exc:
        parsed.records_read = 1
        reject(0, data, "layout", str(exc))
        return parsed

    records = _split_records(data, is_batch)
    if not records:
        parsed.records_read = 1
        reject(0, data, "empty_file", "the file holds no record")
        return parsed

    last_index = len(records) - 1
    for index, (line_no, raw) in enumerate(records):
        parsed.records_read += 1
        if folder_error:
            reject(line_no, raw, *folder_error)
            continue
        try:
            _accept(parsed, raw, line_no, tenant, agent, relpath, max_record_bytes)
        except _Reject as rej:
            code, reason = rej.code, rej.reason
            if code == "invalid_json" and index == last_index and not data.endswith(b"\n") and is_batch:
                code, reason = "truncated", f"last record is cut off (file truncated mid-write?): {reason}"
            reject(line_no, raw, code, reason, rej.event_id)
    return parsed


def _split_records(data: bytes, is_batch: bool) -> list[tuple[int, bytes]]:
    if not is_batch:
        return [(1, data)] if data.strip() else []
    return [(i, line) for i, line in enumerate(data.split(b"\n"), start=1) if line.strip()]


def _accept(
    parsed: ParsedFile,
    raw: bytes,
    line_no: int,
    tenant: str | None,
    agent: str | None,
    relpath: str,
    max_record_bytes: int,
) -> None:
    if len(raw) > max_record_bytes:
        raise _Reject("too_large", f"record of {len(raw)} bytes exceeds the {max_record_bytes}-byte limit")
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "utf-8" in str(exc).lower():
            raise _Reject("invalid_utf8", f"not valid UTF-8: {exc}") from None
        raise _Reject("invalid_json", f"not valid JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise _Reject("not_object", f"a record must be a JSON object, got {type(obj).__name__}")
    event_obj = obj.get("event")
    event_id = event_obj.get("eventId") if isinstance(event_obj, dict) else None
    event_id = event_id if isinstance(event_id, str) else None
    try:
        record = RawRecord.model_validate(obj)
    except ValidationError as exc:
        code = "unsupported_version" if _is_version_error(exc) else "schema"
        raise _Reject(code, _describe(exc), event_id) from None
    event = record.event
    payload = event.payload
    try:
        PAYLOAD_MODELS[event.eventType].model_validate(payload)
    except ValidationError as exc:
        raise _Reject("schema", _describe(exc, "event.payload"), event_id) from None
    if event.tsMs > MAX_TS_MS:
        raise _Reject("schema", f"event.tsMs {event.tsMs} is beyond year 9999", event_id)
    if record.accountId.lower() != tenant:
        raise _Reject("tenant_mismatch", "accountId does not match the tenant folder", event_id)
    if record.agentId.lower() != agent:
        raise _Reject("agent_mismatch", "agentId does not match the agent folder", event_id)

    event_type = event.eventType.value
    if is_shadow_duplicate(event_type, payload):
        parsed.shadow_duplicates += 1
        return

    rows = parsed.rows
    rows["tenant_id"].append(tenant)
    rows["agent_id"].append(agent)
    rows["event_id"].append(event.eventId)
    rows["event_type"].append(event_type)
    rows["trace_id"].append(event.traceId)
    rows["span_id"].append(event.spanId)
    rows["parent_span_id"].append(event.parentSpanId)
    rows["event_ts_ms"].append(event.tsMs)
    rows["span_name"].append(_first_str(payload, "name", "spanName"))
    rows["tool_name"].append(_tool_name(payload))
    rows["model_name"].append(_first_str(payload, "model", "modelName"))
    rows["payload_json"].append(orjson.dumps(payload).decode())
    rows["raw_path"].append(relpath)
    rows["schema_version"].append(record.schemaVersion)
    rows["received_at"].append(_utc(record.receivedAt))
    rows["extra_json"].append(_extras(record))
    rows["line"].append(line_no)


def _first_str(payload: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = payload.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def _tool_name(payload: dict[str, Any]) -> str | None:
    # The original pipeline's precedence: toolName, tool_name, tool, toolCall.name.
    name = _first_str(payload, "toolName", "tool_name", "tool")
    if name is None and isinstance(payload.get("toolCall"), dict):
        name = _first_str(payload["toolCall"], "name")
    return name


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _extras(record: RawRecord) -> str | None:
    extras: dict[str, Any] = {}
    if record.model_extra:
        extras["envelope"] = record.model_extra
    if record.event.model_extra:
        extras["event"] = record.event.model_extra
    return orjson.dumps(extras, option=orjson.OPT_SORT_KEYS).decode() if extras else None


def _is_version_error(exc: ValidationError) -> bool:
    return any(err["loc"][:1] == ("schemaVersion",) and "not supported" in err["msg"] for err in exc.errors())


def _describe(exc: ValidationError, prefix: str = "") -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join([prefix, *(str(p) for p in err["loc"])] if prefix else [str(p) for p in err["loc"]])
        loc = loc or "record"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - 3
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")
