"""The API's meter: metered actions buffered in memory, written to the raw zone off the request path.

A route calls `record(tenant, category, quantity)`, which only appends to a list (no I/O, safe from the event
loop and from the thread pool). A background task writes the buffer every `metering_flush_seconds`, one
NDJSON file per tenant (`core/metering.py` has the layout), durably (fsync'd) like ingest's files; the
app's shutdown writes what is left, so a clean stop loses nothing. A write that fails keeps its records for
the next flush; what a crash (SIGKILL, power loss) takes is at most the last interval's unwritten actions,
and nothing that was written.

Tracy and the MCP server (not built yet) call the same `record` with their categories
(`Category.TRACY_QUESTION`, `TRACY_*_TOKENS`, `MCP_QUERY`); `record_model_usage` spreads one model
answer's token counts over them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import defaultdict
from datetime import UTC, datetime

from clawtrace_api.ingest.durable import DurableStorage
from clawtrace_pipelines.core.metering import API_CATEGORIES, Category, MeterRecord, meter_file_path, new_record
from clawtrace_pipelines.core.settings import Settings

log = logging.getLogger(__name__)

# Past this many unwritten records (the lake has been unwritable for a long while) the oldest are dropped,
# with an error logged: the API's memory is bounded even when metering is not.
MAX_BUFFERED = 1_000_000


class MeterRecorder:
    """Buffered, durable metering of one API process."""

    def __init__(self, settings: Settings) -> None:
        self.storage = DurableStorage(settings)
        self.interval_s = settings.metering_flush_seconds
        self.written = 0
        self.dropped = 0
        self._buffer: list[MeterRecord] = []
        self._lock = threading.Lock()
        # One flush at a time: the periodic task and an explicit flush (shutdown, tests) never interleave.
        self._flush_lock = threading.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def record(self, tenant_id: str, category: Category, quantity: int = 1) -> None:
        """Meter `quantity` units of `category` for `tenant_id` now (a quantity of 0 records nothing)."""
        if category not in API_CATEGORIES:
            raise ValueError(f"{category} is metered by the pipeline, not the API")
        if quantity == 0:
            return
        item = new_record(tenant_id, category, quantity)
        with self._lock:
            self._buffer.append(item)
            if len(self._buffer) > MAX_BUFFERED:
                excess = len(self._buffer) - MAX_BUFFERED
                del self._buffer[:excess]
                self.dropped += excess
                log.error("metering buffer full: dropped %d unwritten records", excess)

    def record_model_usage(
        self,
        tenant_id: str,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> None:
        """Meter one answer of Tracy's own model, by token kind."""
        for category, quantity in (
            (Category.TRACY_INPUT_TOKENS, input_tokens),
            (Category.TRACY_OUTPUT_TOKENS, output_tokens),
            (Category.TRACY_CACHE_READ_TOKENS, cache_read_tokens),
            (Category.TRACY_CACHE_WRITE_TOKENS, cache_write_tokens),
        ):
            self.record(tenant_id, category, quantity)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def flush(self) -> int:
        """Write every buffered record, one durable file per tenant; returns the records written.

        Blocking (call it in a thread from async code). A tenant's file that fails to write puts its records
        back for the next flush and the error propagates once the other tenants' files are written.
        """
        with self._flush_lock:
            with self._lock:
                taken, self._buffer = self._buffer, []
            if not taken:
                return 0
            by_tenant: dict[str, list[MeterRecord]] = defaultdict(list)
            for item in taken:
                by_tenant[item.tenant_id].append(item)
            now = datetime.now(UTC)
            failed: list[MeterRecord] = []
            error: Exception | None = None
            written = 0
            for tenant, items in by_tenant.items():
                data = b"\n".join(i.line() for i in items) + b"\n"
                try:
                    self.storage.write_bytes(meter_file_path(tenant, now, uuid.uuid4()), data)
                    written += len(items)
                except Exception as exc:  # noqa: BLE001 - kept for the next flush, whatever the storage raised
                    failed.extend(items)
                    error = exc
            if failed:
                with self._lock:
                    self._buffer[:0] = failed
            self.written += written
            if error is not None:
                raise error
            return written

    async def start(self) -> None:
        """Start the periodic flush (inside the app's event loop)."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="metering-flush")

    async def close(self) -> None:
        """Stop the periodic flush and write what is left."""
        self._stop.set()
        if self._task is not None:
            await self._task
        await asyncio.to_thread(self.flush)

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=self.interval_s)
            except TimeoutError:
                pass
            if self._stop.is_set():
                return
            try:
                await asyncio.to_thread(self.flush)
            except Exception as exc:  # noqa: BLE001 - the records wait in the buffer; retried next interval
                log.warning("metering flush failed (%d records kept): %s: %s", self.pending, type(exc).__name__, exc)
