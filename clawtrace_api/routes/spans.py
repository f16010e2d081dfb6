"""`GET /v1/spans/{span_id}?trace_id=`: one span with its payloads, read from the lake."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from clawtrace_api.deps import ReadPrincipal, Services, ServicesDep
from clawtrace_api.errors import Problem, not_found
from clawtrace_api.schemas import ITEM_PROBLEMS, SpanDetail
from clawtrace_api.views.payloads import PayloadReader
from clawtrace_api.views.rows import trace_row, trace_spans
from clawtrace_pipelines.core.events import check_safe_id

router = APIRouter(prefix="/v1/spans", tags=["spans"])


def _payloads(services: Services) -> PayloadReader:
    reader = services.extras.get("payload_reader")
    if reader is None:
        reader = services.extras.setdefault("payload_reader", PayloadReader(services.settings))
    return reader  # type: ignore[no-any-return]


@router.get("/{span_id}", response_model=SpanDetail, responses=ITEM_PROBLEMS)
def get_span(
    span_id: Annotated[str, Path(min_length=1, max_length=256)],
    trace_id: Annotated[str, Query(min_length=1, max_length=256, description="The span's trace")],
    principal: ReadPrincipal,
    services: ServicesDep,
    max_bytes: Annotated[
        int | None,
        Query(ge=1, description="Cut payloads here instead of `payload_max_bytes` (at most `payload_full_max_bytes`)"),
    ] = None,
) -> SpanDetail:
    """Tokens, cost and error of a span, and its input and output payloads (cut at `payload_max_bytes`,
    with a marker and the full size)."""
    check_safe_id(span_id, "span_id")
    # A missing trace and a missing span of an existing trace answer alike: the resource is the span.
    row = trace_row(services.graph, principal.tenant_id, trace_id, what="span")
    span = next((s for s in trace_spans(services.graph, principal.tenant_id, trace_id) if s.span_id == span_id), None)
    if span is None:
        raise not_found("span")
    if max_bytes is not None and max_bytes > services.settings.payload_full_max_bytes:
        limit = services.settings.payload_full_max_bytes
        raise Problem(422, "invalid-request", f"max_bytes: at most {limit}")
    reader = _payloads(services)
    given, taken = reader.read(principal.tenant_id, trace_id, span_id, row["trace_start_ts_ms"], max_bytes)
    return SpanDetail(**span.model_dump(), trace_id=trace_id, input_payload=given, output_payload=taken)
