"""Raw files -> candidate `events_all` rows as Arrow, in worker processes when there is enough work.

Parsing is pure Python (the contract's pydantic models are the judge of every record), so a big backfill
spreads it over the machine's cores; each worker reads its own files and returns one Arrow table, which
crosses the process boundary as a few buffers rather than millions of Python objects.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.lake.storage import FileInfo, LakeStorage, read_many
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL
from clawtrace_pipelines.lib.bronze_rules import ROW_COLUMNS, ParsedFile, parse_file

log = logging.getLogger(__name__)

GROUP_FILES = 256
GROUP_BYTES = 16 << 20
# Below this much raw data a pool costs more (process start-up, imports) than it saves.
POOL_MIN_BYTES = 48 << 20


@dataclass
class ParsedGroup:
    """Parsed files (rows detached), their candidate rows (`_file` indexes `files`), and unreadable paths."""

    files: list[ParsedFile]
    rows: pa.Table
    missing: list[str]


def parse_group(settings: Settings, paths: list[str], now: datetime) -> ParsedGroup:
    """Read and parse some raw files (runs in a worker process or inline)."""
    storage = LakeStorage(settings)
    got = read_many(storage, paths)
    files: list[ParsedFile] = []
    missing: list[str] = []
    for path in paths:
        data = got[path]
        if isinstance(data, Exception):
            missing.append(path)
            continue
        files.append(
            parse_file(
                path, data, max_record_bytes=settings.max_record_bytes, excerpt_chars=settings.rejected_excerpt_chars
            )
        )
    return ParsedGroup(files=files, rows=candidate_table(files, now), missing=missing)


def candidate_table(files: list[ParsedFile], now: datetime) -> pa.Table:
    """The files' candidate rows in the `events_all` schema plus `_file` (index into `files`) and `line`."""
    rows: list[tuple] = []
    file_ids: list[int] = []
    for i, f in enumerate(files):
        detached = f.detach_rows()
        rows.extend(detached)
        file_ids.extend([i] * len(detached))
    n = len(rows)
    columns = dict(zip(ROW_COLUMNS, zip(*rows, strict=True), strict=True)) if rows else dict.fromkeys(ROW_COLUMNS, ())
    ts = pa.array(columns["event_ts_ms"], pa.int64())
    arrays = {
        "ingest_ts": pa.array([now] * n, EVENTS_ALL.schema.field("ingest_ts").type),
        "event_date": pc.cast(pc.cast(ts, pa.timestamp("ms", tz="UTC")), pa.date32()),
        "event_ts_ms": ts,
    }
    table = pa.table(
        [
            arrays[name] if name in arrays else pa.array(columns[name], EVENTS_ALL.schema.field(name).type)
            for name in EVENTS_ALL.schema.names
        ],
        schema=EVENTS_ALL.schema,
    )
    file_col = pa.array(file_ids, pa.int64())
    return table.append_column("_file", file_col).append_column("line", pa.array(columns["line"], pa.int64()))


def _groups(files: list[FileInfo]) -> list[list[str]]:
    groups: list[list[str]] = []
    current: list[str] = []
    size = 0
    for f in files:
        if current and (len(current) >= GROUP_FILES or size + f.size > GROUP_BYTES):
            groups.append(current)
            current, size = [], 0
        current.append(f.path)
        size += max(f.size, 0)
    if current:
        groups.append(current)
    return groups


def workers_for(settings: Settings, files: list[FileInfo]) -> int:
    if settings.parse_workers:
        return settings.parse_workers
    if sum(max(f.size, 0) for f in files) < POOL_MIN_BYTES:
        return 1
    return max(1, min(os.cpu_count() or 1, 4))


def parse_files(settings: Settings, files: list[FileInfo], now: datetime, workers: int) -> Iterator[ParsedGroup]:
    """Parsed groups of files, in the order of `files`; at most 4 groups per worker in flight (bounded memory)."""
    groups = _groups(files)
    if workers <= 1:
        for paths in groups:
            yield parse_group(settings, paths, now)
        return
    # spawn, not fork: the parent holds Rust and DuckDB thread pools that a forked child would inherit broken.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        pending: deque[Future[ParsedGroup]] = deque()
        for paths in groups:
            pending.append(pool.submit(parse_group, settings, paths, now))
            if len(pending) >= 4 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
