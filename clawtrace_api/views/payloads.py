"""Span payloads from the lake: the embedded graph leaves them out (60% of its bytes), so the one span a
client opens is read from `pg_spans`, pruned to its trace's day partition, and cut at `payload_max_bytes`."""

from __future__ import annotations

import datetime as dt
import threading

from clawtrace_api.schemas import Payload
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import PG_SPANS

_COLUMNS = ["input_payload", "output_payload"]


def truncate(text: str | None, max_bytes: int) -> Payload:
    """`text` whole, or its first `max_bytes` bytes (never splitting a character) and a marker."""
    if text is None:
        return Payload(text=None, bytes=0, truncated=False)
    data = text.encode("utf-8")
    if len(data) <= max_bytes:
        return Payload(text=text, bytes=len(data), truncated=False)
    head = data[:max_bytes].decode("utf-8", errors="ignore")
    return Payload(text=f"{head}…[truncated: {len(data)} bytes]", bytes=len(data), truncated=True)


class PayloadReader:
    """One open `pg_spans` table for the app: delta-rs refreshes it incrementally between reads, which is
    cheaper than opening the log anew per request; reads take turns because the handle is not thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self._table = open_table(PG_SPANS, settings)
        self._lock = threading.Lock()
        self.max_bytes = settings.payload_max_bytes

    def read(
        self, tenant_id: str, trace_id: str, span_id: str, trace_start_ms: int, max_bytes: int | None = None
    ) -> tuple[Payload, Payload]:
        """The span's input and output payloads, cut at `max_bytes` (default `payload_max_bytes`); empty when
        the lake has no row for it yet."""
        cut = max_bytes or self.max_bytes
        # pg_spans is partitioned by its trace's date: the UTC day the trace started.
        day = dt.datetime.fromtimestamp(trace_start_ms / 1000, tz=dt.UTC).date()
        filters = [("trace_date", "=", day), ("tenant_id", "=", tenant_id), ("trace_id", "=", trace_id)]
        with self._lock:
            rows = self._table.read(columns=_COLUMNS, filters=[*filters, ("span_id", "=", span_id)]).to_pylist()
        if not rows:
            return truncate(None, cut), truncate(None, cut)
        return truncate(rows[0]["input_payload"], cut), truncate(rows[0]["output_payload"], cut)
