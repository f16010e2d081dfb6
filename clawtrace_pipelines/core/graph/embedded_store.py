"""The embedded graph's storage: immutable LadybugDB snapshots on local disk, switched atomically.

Layout (one directory per lake, see `graph_home`):

```
<home>/CURRENT                 the number of the snapshot readers open ("7\\n"), replaced with os.replace
<home>/snapshots/<n>/graph.lbug  a complete, checkpointed LadybugDB file; never modified once published
<home>/snapshots/.build-<n>/   an update in progress (a copy of the current snapshot, then the change)
<home>/writer.lock             flock held by the one writer (two overlapping ticks wait for each other)
```

A writer copies the current snapshot into `.build-<n>`, applies its change there, checkpoints (no WAL is left
beside the file), fsyncs, renames the directory to `<n>` and only then replaces CURRENT: a reader that reads
CURRENT opens a finished file, never a half-written one. Retention: an update keeps the new snapshot and the
one before it and deletes older ones, so a reader that read CURRENT just before a switch can still open what
it read; a reader that opened a snapshot keeps reading its (unlinked) file until it reopens, which it does on
its next query after CURRENT changes (POSIX unlink semantics; the writer lock is POSIX flock too). Disk: two
snapshots plus one build at most (about 3 x 2.2 GB for 1M spans with their payloads).

This module also holds the engine DDL and the write statements, generated from `definition.py`, and
`write_rows`, which applies one batch of silver rows to an open build.
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
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clawtrace_pipelines.core.graph.definition import (
    AGENT,
    BOOLEAN,
    CHILD_OF,
    DATE,
    DOUBLE,
    EDGES,
    HAS_AGENT,
    HAS_SPAN,
    INT,
    LONG,
    OWNS,
    SPAN,
    STRING,
    TENANT,
    TRACE,
    VERTICES,
    Edge,
    Vertex,
    vertex,
)
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import PG_AGENTS, PG_CHILD_OF_EDGES, PG_SPANS, PG_TENANTS, PG_TRACES

DB_FILE = "graph.lbug"
KEEP_SNAPSHOTS = 2
# The engine's page cache per open snapshot: a reader of a 1M-span graph measured ~200 MB resident.
READER_BUFFER_POOL = 256 * 1024 * 1024
# 0 = the engine's default (80% of RAM, taken only as needed): a full load of 1M spans with their payloads
# needs about 2 GB of it and fails with 1 GB; an update of 10k spans stays near 1 GB resident.
WRITER_BUFFER_POOL = 0

# Graph property type -> (engine column type, the Arrow type loaded into it).
ENGINE_TYPES: dict[str, tuple[str, pa.DataType]] = {
    STRING: ("STRING", pa.string()),
    LONG: ("INT64", pa.int64()),
    INT: ("INT32", pa.int32()),
    DOUBLE: ("DOUBLE", pa.float64()),
    BOOLEAN: ("BOOLEAN", pa.bool_()),
    DATE: ("DATE", pa.date32()),
}


def graph_home(settings: Settings) -> Path:
    """Where the snapshots of `settings.lake` live: `<lake>/state/graph/` for a local lake; for a remote lake
    (s3://...) a local cache, `$XDG_CACHE_HOME/clawtrace/graph/<sha256(lake)[:16]>` (default `~/.cache`),
    because the engine memory-maps a local file. The pipeline and the API must then share that host."""
    if not settings.lake_is_remote:
        return Path(settings.lake_root) / "state" / "graph"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    digest = hashlib.sha256(settings.lake_root.encode()).hexdigest()[:16]
    return cache / "clawtrace" / "graph" / digest


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _id_property(v: Vertex) -> str:
    return next(p.name for p in v.properties if p.column == v.id_column)


def schema_ddl() -> list[str]:
    """CREATE NODE/REL TABLE statements for every vertex and edge of the definition."""
    statements = []
    for v in VERTICES:
        columns = ", ".join(f"{_quote(p.name)} {ENGINE_TYPES[p.type][0]}" for p in v.embedded_properties)
        statements.append(f"CREATE NODE TABLE {_quote(v.label)}({columns}, PRIMARY KEY({_quote(_id_property(v))}))")
    for e in EDGES:
        columns = "".join(f", {_quote(p.name)} {ENGINE_TYPES[p.type][0]}" for p in e.properties)
        statements.append(
            f"CREATE REL TABLE {_quote(e.label)}(FROM {_quote(e.from_vertex)} TO {_quote(e.to_vertex)}{columns})"
        )
    return statements


def _engine_column(column: pa.ChunkedArray, graph_type: str) -> pa.ChunkedArray:
    # Large strings load as they are: casting a day of payloads to 32-bit offsets could overflow.
    if graph_type == STRING and pa.types.is_large_string(column.type):
        return column
    return column.cast(ENGINE_TYPES[graph_type][1])


def vertex_rows(v: Vertex, data: pa.Table) -> pa.Table:
    """Silver rows as the engine's columns of `v`, in DDL order (decimals become doubles)."""
    return pa.table({p.name: _engine_column(data.column(p.column), p.type) for p in v.embedded_properties})


def edge_rows(e: Edge, data: pa.Table) -> pa.Table:
    """Silver rows as `(from key, to key, properties...)`, the column order COPY of a rel table expects."""
    columns = {"_from": data.column(e.from_column), "_to": data.column(e.to_column)}
    columns.update({p.name: _engine_column(data.column(p.column), p.type) for p in e.properties})
    return pa.table(columns)


class SnapshotStore:
    """The snapshot directory of one lake: which snapshot is current, building and publishing new ones."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.snapshots = home / "snapshots"
        self.pointer = home / "CURRENT"

    def current(self) -> Path | None:
        """The database file CURRENT names, or None before the first snapshot."""
        number = self.current_number()
        return None if number is None else self.snapshots / str(number) / DB_FILE

    def current_number(self) -> int | None:
        try:
            return int(self.pointer.read_text().strip())
        except FileNotFoundError:
            return None

    @contextlib.contextmanager
    def writer(self) -> Iterator[None]:
        """Hold the writer lock (blocking), after removing builds a crashed writer left behind."""
        self.snapshots.mkdir(parents=True, exist_ok=True)
        with open(self.home / "writer.lock", "a+b") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                for stale in self.snapshots.glob(".build-*"):
                    shutil.rmtree(stale, ignore_errors=True)
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def begin(self, base: Path | None) -> Path:
        """A new build directory holding a copy of `base` (or nothing, for a first build); its database
        file path is returned. Call under `writer()`."""
        numbers = [int(p.name) for p in self.snapshots.iterdir() if p.name.isdigit()]
        number = max([*numbers, self.current_number() or 0]) + 1
        build = self.snapshots / f".build-{number}"
        build.mkdir()
        target = build / DB_FILE
        if base is not None:
            # A full copy: ext4 and most Linux file systems cannot share extents (no reflink) here.
            shutil.copyfile(base, target)
        return target

    def publish(self, built: Path) -> Path:
        """Make a finished build current: fsync it, rename it to its number, replace CURRENT, prune old
        snapshots. Returns the published database file."""
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


class DirectLoader:
    """Applies a change inside a copy of the current snapshot: upserts, deletes, COPY of the new rows."""

    def __init__(self, conn: lb.Connection) -> None:
        self.conn = conn

    def vertices(self, v: Vertex, data: pa.Table, *, upsert: bool = False) -> int:
        """Insert vertices (keys absent from the graph), or insert-or-update them by key, keeping their edges."""
        if not data.num_rows:
            return 0
        rows = vertex_rows(v, data)
        if not upsert:
            self.conn.execute(f"COPY {_quote(v.label)} FROM $rows", {"rows": rows})
            return int(rows.num_rows)
        # LOAD FROM binds each column as a variable: positional names keep property names out of that scope.
        aliases = [f"c{i}" for i in range(rows.num_columns)]
        key = _id_property(v)
        sets = ", ".join(f"n.{_quote(p)} = {a}" for p, a in zip(rows.column_names, aliases, strict=True) if p != key)
        key_alias = aliases[rows.column_names.index(key)]
        self.conn.execute(
            f"LOAD FROM $rows MERGE (n:{_quote(v.label)} {{{_quote(key)}: {key_alias}}}) SET {sets}",
            {"rows": rows.rename_columns(aliases)},
        )
        return int(rows.num_rows)

    def edges(self, e: Edge, data: pa.Table, *, upsert: bool = False) -> int:
        """Insert edges between existing vertices, or insert-or-update one edge per (from, to)."""
        if not data.num_rows:
            return 0
        rows = edge_rows(e, data)
        if not upsert:
            self.conn.execute(f"COPY {_quote(e.label)} FROM $rows", {"rows": rows})
            return int(rows.num_rows)
        aliases = [f"c{i}" for i in range(rows.num_columns)]
        source, target = (vertex(label) for label in (e.from_vertex, e.to_vertex))
        sets = ", ".join(f"r.{_quote(p.name)} = {a}" for p, a in zip(e.properties, aliases[2:], strict=True))
        self.conn.execute(
            f"LOAD FROM $rows MATCH (a:{_quote(source.label)} {{{_quote(_id_property(source))}: c0}}), "
            f"(b:{_quote(target.label)} {{{_quote(_id_property(target))}: c1}}) "
            f"MERGE (a)-[r:{_quote(e.label)}]->(b)" + (f" SET {sets}" if sets else ""),
            {"rows": rows.rename_columns(aliases)},
        )
        return int(rows.num_rows)

    def delete_traces(self, trace_keys: list[str]) -> None:
        """Delete these traces, their spans and every edge touching them."""
        if trace_keys:
            self.conn.execute(
                f"UNWIND $keys AS k MATCH (t:{_quote(TRACE.label)} {{{_quote(_id_property(TRACE))}: k}}) "
                f"OPTIONAL MATCH (t)-[:{_quote(HAS_SPAN.label)}]->(s:{_quote(SPAN.label)}) DETACH DELETE t, s",
                {"keys": trace_keys},
            )


class StagedLoader:
    """Stages a full build as one Parquet file per label, then loads each with a single COPY.

    Rows arrive a day at a time, so Python holds one day; the engine streams the files. Appending many COPYs
    to one table instead costs far more: every append rewrites the table's last node group and its strings.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.writers: dict[str, pq.ParquetWriter] = {}

    def vertices(self, v: Vertex, data: pa.Table, *, upsert: bool = False) -> int:
        return self._stage(v.label, vertex_rows(v, data))

    def edges(self, e: Edge, data: pa.Table, *, upsert: bool = False) -> int:
        return self._stage(e.label, edge_rows(e, data))

    def delete_traces(self, trace_keys: list[str]) -> None:
        if trace_keys:
            raise ValueError("a staged (full) build has nothing to delete")

    def _stage(self, label: str, rows: pa.Table) -> int:
        if rows.num_rows:
            if label not in self.writers:
                self.directory.mkdir(parents=True, exist_ok=True)
                self.writers[label] = pq.ParquetWriter(self.directory / f"{label}.parquet", rows.schema)
            self.writers[label].write_table(rows.cast(self.writers[label].schema))
        return int(rows.num_rows)

    def load(self, conn: lb.Connection) -> None:
        """COPY every staged file, vertices before the edges between them, then delete the files."""
        for writer in self.writers.values():
            writer.close()
        for label in [v.label for v in VERTICES] + [e.label for e in EDGES]:
            if label in self.writers:
                path = str(self.directory / f"{label}.parquet").replace("\\", "\\\\").replace('"', '\\"')
                conn.execute(f'COPY {_quote(label)} FROM "{path}"')
        shutil.rmtree(self.directory, ignore_errors=True)


Loader = DirectLoader | StagedLoader


def keep_where_in(data: pa.Table, column: str, values: pa.Array | pa.ChunkedArray) -> pa.Table:
    """Rows of `data` whose `column` is one of `values`."""
    if data.num_rows == 0:
        return data
    return data.filter(pc.is_in(data.column(column), value_set=values))


@dataclass
class GraphUpdateReport:
    """What one graph update or rebuild wrote (rows per label) and where its time went."""

    mode: str  # "update", "rebuild", or "none" (nothing queued, or no silver tables yet)
    traces: int = 0
    snapshot: Path | None = None
    vertices: dict[str, int] = field(default_factory=dict)
    edges: dict[str, int] = field(default_factory=dict)
    # Rows left out because a vertex they need is absent (a parent span whose events never arrived).
    dropped: dict[str, int] = field(default_factory=dict)
    read_seconds: float = 0.0
    copy_seconds: float = 0.0
    write_seconds: float = 0.0
    seconds: float = 0.0

    def metadata(self) -> dict[str, str | int | float]:
        """Flat values for materialization metadata: `vertices_Span`, `edges_CHILD_OF`, `seconds`, ..."""
        flat: dict[str, str | int | float] = {"mode": self.mode, "traces": self.traces}
        flat["snapshot"] = "" if self.snapshot is None else str(self.snapshot)
        for prefix, counts in (("vertices", self.vertices), ("edges", self.edges), ("dropped", self.dropped)):
            flat.update({f"{prefix}_{label}": n for label, n in counts.items()})
        for name in ("read_seconds", "copy_seconds", "write_seconds", "seconds"):
            flat[name] = round(getattr(self, name), 3)
        return flat


@dataclass(frozen=True)
class SilverRows:
    """Silver rows to project: tenants and agents to upsert; traces, their spans and child edges to replace."""

    tenants: pa.Table
    agents: pa.Table
    traces: pa.Table
    spans: pa.Table
    child_of: pa.Table

    @classmethod
    def of(cls, **tables: pa.Table) -> SilverRows:
        specs = {"tenants": PG_TENANTS, "agents": PG_AGENTS, "traces": PG_TRACES, "spans": PG_SPANS}
        specs["child_of"] = PG_CHILD_OF_EDGES
        return cls(**{name: tables.get(name, spec.schema.empty_table()) for name, spec in specs.items()})


def write_rows(
    loader: Loader,
    rows: SilverRows,
    delete_keys: list[str],
    agent_keys: pa.ChunkedArray,
    report: GraphUpdateReport,
) -> None:
    """Apply one batch: upsert tenants and agents, replace the traces of `delete_keys` by `rows.traces`.

    Rows whose vertices would be missing are counted in `report.dropped`, not loaded: the engine refuses an
    edge to a missing vertex, and a Span must hang off its Trace to be found when the trace is replaced.
    """
    has_agent = keep_where_in(rows.agents, "tenant_id", rows.tenants.column("tenant_id"))
    owns = keep_where_in(rows.traces, "agent_key", agent_keys)
    spans = keep_where_in(rows.spans, "trace_key", rows.traces.column("trace_key"))
    span_keys = spans.column("span_key")
    child_of = keep_where_in(keep_where_in(rows.child_of, "span_key", span_keys), "parent_span_key", span_keys)
    written = [
        (report.vertices, TENANT.label, loader.vertices(TENANT, rows.tenants, upsert=True)),
        (report.vertices, AGENT.label, loader.vertices(AGENT, rows.agents, upsert=True)),
        (report.edges, HAS_AGENT.label, loader.edges(HAS_AGENT, has_agent, upsert=True)),
    ]
    loader.delete_traces(delete_keys)
    written += [
        (report.vertices, TRACE.label, loader.vertices(TRACE, rows.traces)),
        (report.edges, OWNS.label, loader.edges(OWNS, owns)),
        (report.vertices, SPAN.label, loader.vertices(SPAN, spans)),
        (report.edges, HAS_SPAN.label, loader.edges(HAS_SPAN, spans)),
        (report.edges, CHILD_OF.label, loader.edges(CHILD_OF, child_of)),
    ]
    for counts, label, n in written:
        counts[label] = counts.get(label, 0) + n
    for label, total, kept in (
        (HAS_AGENT.label, rows.agents, has_agent),
        (OWNS.label, rows.traces, owns),
        (SPAN.label, rows.spans, spans),
        (CHILD_OF.label, rows.child_of, child_of),
    ):
        if total.num_rows > kept.num_rows:
            report.dropped[label] = report.dropped.get(label, 0) + total.num_rows - kept.num_rows
