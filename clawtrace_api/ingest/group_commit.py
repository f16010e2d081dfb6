"""Group commit into the raw zone: concurrent requests share one durable write, as databases share a log flush.

A request hands its accepted records to `GroupCommitWriter.commit` and awaits. The writer collects whatever
arrives within `ingest_group_commit_ms` of the first waiter, writes one NDJSON file per raw folder (tenant,
agent, event hour) for the whole group, fsyncs, writes one arrival record naming those files, and only then
answers every waiter. While one group's files are being written the next group collects, so under load the
groups grow instead of the queue; up to `max_inflight` groups write at once (fsyncs of different files overlap
on any real disk).

A failed write fails every waiter of its group with `WriteFailed` (the route answers 503, the collector
retries); files the group already wrote are removed on a best-effort basis, and any that survive only cause
duplicates, which bronze drops by event id. Each uvicorn worker has its own writer; file names are UUIDs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from clawtrace_api.ingest.durable import DurableStorage, Staged, fsync_dir
from clawtrace_api.ingest.spool import Spool, encode
from clawtrace_api.ingest.spool_mover import WRITER_NAME, SpoolMover, files_of
from clawtrace_api.ingest.validate import Accepted
from clawtrace_pipelines.core.lake.storage import FileInfo, write_arrival_record
from clawtrace_pipelines.core.settings import Settings

log = logging.getLogger(__name__)

# A group stops taking waiters past this many bytes: it bounds one write's memory and latency.
MAX_GROUP_BYTES = 64 * 1024 * 1024


class WriteFailed(Exception):
    """The group this request was in could not be made durable; nothing of it counts as accepted."""


@dataclass
class _Waiter:
    records: list[Accepted]
    size: int
    future: asyncio.Future[None]


@dataclass
class GroupStats:
    """What the writer has done, for logs and benchmarks."""

    groups: int = 0
    requests: int = 0
    events: int = 0
    files: int = 0
    failures: int = 0
    write_seconds: float = 0.0
    largest_group: int = field(default=0)


class GroupCommitWriter:
    """The durable, group-committing writer of one process (start it inside the event loop)."""

    def __init__(
        self,
        settings: Settings,
        *,
        max_inflight: int = 4,
        io_threads: int = 16,
        live_agent: Callable[[str, str], bool] | None = None,
    ) -> None:
        self.storage = DurableStorage(settings)
        self.window_s = settings.ingest_group_commit_ms / 1000
        self.pause_s = settings.ingest_debug_pause_after_write_ms / 1000
        self.stats = GroupStats()
        self._pending: list[_Waiter] = []
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(max_inflight)
        self._inflight: set[asyncio.Task[None]] = set()
        self._pool = ThreadPoolExecutor(max_workers=io_threads, thread_name_prefix="ingest-io")
        self._loop_task: asyncio.Task[None] | None = None
        self._closing = False
        self.loop: asyncio.AbstractEventLoop | None = None
        # Local lakes spool each group (one append, one fsync) and move it to raw files every flush interval.
        self.spool: Spool | None = None
        self.mover: SpoolMover | None = None
        if settings.ingest_spool_flush_ms > 0 and not settings.lake_is_remote:
            self.spool = Spool(settings.lake_root)
            self.mover = SpoolMover(
                self.spool, self.storage, self._pool, settings.ingest_spool_flush_ms / 1000, live_agent=live_agent
            )

    async def start(self) -> None:
        """Move what a crashed process left in the spool, then start taking writes."""
        self.loop = asyncio.get_running_loop()
        if self.mover is not None:
            await self.mover.recover()
            self.mover.start()
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="ingest-group-commit")

    async def flush(self) -> None:
        """Move every answered event into the raw zone now (a no-op without a spool)."""
        if self.mover is not None:
            await self.mover.flush()

    async def close(self) -> None:
        """Write what is pending, wait for the writes in flight, stop."""
        self._closing = True
        self._wakeup.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        if self.mover is not None:
            await self.mover.close()
        self._pool.shutdown(wait=True)

    async def commit(self, records: list[Accepted]) -> None:
        """Return once `records` are durable in the raw zone (raises WriteFailed)."""
        if not records:
            return
        if self._closing or self._loop_task is None or self._loop_task.done():
            raise WriteFailed("the ingest writer is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append(_Waiter(records, sum(len(r.line) + 1 for r in records), future))
        self._wakeup.set()
        await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if not self._pending and self._closing:
                return
            if self.window_s and not self._closing:
                await asyncio.sleep(self.window_s)
            await self._slots.acquire()
            group = self._take_group()
            if not self._pending:
                self._wakeup.clear()
            if not group:
                self._slots.release()
                continue
            task = asyncio.get_running_loop().create_task(self._write_group(group))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def _take_group(self) -> list[_Waiter]:
        group: list[_Waiter] = []
        size = 0
        while self._pending and (not group or size + self._pending[0].size <= MAX_GROUP_BYTES):
            waiter = self._pending.pop(0)
            size += waiter.size
            group.append(waiter)
        return group

    async def _write_group(self, group: list[_Waiter]) -> None:
        try:
            started = time.perf_counter()
            records = [(r.folder, r.line) for w in group for r in w.records]
            if self.spool is not None:
                files: dict[str, bytes] = {}
                error = await self._append_spool(self.spool, encode(records))
            else:
                files = files_of(records)
                error = await self._write_files(files)
            if error is not None:
                await self._fail(group, files, error)
                return
            if self.pause_s:
                # Testing only: the gap between a durable write and its answer, where a crash test kills us.
                await asyncio.sleep(self.pause_s)
            for waiter in group:
                if not waiter.future.done():
                    waiter.future.set_result(None)
            self._count(group, files, time.perf_counter() - started)
        finally:
            # Whatever went wrong, no waiter hangs and none is told its events are stored.
            for waiter in group:
                if not waiter.future.done():
                    waiter.future.set_exception(WriteFailed("the write did not complete"))
            self._slots.release()

    async def _append_spool(self, spool: Spool, data: bytes) -> BaseException | None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, spool.append, data)
        except Exception as exc:  # noqa: BLE001 - as for files: the group fails with a 503
            return exc
        return None

    async def _write_files(self, files: dict[str, bytes]) -> BaseException | None:
        try:
            if self.storage.settings.lake_is_remote:
                await self._put_files(files)
            else:
                await self._write_local(files)
        except Exception as exc:  # noqa: BLE001 - any storage error fails the group with a 503, never a 500
            return exc
        return None

    async def _put_files(self, files: dict[str, bytes]) -> None:
        """Object storage: one PUT per file in parallel, then the arrival record's PUT."""
        loop = asyncio.get_running_loop()
        puts = [loop.run_in_executor(self._pool, self.storage.write_bytes, p, d) for p, d in files.items()]
        _raise_first(await asyncio.gather(*puts, return_exceptions=True))
        arrival_rel, arrival = _arrival_record(files)
        await loop.run_in_executor(self._pool, self.storage.write_bytes, arrival_rel, arrival)

    async def _write_local(self, files: dict[str, bytes]) -> None:
        """Local disk: each data file written, fsync'd, renamed and its folder fsync'd in one thread job, all in
        parallel, with the arrival record staged (written, fsync'd) beside them; the record is renamed into
        place only once every file it names is durable. One job per file: each hop to a thread costs a wakeup
        and a GIL handoff, which measured more than the Python work of the request."""
        loop = asyncio.get_running_loop()
        storage, pool = self.storage, self._pool
        arrival_rel, arrival = _arrival_record(files)
        staging = loop.run_in_executor(pool, storage.stage, arrival_rel, arrival)
        writes = [loop.run_in_executor(pool, storage.write_bytes, p, d) for p, d in files.items()]
        *results, record = await asyncio.gather(*writes, staging, return_exceptions=True)
        if isinstance(record, BaseException):
            raise record
        try:
            _raise_first(results)
            await loop.run_in_executor(pool, _place, storage, record)
        except BaseException:
            storage.discard(record)
            raise

    async def _fail(self, group: list[_Waiter], files: dict[str, bytes], error: BaseException) -> None:
        events = sum(len(w.records) for w in group)
        log.error("ingest write of %d events failed: %s: %s", events, type(error).__name__, error)
        self.stats.failures += 1
        loop = asyncio.get_running_loop()
        for path in files:
            try:
                await loop.run_in_executor(self._pool, self.storage.remove, path)
            except Exception:  # noqa: BLE001 - a leftover file only means duplicates, which bronze drops
                log.warning("could not remove %s after a failed write", path)
        for waiter in group:
            if not waiter.future.done():
                waiter.future.set_exception(WriteFailed(str(error)))

    def _count(self, group: list[_Waiter], files: dict[str, bytes], seconds: float) -> None:
        s = self.stats
        s.groups += 1
        s.requests += len(group)
        s.events += sum(len(w.records) for w in group)
        s.files += len(files)
        s.write_seconds += seconds
        s.largest_group = max(s.largest_group, len(group))


class _Captured:
    """Stands in for the lake in `write_arrival_record`, keeping the record instead of writing it, so the
    record is staged with the data files (one fsync round saved) and the format stays storage.py's."""

    def __init__(self) -> None:
        self.path = ""
        self.data = b""

    def write_json(self, relpath: str, value: object) -> None:
        self.path, self.data = relpath, orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _arrival_record(files: dict[str, bytes]) -> tuple[str, bytes]:
    infos = [FileInfo(path=path, size=len(data), fingerprint=None) for path, data in files.items()]
    captured = _Captured()
    write_arrival_record(captured, infos, writer=WRITER_NAME, arrived=datetime.now(UTC))  # type: ignore[arg-type]
    return captured.path, captured.data


def _place(storage: DurableStorage, staged: Staged) -> None:
    storage.publish(staged)
    fsync_dir(staged.parent)


def _raise_first(results: list[object]) -> None:
    for result in results:
        if isinstance(result, BaseException):
            raise result
