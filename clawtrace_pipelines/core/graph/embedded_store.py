"""The embedded graph's storage: one set of immutable LadybugDB snapshots per tenant, switched atomically.

Layout (one directory per lake, see `graph_home`; one folder per tenant, see `GraphHome.tenant`):

```
<home>/writer.lock                        flock held by the one graph writer of the lake (update or rebuild)
<home>/.staging-<id>/<tenant>/<label>/    a rebuild's staged Parquet, per tenant (deleted when it ends)
<home>/tenants/<tenant_id>/CURRENT        the number of the tenant's snapshot readers open ("7\\n")
<home>/tenants/<tenant_id>/snapshots/<n>/graph.lbug   a complete, checkpointed LadybugDB file of that tenant
<home>/tenants/<tenant_id>/snapshots/.build-<n>/      an update in progress (a copy, then the change)
<home>/tenants/<tenant_id>/writer.lock    flock held while that tenant's build is made and published
```

Why per tenant: a tick's update copies the snapshot of each tenant it touches, so its copy is proportional to
those tenants' graphs, not the lake's (one tenant's 2 GB history is not copied because another tenant sent
one event), and a reader opens exactly one tenant's file, so a query cannot see another tenant's data
whatever its text. The cost: a tick that touches many tenants writes many small files, and a query across
tenants (an operator's) runs once per tenant (`EmbeddedClient.run_all_tenants`).

Per tenant, a writer copies the current snapshot into `.build-<n>`, applies its change there, checkpoints (no
WAL is left beside the file), fsyncs, renames the directory to `<n>` and only then replaces CURRENT: a reader
that reads CURRENT opens a finished file, never a half-written one. Retention, per tenant: the new snapshot
and the one before it are kept, older ones deleted, so a reader that read CURRENT just before a switch can
still open what it read; a reader that opened a snapshot keeps reading its (unlinked) file until it reopens,
which it does on its next query after CURRENT changes (POSIX unlink semantics; the locks are POSIX flock).
Disk: per tenant, two snapshots plus one build at most.

The lake-wide `writer.lock` keeps today's ordering: an update reads silver while holding it, so no writer
publishes rows older than what another writer already published. The tenant's own lock makes each tenant's
build-and-switch exclusive for any writer of that tenant alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import ladybug as lb

from clawtrace_pipelines.core.events import check_uuid
from clawtrace_pipelines.core.graph.embedded_load import schema_ddl
from clawtrace_pipelines.core.settings import Settings

DB_FILE = "graph.lbug"
KEEP_SNAPSHOTS = 2
# The engine's page cache per open snapshot: a reader of a 1M-span graph measured ~200 MB resident.
READER_BUFFER_POOL = 256 * 1024 * 1024
# 0 = the engine's default (80% of RAM, taken only as needed): a full load of 1M spans with their payloads
# needs about 2 GB of it and fails with 1 GB; an update of 10k spans stays near 1 GB resident.
WRITER_BUFFER_POOL = 0


def graph_home(settings: Settings) -> Path:
    """Where the snapshots of `settings.lake` live: `<lake>/state/graph/` for a local lake; for a remote lake
    (s3://...) a local cache, `$XDG_CACHE_HOME/clawtrace/graph/<sha256(lake)[:16]>` (default `~/.cache`),
    because the engine memory-maps a local file. The pipeline and the API must then share that host."""
    if not settings.lake_is_remote:
        return Path(settings.lake_root) / "state" / "graph"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(settings.lake_root.encode()).hexdigest()[:16]
    return cache / "clawtrace" / "graph" / digest


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


class GraphHome:
    """The graph directory of one lake: its tenants' snapshot stores and the lake-wide writer lock."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.tenants_dir = home / "tenants"

    def tenant(self, tenant_id: str) -> SnapshotStore:
        """The snapshot store of one tenant.

        Raises:
            InvalidIdError: `tenant_id` is not a UUID (it becomes a path: nothing else may).
        """
        return SnapshotStore(self.tenants_dir / check_uuid(tenant_id, "tenant_id"))

    def built(self) -> bool:
        """Whether any tenant has a snapshot (False on a new host: the first update is a rebuild)."""
        return bool(self.tenant_ids())

    def tenant_ids(self) -> list[str]:
        """The tenants that have a published snapshot, sorted."""
        try:
            folders = list(self.tenants_dir.iterdir())
        except FileNotFoundError:
            return []
        return sorted(p.name for p in folders if (p / "CURRENT").exists())

    @contextlib.contextmanager
    def writer(self) -> Iterator[None]:
        """Hold the lake-wide writer lock (blocking), after removing staging a crashed rebuild left."""
        with _flock(self.home / "writer.lock"):
            for stale in self.home.glob(".staging-*"):
                shutil.rmtree(stale, ignore_errors=True)
            yield


class SnapshotStore:
    """The snapshot directory of one tenant: which snapshot is current, building and publishing new ones."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.snapshots = home / "snapshots"
        self.pointer = home / "CURRENT"

    def current(self) -> Path | None:
        """The database file CURRENT names, or None before the tenant's first snapshot."""
        number = self.current_number()
        return None if number is None else self.snapshots / str(number) / DB_FILE

    def current_number(self) -> int | None:
        try:
            return int(self.pointer.read_text().strip())
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def writer(self) -> Iterator[None]:
        """Hold the tenant's writer lock (blocking), after removing builds a crashed writer left behind."""
        self.snapshots.mkdir(parents=True, exist_ok=True)
        with _flock(self.home / "writer.lock"):
            for stale in self.snapshots.glob(".build-*"):
                shutil.rmtree(stale, ignore_errors=True)
            yield

    def begin(self, base: Path | None) -> Path:
        """A new build directory holding a copy of `base` (or nothing, for a first build); its database
        file path is returned. Call under `writer()`."""
        numbers = [int(p.name) for p in self.snapshots.iterdir() if p.name.isdigit()]
        number = max([*numbers, self.current_number() or 0]) + 1
        build = self.snapshots / f".build-{number}"
        build.mkdir()
        target = build / DB_FILE
        if base is not None:
            # A full copy of this tenant's file: ext4 and most Linux file systems cannot share extents
            # (no reflink) here.
            shutil.copyfile(base, target)
        return target

    def publish(self, built: Path) -> Path:
        """Make a finished build current: fsync it, rename it to its number, replace CURRENT, prune old
        snapshots. Returns the published database file. Call under `writer()`."""
        build = built.parent
        number = int(build.name.removeprefix(".build-"))
        for leftover in build.glob(f"{DB_FILE}.*"):
            # The build was checkpointed and closed: a WAL or shadow file left here holds nothing.
            leftover.unlink()
        _fsync(built)
        final = self.snapshots / str(number)
        os.replace(build, final)
        _fsync(self.snapshots)
        staged = self.home / "CURRENT.tmp"
        staged.write_text(f"{number}\n")
        _fsync(staged)
        os.replace(staged, self.pointer)
        _fsync(self.home)
        self.prune(number)
        return final / DB_FILE

    def prune(self, current: int) -> None:
        """Delete snapshots older than the last `KEEP_SNAPSHOTS` (readers of the previous one keep it)."""
        for path in self.snapshots.iterdir():
            if path.name.isdigit() and int(path.name) <= current - KEEP_SNAPSHOTS:
                shutil.rmtree(path, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_writer(path: Path, *, create: bool) -> tuple[lb.Database, lb.Connection]:
    """A read-write database on a build file, with the schema created when `create`."""
    # Checkpoints are explicit (one per build, at close): automatic ones would rewrite the same pages after
    # every statement of an update.
    db = lb.Database(str(path), buffer_pool_size=WRITER_BUFFER_POOL, auto_checkpoint=False)
    conn = lb.Connection(db)
    if create:
        for statement in schema_ddl():
            conn.execute(statement)
    return db, conn


def close_writer(db: lb.Database, conn: lb.Connection) -> None:
    """Checkpoint (fold the WAL into the file) and close, so the file alone is the snapshot."""
    conn.execute("CHECKPOINT")
    conn.close()
    db.close()


@dataclass
class GraphUpdateReport:
    """What one graph update or rebuild wrote (rows per label, snapshots per tenant) and what it cost."""

    mode: str  # "update", "rebuild", or "none" (nothing queued, or no silver tables yet)
    traces: int = 0
    # The snapshot each written tenant's readers open now.
    snapshots: dict[str, Path] = field(default_factory=dict)
    # Bytes of tenant snapshots copied into builds (an update's copy; a rebuild copies nothing).
    bytes_copied: int = 0
    # The pg_traces trace dates an update read, inclusive (None for a rebuild or nothing read).
    read_from: str | None = None
    read_to: str | None = None
    # Queued traces with no pg_traces row in that window: left as they were in the graph.
    not_found: int = 0
    vertices: dict[str, int] = field(default_factory=dict)
    edges: dict[str, int] = field(default_factory=dict)
    # Rows left out because a vertex they need is absent (a parent span whose events never arrived).
    dropped: dict[str, int] = field(default_factory=dict)
    read_seconds: float = 0.0
    copy_seconds: float = 0.0
    write_seconds: float = 0.0
    seconds: float = 0.0
    # Listings and lake reads of the update (core/lake/io_stats.py), set by whoever measured it.
    io: dict[str, int] = field(default_factory=dict)

    @property
    def tenants_written(self) -> int:
        return len(self.snapshots)

    def metadata(self) -> dict[str, str | int | float]:
        """Flat values for materialization metadata: `tenants_written`, `bytes_copied`, `vertices_Span`, ..."""
        flat: dict[str, str | int | float] = {"mode": self.mode, "traces": self.traces}
        flat |= {"tenants_written": self.tenants_written, "bytes_copied": self.bytes_copied}
        flat |= {"read_from": self.read_from or "", "read_to": self.read_to or "", "not_found": self.not_found}
        for prefix, counts in (("vertices", self.vertices), ("edges", self.edges), ("dropped", self.dropped)):
            flat.update({f"{prefix}_{label}": n for label, n in counts.items()})
        for name in ("read_seconds", "copy_seconds", "write_seconds", "seconds"):
            flat[name] = round(getattr(self, name), 3)
        return flat | self.io
