"""The ingest spool: one local append-only log per process that makes a group of events durable with one write
and one fsync; a mover turns it into raw files, one per agent folder, every `ingest_spool_flush_ms`.

Why: the plugin sends one event per request and every agent writes to its own raw folder, so a group commit of
16 requests from 16 agents wrote 16 files, and creating, fsyncing and renaming a file costs this machine about
0.4 ms of CPU: most of what a single-event request cost. The spool writes each group as lines appended to one
file (`<raw folder>\\t<NDJSON line>\\n`), and the mover writes the same raw files and arrival record
the direct path writes, only for a second's worth of requests at once.

Durability is unchanged: a request is answered only once its lines are fsync'd in the spool, on the lake's own
disk (the spool is used for local lakes only; on object storage each group is PUT directly, since a host's
disk is not as durable as the store). A segment is deleted only after its raw files and their arrival record
are durable, so a crash between the two re-moves it, and bronze drops the duplicates by event id. Each process
holds an exclusive `flock` on the segments it owns; a process that starts moves every segment nobody holds
(those of a crashed process) before it serves. A line torn by a crash mid-write was never answered and is
dropped.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

from clawtrace_api.ingest.durable import fsync_dir

log = logging.getLogger(__name__)

SUFFIX = ".spool"


@dataclass
class Segment:
    """One spool file this process holds open, locked, and appends to until it is rotated."""

    path: Path
    fd: int
    size: int = 0
    # Left by a process that stopped (taken over by `orphans`), not written by this one.
    recovered: bool = False


def spool_dir(lake_root: str) -> Path:
    return Path(lake_root) / "state" / "api" / "spool"


def encode(records: list[tuple[str, bytes]]) -> bytes:
    """Spool lines for (raw folder, NDJSON line) pairs: a folder never holds a tab, a line never a newline."""
    return b"".join(folder.encode() + b"\t" + line + b"\n" for folder, line in records)


def decode(data: bytes) -> list[tuple[str, bytes]]:
    """The complete lines of a segment; a torn last line (no newline: never answered) is dropped."""
    lines = data.split(b"\n")
    if lines[-1]:
        log.warning("dropping a torn spool line of %d bytes", len(lines[-1]))
    out = []
    for line in lines[:-1]:
        folder, _, body = line.partition(b"\t")
        out.append((folder.decode(), body))
    return out


class Spool:
    """The segments of one process (thread-safe: appends serialize on one lock, fsyncs follow them)."""

    def __init__(self, lake_root: str) -> None:
        self.dir = spool_dir(lake_root)
        self._lock = threading.Lock()
        self._segment: Segment | None = None

    def append(self, data: bytes) -> None:
        """Write `data` at the end of the current segment and make it durable (call from a worker thread)."""
        with self._lock:
            segment = self._segment or self._open()
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(segment.fd, view) :]
                os.fdatasync(segment.fd)
            except BaseException:
                # Nothing of a failed append may be moved later: cut the segment back to what was answered.
                with contextlib.suppress(OSError):
                    os.ftruncate(segment.fd, segment.size)
                raise
            segment.size += len(data)

    def rotate(self) -> Segment | None:
        """Close the current segment for appends and hand it over (still locked) to be moved; None if empty."""
        with self._lock:
            segment = self._segment
            if segment is None or segment.size == 0:
                return None
            self._segment = None
            return segment

    def orphans(self) -> list[Segment]:
        """Segments no live process holds (a crashed process's), locked now by this one, oldest first."""
        if not self.dir.is_dir():
            return []
        found = []
        for path in sorted(self.dir.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime):
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            found.append(Segment(path, fd, os.fstat(fd).st_size, recovered=True))
        return found

    @staticmethod
    def read(segment: Segment) -> list[tuple[str, bytes]]:
        return decode(os.pread(segment.fd, segment.size, 0)) if segment.size else []

    def remove(self, segment: Segment) -> None:
        """Delete a moved segment (its raw files are durable) and release it."""
        try:
            segment.path.unlink(missing_ok=True)
            fsync_dir(str(self.dir))
        finally:
            os.close(segment.fd)

    def release(self, segment: Segment) -> None:
        """Stop holding a segment that could not be moved: a later start moves it."""
        os.close(segment.fd)

    def _open(self) -> Segment:
        if not self.dir.is_dir():
            self.dir.mkdir(parents=True, exist_ok=True)
            fsync_dir(str(self.dir.parent))
        path = self.dir / f"{uuid.uuid4().hex}{SUFFIX}"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # The new file's entry must survive a power cut before anything in it counts as durable.
        fsync_dir(str(self.dir))
        self._segment = Segment(path, fd)
        return self._segment
