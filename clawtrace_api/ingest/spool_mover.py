"""Moves spooled events into the raw zone: one NDJSON file per raw folder, then one arrival record, then the
segment is deleted (see spool.py for why and for what a crash at each step leaves)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from clawtrace_api.ingest.durable import DurableStorage
from clawtrace_api.ingest.spool import Segment, Spool
from clawtrace_pipelines.core.lake.storage import FileInfo, batch_file_name, write_arrival_record

log = logging.getLogger(__name__)

WRITER_NAME = "api"
# Files one arrival record names at most (as the simulator's records do).
RECORD_MAX_FILES = 10_000
# The namespace of raw file names derived from a spool segment (`files_of`).
_SEGMENT_FILES = uuid.UUID("5f0c6b1e-9a57-4c3e-8d2b-7e1a4c9d0b36")


def files_of(records: list[tuple[str, bytes]], source: str | None = None) -> dict[str, bytes]:
    """One NDJSON file per raw folder: lake-relative path -> content.

    With `source` (a spool segment's name) each file's name is derived from it and the folder, so moving the
    same segment again - a crash after its raw files were written but before it was deleted - rewrites the same
    files instead of adding copies; without it the names are random (the direct path writes each group once)."""
    lines: dict[str, list[bytes]] = {}
    for folder, line in records:
        lines.setdefault(folder, []).append(line)
    files: dict[str, bytes] = {}
    for folder, ls in lines.items():
        batch_id = uuid.uuid5(_SEGMENT_FILES, f"{source}/{folder}") if source else None
        files[f"{folder}/{batch_file_name(batch_id)}"] = b"\n".join(ls) + b"\n"
    return files


def move(storage: DurableStorage, records: list[tuple[str, bytes]], source: str | None = None) -> int:
    """Write `records` as durable raw files and announce them; returns the files written."""
    files = files_of(records, source)
    for path, data in files.items():
        storage.write_bytes(path, data)
    infos = [FileInfo(path=path, size=len(data), fingerprint=None) for path, data in files.items()]
    arrived = datetime.now(UTC)
    for i in range(0, len(infos), RECORD_MAX_FILES):
        write_arrival_record(storage, infos[i : i + RECORD_MAX_FILES], writer=WRITER_NAME, arrived=arrived)
    return len(files)


class SpoolMover:
    """Flushes the spool every `flush_s` and at close; segments that fail to move are retried each flush."""

    def __init__(
        self,
        spool: Spool,
        storage: DurableStorage,
        pool: ThreadPoolExecutor,
        flush_s: float,
        *,
        live_agent: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.spool = spool
        # Asked for the segments a stopped process left: an agent purged while they waited must not come back.
        self.live_agent = live_agent
        self.storage = storage
        self.pool = pool
        self.flush_s = flush_s
        self.moved_segments = 0
        self._unmoved: list[Segment] = []
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def recover(self) -> int:
        """Move the segments of processes that died (call before serving); returns the segments moved."""
        orphans = await asyncio.get_running_loop().run_in_executor(self.pool, self.spool.orphans)
        if orphans:
            log.warning("moving %d spool segments left by a stopped process", len(orphans))
        async with self._lock:
            self._unmoved.extend(orphans)
            await self._move_unmoved()
        return len(orphans)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ingest-spool-mover")

    async def flush(self) -> None:
        """Move everything answered so far into the raw zone."""
        async with self._lock:
            segment = self.spool.rotate()
            if segment is not None:
                self._unmoved.append(segment)
            await self._move_unmoved()

    async def close(self) -> None:
        """Stop the timer and move what is left (call once no more appends can come)."""
        self._stop.set()
        if self._task is not None:
            await self._task
        await self.flush()
        for segment in self._unmoved:
            # Still here after a last try: left on disk, the next start moves it.
            self.spool.release(segment)
        self._unmoved.clear()

    async def _run(self) -> None:
        while not self._stop.is_set():
            try:
                await asyncio.wait_for(self._stop.wait(), self.flush_s)
            except TimeoutError:
                pass
            if not self._stop.is_set():
                await self.flush()

    async def _move_unmoved(self) -> None:
        loop = asyncio.get_running_loop()
        kept = []
        for segment in self._unmoved:
            try:
                await loop.run_in_executor(self.pool, self._move_segment, segment)
            except Exception:  # noqa: BLE001 - a failed move is retried; the events stay durable in the spool
                log.exception("could not move spool segment %s; retrying at the next flush", segment.path.name)
                kept.append(segment)
            else:
                self.moved_segments += 1
        self._unmoved = kept

    def _move_segment(self, segment: Segment) -> None:
        records = self.spool.read(segment)
        if segment.recovered and self.live_agent is not None:
            records = self._of_live_agents(records, self.live_agent)
        if records:
            move(self.storage, records, segment.path.name)
        self.spool.remove(segment)

    @staticmethod
    def _of_live_agents(records: list[tuple[str, bytes]], live: Callable[[str, str], bool]) -> list[tuple[str, bytes]]:
        """The records whose agent still exists (a purge waits out the spool of live processes, not of dead ones)."""
        answers: dict[str, bool] = {}
        kept = []
        for folder, line in records:
            if folder not in answers:
                owner = folder_owner(folder)
                answers[folder] = owner is not None and live(*owner)
            if answers[folder]:
                kept.append((folder, line))
        if len(kept) < len(records):
            log.warning("dropped %d spooled events of deleted agents", len(records) - len(kept))
        return kept


def folder_owner(folder: str) -> tuple[str, str] | None:
    """(tenant_id, agent_id) of a raw folder `raw/v1/tenant=T/agent=A/dt=.../hr=..`."""
    parts = dict(p.split("=", 1) for p in folder.split("/") if "=" in p)
    if "tenant" not in parts or "agent" not in parts:
        return None
    return parts["tenant"], parts["agent"]
