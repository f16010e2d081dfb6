"""Deliveries to raw files in either layout, through `LakeStorage` (local folder or object store)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from random import Random
from types import TracebackType

from clawtrace_pipelines.core.lake.storage import (
    FileInfo,
    LakeStorage,
    batch_file_name,
    event_file_name,
    raw_dir,
)
from clawtrace_pipelines.simulator.agents import Agent
from clawtrace_pipelines.simulator.config import BATCH_MAX_LINES, HOUR_MS, Layout
from clawtrace_pipelines.simulator.ids import iso_ms, uuid4
from clawtrace_pipelines.simulator.traffic import Delivery


class RawWriter:
    """Writes raw records `{schemaVersion, accountId, apiKeyId, agentId, receivedAt, event}`.

    `per-event` writes each delivery at once to `event-<eventId>.json` (a retry overwrites the same object, as
    the original ingest service does). `batched` buffers each agent's deliveries by event hour and writes
    `batch-<uuid>.ndjson` files of at most `max_lines` lines; retried deliveries go to their own batch files,
    as a later request would. Use it as a context manager: leaving it without an error flushes the buffers.

    Args:
        storage: the lake.
        layout: `per-event` or `batched`.
        rng: draws the batch file ids (apart from the traffic RNGs, so both layouts hold the same events).
        max_lines: lines per batch file at most.
    """

    def __init__(self, storage: LakeStorage, layout: Layout, rng: Random, max_lines: int = BATCH_MAX_LINES):
        self.storage = storage
        self.layout = layout
        self.rng = rng
        self.max_lines = max_lines
        self.deliveries = 0
        self._files: dict[str, int] = {}
        self._buffers: dict[tuple[str, int, bool], tuple[str, list[bytes]]] = {}
        self._dirs: dict[tuple[str, int], str] = {}
        self._prefixes: dict[str, bytes] = {}

    def __enter__(self) -> RawWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None:
            self.flush()

    def write(self, agent: Agent, deliveries: Iterable[Delivery], *, retry: bool = False) -> None:
        """Write (or buffer) deliveries of one agent; `retry` marks re-sent records."""
        prefix = self._prefix(agent)
        per_event = self.layout == "per-event"
        for d in deliveries:
            # Built by hand in the field order orjson would print: most of a record is the event, already bytes.
            record = prefix + iso_ms(d.received_ms).encode() + b'","event":' + d.event + b"}"
            self.deliveries += 1
            if per_event:
                self._put(f"{self._dir(agent, d.hour)}/{event_file_name(d.event_id)}", record)
                continue
            key = (agent.agent_id, d.hour, retry)
            buffer = self._buffers.get(key)
            if buffer is None:
                buffer = self._buffers[key] = (self._dir(agent, d.hour), [])
            lines = buffer[1]
            lines.append(record)
            if len(lines) >= self.max_lines:
                self._write_batch(key)

    def flush(self) -> None:
        """Write every buffered batch; call after each agent to bound memory."""
        for key in list(self._buffers):
            self._write_batch(key)

    def files(self) -> list[FileInfo]:
        """Every file written so far (once each, with its last size), in writing order."""
        return [FileInfo(path=path, size=size, fingerprint=None) for path, size in self._files.items()]

    def _write_batch(self, key: tuple[str, int, bool]) -> None:
        folder, lines = self._buffers.pop(key)
        path = f"{folder}/{batch_file_name(uuid4(self.rng))}"
        self._put(path, b"\n".join(lines) + b"\n")

    def _put(self, path: str, data: bytes) -> None:
        # Writes stay sequential: threads measured slower here (fsspec's per-call Python work holds the GIL),
        # and a re-delivery must overwrite its event's file after the first write, never before.
        self.storage.write_bytes(path, data)
        self._files.pop(path, None)
        self._files[path] = len(data)

    def _dir(self, agent: Agent, hour: int) -> str:
        key = (agent.agent_id, hour)
        folder = self._dirs.get(key)
        if folder is None:
            folder = raw_dir(agent.tenant_id, agent.agent_id, datetime.fromtimestamp(hour * HOUR_MS / 1000, UTC))
            self._dirs[key] = folder
        return folder

    def _prefix(self, agent: Agent) -> bytes:
        prefix = self._prefixes.get(agent.agent_id)
        if prefix is None:
            prefix = (
                f'{{"schemaVersion":1,"accountId":"{agent.tenant_id}","apiKeyId":"{agent.api_key_id}",'
                f'"agentId":"{agent.agent_id}","receivedAt":"'
            ).encode()
            self._prefixes[agent.agent_id] = prefix
        return prefix
