"""What a step read from the lake: listings, and per table the reads, data files opened and their bytes.

A tick's cost must follow its new data, not the lake's history; these counts show it (and tests assert them
on lakes with 10x more history, counts rather than timings). `measure()` collects everything the lake I/O of
the current thread records while it is open:

    with measure() as io:
        run_silver(settings)
    io.tables["pg_traces"].files

Files and bytes are those of the data files the table format plans for a read (Delta: the files of the
partitions the read's filters select; Iceberg: the files of the scan plan, after partition and statistics
pruning).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass
class TableReads:
    reads: int = 0
    files: int = 0
    bytes: int = 0


@dataclass
class IoStats:
    """Counts of one measured block."""

    listings: int = 0  # directory listings of the raw zone, the queues and state folders
    listed: int = 0  # entries those listings returned
    tables: dict[str, TableReads] = field(default_factory=dict)

    def table(self, name: str) -> TableReads:
        return self.tables.setdefault(name, TableReads())

    def metadata(self) -> dict[str, int]:
        """Flat values for Dagster metadata and benchmark JSON: `files_listed`, `read_files_pg_traces`, ..."""
        flat = {"listings": self.listings, "files_listed": self.listed}
        for name, reads in sorted(self.tables.items()):
            flat[f"read_files_{name}"] = reads.files
            flat[f"read_bytes_{name}"] = reads.bytes
        flat["read_files_total"] = sum(r.files for r in self.tables.values())
        flat["read_bytes_total"] = sum(r.bytes for r in self.tables.values())
        return flat


_active = threading.local()


def _recorders() -> list[IoStats]:
    stack: list[IoStats] | None = getattr(_active, "stack", None)
    if stack is None:
        stack = _active.stack = []
    return stack


@contextlib.contextmanager
def measure() -> Iterator[IoStats]:
    """Collect the lake I/O of this thread inside the block (blocks may nest; each sees its own part)."""
    stats = IoStats()
    _recorders().append(stats)
    try:
        yield stats
    finally:
        _recorders().remove(stats)


def recording() -> bool:
    """Whether any block is measuring (so readers can skip computing what nobody collects)."""
    return bool(_recorders())


def record_read(table: str, files: int, size: int) -> None:
    for stats in _recorders():
        reads = stats.table(table)
        reads.reads += 1
        reads.files += files
        reads.bytes += size


def record_listing(entries: int) -> None:
    for stats in _recorders():
        stats.listings += 1
        stats.listed += entries
