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
from clawtrace_pipelines.core.events import RawRecord, check_payload, is_shadow_duplicate
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


@dataclass(slots=True)
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


@dataclass(slots=True)
class ParsedFile:
    """One raw file after the bronze rules: candidate rows (column lists), rejections and counts."""

    path: str
    size: int
    records_read: int = 0
    shadow_duplicates: int = 0
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # one tuple per candidate, in ROW_COLUMNS order
    rejections: list[Rejection] = field(default_factory=list)

    detached: int = 0  # candidate rows already moved into an Arrow table (`detach_rows`)

    @property
    def candidates(self) -> int:
        return len(self.rows) + self.detached

    def column(self, name: str) -> list[Any]:
        """One column of the candidate rows still held."""
        at = ROW_COLUMNS.index(name)
        return [row[at] for row in self.rows]

    def detach_rows(self) -> list[tuple[Any, ...]]:
        """Hand the candidate rows over (to be turned into Arrow), keeping their count."""
        rows, self.rows = self.rows, []
        self.detached += len(rows)
        return rows


class _Reject(Exception):
    def __init__(self, code: str, reason: str, event_id: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.event_id = event_id


@dataclass(frozen=True)
class FileContext:
    """What the path of a raw file says: its tenant and agent, or why none of its records can be loaded."""

    relpath: str
    is_batch: bool
    tenant: str | None
    agent: str | None
    error: tuple[str, str] | None  # (reason_code, reason) that applies to every record of the file
    terminated: bool  # the file ends with a newline (a batch file not cut off mid-write)


def file_context(relpath: str, data: bytes) -> FileContext:
    """Check a raw file's path: layout, then tenant and agent folders (canonical UUIDs)."""
    try:
        raw_path = parse_raw_path(relpath)
    except LakeLayoutError as exc:
        return FileContext(relpath, False, None, None, ("layout", str(exc)), True)
    try:
        tenant, agent = raw_path.validate_ids()
    except InvalidIdError as exc:
        code = "invalid_tenant_folder" if "tenant" in str(exc) else "invalid_agent_folder"
        return FileContext(relpath, raw_path.is_batch, None, None, (code, f"{exc}: {relpath}"), True)
    return FileContext(relpath, raw_path.is_batch, tenant, agent, None, data.endswith(b"\n"))


def parse_file(relpath: str, data: bytes, *, max_record_bytes: int, excerpt_chars: int) -> ParsedFile:
    """Apply the bronze rules to one raw file, record by record.

    Args:
        relpath: the file's path relative to the lake root (`raw/v1/tenant=.../x.ndjson`).
        data: the file's whole content.
        max_record_bytes: records larger than this are quarantined as `too_large`.
        excerpt_chars: length of the copy of a rejected record kept in the quarantine.

    Returns:
        The parsed file; never raises for bad content.
    """
    parsed = ParsedFile(path=relpath, size=len(data))
    ctx = file_context(relpath, data)
    if ctx.error and ctx.error[0] == "layout":
        parsed.records_read = 1
        add_rejection(parsed, ctx, 0, data, *ctx.error, excerpt_chars=excerpt_chars)
        return parsed
    records = _split_records(data, ctx.is_batch)
    if not records:
        parsed.records_read = 1
        add_rejection(parsed, ctx, 0, data, "empty_file", "the file holds no record", excerpt_chars=excerpt_chars)
        return parsed
    last_index = len(records) - 1
    for index, (line_no, raw) in enumerate(records):
        parse_record(parsed, ctx, raw, line_no, index == last_index, max_record_bytes, excerpt_chars)
    return parsed


def parse_record(
    parsed: ParsedFile,
    ctx: FileContext,
    raw: bytes,
    line_no: int,
    is_last: bool,
    max_record_bytes: int,
    excerpt_chars: int,
) -> None:
    """Account for one record of a file: a candidate row, a rejection, or a shadow duplicate."""
    parsed.records_read += 1
    if ctx.error:
        add_rejection(parsed, ctx, line_no, raw, *ctx.error, excerpt_chars=excerpt_chars)
        return
    try:
        _accept(parsed, raw, line_no, ctx.tenant, ctx.agent, ctx.relpath, max_record_bytes)
    except _Reject as rej:
        code, reason = rej.code, rej.reason
        if code == "invalid_json" and is_last and ctx.is_batch and not ctx.terminated:
            code, reason = "truncated", f"last record is cut off (file truncated mid-write?): {reason}"
        add_rejection(parsed, ctx, line_no, raw, code, reason, rej.event_id, excerpt_chars=excerpt_chars)


def add_rejection(
    parsed: ParsedFile,
    ctx: FileContext,
    line: int,
    raw: bytes,
    code: str,
    reason: str,
    event_id: str | None = None,
    *,
    excerpt_chars: int,
) -> None:
    parsed.rejections.append(
        Rejection(
            raw_path=ctx.relpath,
            line=line,
            reason_code=code,
            reason=reason,
            record_bytes=len(raw),
            excerpt=raw[: excerpt_chars * 4].decode("utf-8", errors="replace")[:excerpt_chars],
            tenant_id=ctx.tenant,
            agent_id=ctx.agent,
            event_id=event_id,
        )
    )


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
        check_payload(event.eventType, payload)
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

    parsed.rows.append(
        (
            tenant,
            agent,
            event.eventId,
            event_type,
            event.traceId,
            event.spanId,
            event.parentSpanId,
            event.tsMs,
            _first_str(payload, "name", "spanName"),
            _tool_name(payload),
            _first_str(payload, "model", "modelName"),
            orjson.dumps(payload),
            relpath,
            record.schemaVersion,
            _utc(record.receivedAt),
            _extras(record),
            line_no,
        )
    )


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
