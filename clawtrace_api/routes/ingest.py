"""`POST /v1/traces/events` (the ClawTrace plugin's request, unchanged) and `POST /v1/traces/events/batch`.

Who may write what:
- the tenant is the key's, always; an `x-clawtrace-tenant-id` header or a body `accountId` naming another
  tenant is refused with 403 and nothing of the request is written;
- a key bound to an agent (what `clawtrace agents create` issues) writes that agent only;
- a tenant-wide ingest key writes for any live (not deleted) agent of its tenant, named by each envelope's
  `agentId` (or pinned for the whole request by `x-clawtrace-agent-id`); an unknown agent is a 403.

Status codes follow what the plugin does with them (retry on 429 and 5xx, drop on any other 4xx): 202 when at
least one event is durable (rejected ones are listed beside), 422 when none is valid, 413 over the limits,
401/403 for keys, 402 for a tenant in credit deficit (with the guard on), 429 over the rate limit, 503 when
the write failed (nothing of the request counts as accepted; the retry is safe since bronze dedups by event id).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from clawtrace_api.accounts import Principal
from clawtrace_api.deps import IngestPrincipal, Services, ServicesDep
from clawtrace_api.errors import Problem
from clawtrace_api.ingest.group_commit import WriteFailed
from clawtrace_api.ingest.rate_limit import retry_after
from clawtrace_api.ingest.runtime import IngestRuntime, ingest_runtime
from clawtrace_api.ingest.schemas import BATCH_BODY, SINGLE_BODY, IngestResult, RejectedEvent
from clawtrace_api.ingest.validate import (
    Author,
    BadBody,
    Checked,
    Forbidden,
    Rejected,
    check_events,
    check_owner,
    ndjson_lines,
    parse_array,
    parse_lines,
    parse_single,
)
from clawtrace_pipelines.core.metering import Category

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/traces", tags=["ingest"])

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines")
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing, unknown or revoked key"},
    402: {"description": "The tenant's credit balance is below zero and the deficit guard is on"},
    403: {"description": "The key lacks the ingest scope, or the request names another tenant or agent"},
    413: {"description": "Body larger than `ingest_max_body_bytes`, or more than `ingest_max_events` events"},
    415: {"description": "A batch body that is neither JSON nor NDJSON"},
    422: {"description": "No event was valid; `errors` lists each with its reason_code"},
    429: {"description": "Over the key's rate limit; retry after `Retry-After` seconds"},
    503: {"description": "The durable write failed; nothing was accepted, retry"},
}


@router.post(
    "/events",
    response_model=IngestResult,
    status_code=202,
    summary="Ingest one event (the ClawTrace plugin's request)",
    responses=_ERRORS,
    openapi_extra=SINGLE_BODY,
)
async def ingest_event(request: Request, principal: IngestPrincipal, services: ServicesDep) -> Response:
    """One envelope per request, as the original plugin sends it; durable in the raw zone when answered.

    Served by `ingest/fast_path.py` (this same handler, without the router's per-request work); FastAPI keeps the
    route for its OpenAPI description and as the fallback."""
    return await handle_event(request, principal, services)


async def handle_event(request: Request, principal: Principal, services: Services) -> Response:
    body = await _read_body(request, services.settings.ingest_max_body_bytes)
    try:
        items = [parse_single(body)]
    except BadBody as exc:
        raise Problem(422, "invalid-body", str(exc)) from None
    checked = await _check(request, principal, services, items)
    claimed = request.headers.get("x-clawtrace-event-id")
    if claimed and checked.accepted and checked.accepted[0].event_id != claimed:
        checked.rejected.append(
            Rejected(0, checked.accepted[0].event_id, "event_id_mismatch", "x-clawtrace-event-id is not event.eventId")
        )
        checked.accepted.clear()
    return await _write(services, principal, checked)


@router.post(
    "/events/batch",
    response_model=IngestResult,
    status_code=202,
    summary="Ingest a batch of events (JSON array or NDJSON)",
    responses=_ERRORS,
    openapi_extra=BATCH_BODY,
)
async def ingest_batch(request: Request, principal: IngestPrincipal, services: ServicesDep) -> Response:
    """Many envelopes in one request; each is accepted or rejected on its own (a forged one refuses all)."""
    settings = services.settings
    body = await _read_body(request, settings.ingest_max_body_bytes)
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if content_type in NDJSON_TYPES:
        lines = ndjson_lines(body)
        _check_count(len(lines), settings.ingest_max_events)
        items = parse_lines(lines)
    elif content_type in ("application/json", ""):
        try:
            items = parse_array(body)
        except BadBody as exc:
            raise Problem(422, "invalid-body", str(exc)) from None
        _check_count(len(items), settings.ingest_max_events)
    else:
        raise Problem(415, "unsupported-media-type", "send application/json (an array) or application/x-ndjson")
    return await _write(services, principal, await _check(request, principal, services, items))


async def _read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise Problem(413, "payload-too-large", f"the body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "payload-too-large", f"the body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _check_count(count: int, limit: int) -> None:
    if count > limit:
        raise Problem(413, "too-many-events", f"{count} events in one request; at most {limit}")


async def _check(request: Request, principal: Principal, services: ServicesDep, items: list[Any]) -> Checked:
    """Rate limit, ownership (403 for the whole request), then each event against the contract."""
    runtime = await ingest_runtime(services)
    wait = runtime.limiter.take(principal.key_id, len(items))
    if wait:
        raise Problem(
            429, "too-many-requests", "over this key's ingest rate limit", headers={"Retry-After": retry_after(wait)}
        )
    author = await _author(request, principal, runtime, items)
    try:
        check_owner(items, author)
    except Forbidden as exc:
        raise Problem(403, "forbidden", str(exc)) from None
    return check_events(items, author, received=datetime.now(UTC), max_record_bytes=services.settings.max_record_bytes)


async def _author(request: Request, principal: Principal, runtime: IngestRuntime, items: list[Any]) -> Author:
    """Who this request writes as: the key's tenant, and the agent(s) the key and headers allow."""
    tenant_header = request.headers.get("x-clawtrace-tenant-id", "").strip().lower()
    if tenant_header and tenant_header != principal.tenant_id:
        raise Problem(403, "forbidden", "x-clawtrace-tenant-id names another tenant than this key's")
    pinned = principal.agent_id
    agent_header = request.headers.get("x-clawtrace-agent-id", "").strip().lower()
    if agent_header:
        if pinned is not None and agent_header != pinned:
            raise Problem(403, "forbidden", "x-clawtrace-agent-id names another agent than this key's")
        if pinned is None and not await runtime.agents.exists(principal.tenant_id, agent_header):
            raise Problem(403, "forbidden", "x-clawtrace-agent-id is not an agent of this key's tenant")
        pinned = agent_header
    live: set[str] = set()
    if pinned is None:
        named = {i["agentId"].lower() for i in items if isinstance(i, dict) and isinstance(i.get("agentId"), str)}
        for agent in named:
            if await runtime.agents.exists(principal.tenant_id, agent):
                live.add(agent)
    return Author(principal.tenant_id, principal.key_id, pinned, live.__contains__)


async def _write(services: Services, principal: Principal, checked: Checked) -> Response:
    rejected = [
        RejectedEvent(index=r.index, event_id=r.event_id, reason_code=r.reason_code, reason=r.reason)
        for r in checked.rejected
    ]
    if not checked.accepted:
        raise Problem(
            422,
            "no-event-accepted",
            f"none of the {len(rejected)} events is valid: {rejected[0].reason_code}: {rejected[0].reason}"
            if rejected
            else "the request holds no event",
            errors=[r.model_dump() for r in rejected],
        )
    try:
        await (await ingest_runtime(services)).writer.commit(checked.accepted)
    except WriteFailed:
        raise Problem(
            503, "ingest-unavailable", "the events could not be stored; retry", headers={"Retry-After": "1"}
        ) from None
    # Metered once durable: a 503 charges nothing, and a retried event is charged again, as it was sent again.
    meter = services.meter
    meter.record(principal.tenant_id, Category.INGEST_EVENTS, len(checked.accepted))
    meter.record(principal.tenant_id, Category.INGEST_BYTES, sum(len(a.line) + 1 for a in checked.accepted))
    # Serialized here rather than through `response_model`: the plugin sends one request per event, and the
    # model's validation and encoding pass was a measurable share of each request's CPU.
    body = {"accepted": [a.event_id for a in checked.accepted], "rejected": [r.model_dump() for r in rejected]}
    return Response(orjson.dumps(body), status_code=202, media_type="application/json")
