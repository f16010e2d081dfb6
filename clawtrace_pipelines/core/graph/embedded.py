"""The embedded graph engine (LadybugDB, in-process): a projection of the silver tables, updated per tick.

`EmbeddedGraph` writes snapshots (`embedded_store.py` describes their layout and the atomic switch):
`update(traces)` copies the current snapshot, replaces exactly those traces there (their Trace and Span
vertices and every edge touching them, from the silver rows now in the lake), upserts their agents and
tenants, and switches; `rebuild()` loads everything into a fresh snapshot. `EmbeddedClient` is the
`GraphClient` of the API: it reads the current snapshot and moves to a newer one on its first query after a
switch. `run_graph_update(settings)` is one tick: read the queue silver filled, update, acknowledge.
"""

from __future__ import annotations

import datetime as dt
import decimal
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import ladybug as lb
import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.graph.client import (
    ClientOptions,
    GraphQueryError,
    GraphResultTooLargeError,
    GraphTimeoutError,
    GraphUnavailableError,
    Row,
)
from clawtrace_pipelines.core.graph.definition import SPAN, TRACE
from clawtrace_pipelines.core.graph.embedded_store import (
    DB_FILE,
    READER_BUFFER_POOL,
    DirectLoader,
    GraphUpdateReport,
    Loader,
    SilverRows,
    SnapshotStore,
    StagedLoader,
    close_writer,
    graph_home,
    keep_where_in,
    open_writer,
    write_rows,
)
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import PG_AGENTS, PG_CHILD_OF_EDGES, PG_SPANS, PG_TENANTS, PG_TRACES

log = logging.getLogger(__name__)

DAY_MS = 86_400_000
# What the embedded copy stores of a span (payloads stay in the lake; see definition.Property.embedded).
SPAN_COLUMNS = [p.column for p in SPAN.embedded_properties]


class EmbeddedGraph:
    """The writer of one lake's graph snapshots (one writer at a time, across processes)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = SnapshotStore(graph_home(settings))

    def current_snapshot(self) -> Path | None:
        """The database file readers open now (None before the first snapshot)."""
        return self.store.current()

    def update(self, traces: pa.Table) -> GraphUpdateReport:
        """Replace these traces in a new snapshot and switch to it. Without a snapshot yet (a new host, a
        deleted cache) this is a `rebuild()`, so the graph never holds only the latest traces.

        Args:
            traces: `tenant_id`, `trace_id`, `min_ts_ms`, `max_ts_ms` (the rows of the graph queue).

        Returns:
            The report; `mode` is "none" when `traces` is empty.
        """
        started = time.perf_counter()
        with self.store.writer():
            base = self.store.current()
            if base is None:
                return self._rebuild(started)
            if not traces.num_rows:
                return GraphUpdateReport(mode="none", snapshot=base)
            report = GraphUpdateReport(mode="update", traces=traces.num_rows)
            # Copying the snapshot is disk-bound and reading the lake is not: they overlap.
            with ThreadPoolExecutor(max_workers=1) as pool:
                copying = pool.submit(self._copy, base, report)
                try:
                    rows = self._read_traces(traces)
                except BaseException:
                    shutil.rmtree(copying.result().parent, ignore_errors=True)
                    raise
                target = copying.result()
            report.read_seconds = time.perf_counter() - started
            keys = pc.binary_join_element_wise(traces.column("tenant_id"), traces.column("trace_id"), "/").to_pylist()
            agent_keys = rows.agents.column("agent_key")
            return self._finish(
                report, target, lambda loader: write_rows(loader, rows, keys, agent_keys, report), started
            )

    def rebuild(self) -> GraphUpdateReport:
        """Load every silver row into a fresh snapshot and switch to it (mode "none" without silver)."""
        started = time.perf_counter()
        with self.store.writer():
            return self._rebuild(started)

    def _rebuild(self, started: float) -> GraphUpdateReport:
        if not open_table(PG_TRACES, self.settings).exists():
            return GraphUpdateReport(mode="none")
        report = GraphUpdateReport(mode="rebuild")
        tenants = open_table(PG_TENANTS, self.settings).read()
        agents = open_table(PG_AGENTS, self.settings).read()
        agent_keys = agents.column("agent_key")
        days = pc.unique(open_table(PG_TRACES, self.settings).read(columns=["trace_date"]).column("trace_date"))

        def load_all(loader: Loader) -> None:
            write_rows(loader, SilverRows.of(tenants=tenants, agents=agents), [], agent_keys, report)
            # One day at a time: memory holds a day's spans, not the lake's.
            for day in sorted(days.to_pylist()):
                write_rows(loader, self._read_day(day), [], agent_keys, report)
            report.read_seconds = time.perf_counter() - started

        report = self._finish(report, self.store.begin(None), load_all, started)
        report.traces = report.vertices.get(TRACE.label, 0)
        return report

    def _copy(self, base: Path, report: GraphUpdateReport) -> Path:
        t0 = time.perf_counter()
        target = self.store.begin(base)
        report.copy_seconds = time.perf_counter() - t0
        return target

    def _finish(
        self, report: GraphUpdateReport, target: Path, apply: Callable[[Loader], None], started: float
    ) -> GraphUpdateReport:
        """Apply the change to the build at `target` (a copy to change in place, or a new file to stage a full
        load for), checkpoint, and publish it."""
        fresh = not target.exists()
        try:
            staged = StagedLoader(target.parent / "staging") if fresh else None
            if staged is not None:
                apply(staged)
            t0 = time.perf_counter()
            db, conn = open_writer(target, create=fresh)
            try:
                if staged is not None:
                    staged.load(conn)
                else:
                    apply(DirectLoader(conn))
            except BaseException:
                conn.close()
                db.close()
                raise
            close_writer(db, conn)
            report.write_seconds = time.perf_counter() - t0
            report.snapshot = self.store.publish(target)
        finally:
            shutil.rmtree(target.parent, ignore_errors=True)
        report.seconds = time.perf_counter() - started
        log.info(
            "graph %s: %d traces, vertices %s, edges %s in %.2fs (read %.2fs, copy %.2fs, write %.2fs)",
            report.mode,
            report.traces,
            report.vertices,
            report.edges,
            report.seconds,
            report.read_seconds,
            report.copy_seconds,
            report.write_seconds,
        )
        return report

    def _read_traces(self, traces: pa.Table) -> SilverRows:
        """The silver rows of exactly these (tenant, trace) pairs: pg_traces first (a trace starts on or
        before the day of its earliest queued event), then spans and edges of the days found."""
        tenants = pc.unique(traces.column("tenant_id")).to_pylist()
        trace_ids = pc.unique(traces.column("trace_id")).to_pylist()
        last_day = _day(int(pc.max(traces.column("min_ts_ms")).as_py()))
        wanted = pc.binary_join_element_wise(traces.column("tenant_id"), traces.column("trace_id"), "/")
        by_trace = [("tenant_id", "in", tenants), ("trace_id", "in", trace_ids)]
        found = open_table(PG_TRACES, self.settings).read(filters=[("trace_date", "<=", last_day), *by_trace])
        found = keep_where_in(found, "trace_key", wanted)
        if not found.num_rows:
            return SilverRows.of()
        scope = [("trace_date", "in", pc.unique(found.column("trace_date")).to_pylist()), *by_trace]
        spans = keep_where_in(
            open_table(PG_SPANS, self.settings).read(columns=SPAN_COLUMNS, filters=scope),
            "trace_key",
            found["trace_key"],
        )
        child_of = open_table(PG_CHILD_OF_EDGES, self.settings).read(filters=scope)
        child_of = keep_where_in(child_of, "span_key", spans.column("span_key"))
        agent_ids = pc.unique(found.column("agent_id")).to_pylist()
        agents = open_table(PG_AGENTS, self.settings).read(
            filters=[("tenant_id", "in", tenants), ("agent_id", "in", agent_ids)]
        )
        agents = keep_where_in(agents, "agent_key", found.column("agent_key"))
        tenant_rows = open_table(PG_TENANTS, self.settings).read(filters=[("tenant_id", "in", tenants)])
        return SilverRows(tenant_rows, agents, found, spans, child_of)

    def _read_day(self, day: dt.date) -> SilverRows:
        on_day = [("trace_date", "=", day)]
        return SilverRows.of(
            traces=open_table(PG_TRACES, self.settings).read(filters=on_day),
            spans=open_table(PG_SPANS, self.settings).read(columns=SPAN_COLUMNS, filters=on_day),
            child_of=open_table(PG_CHILD_OF_EDGES, self.settings).read(filters=on_day),
        )


def _day(ts_ms: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=ts_ms // DAY_MS)


# `$name` outside string literals and quoted identifiers: a query's parameters.
_LITERALS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`")
_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")
# Keys the engine adds to a returned node or relationship: internal ids and the label, not properties.
_ENGINE_KEYS = frozenset({"_ID", "_LABEL", "_SRC", "_DST"})
_OPEN_ATTEMPTS = 3


class _Opened:
    """One snapshot open read-only: its database, idle connections, and how many queries use it now."""

    def __init__(self, number: int, path: Path, timeout_ms: int) -> None:
        self.number = number
        self.db = lb.Database(str(path), read_only=True, buffer_pool_size=READER_BUFFER_POOL)
        self.timeout_ms = timeout_ms
        self.idle: list[lb.Connection] = []
        self.users = 0
        self.retired = False

    def take(self) -> lb.Connection:
        if self.idle:
            return self.idle.pop()
        conn = lb.Connection(self.db)
        conn.set_query_timeout(self.timeout_ms)
        return conn

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
        self.db.close()


class EmbeddedClient:
    """A `GraphClient` over the current snapshot, read-only, shared safely between threads.

    Each query checks CURRENT (one stat) and, after a switch, opens the new snapshot; the old one is closed
    once its running queries finish. A query runs on a connection of its own taken from a small pool, so
    threads query in parallel.
    """

    def __init__(self, settings: Settings, options: ClientOptions | None = None) -> None:
        self.options = options or ClientOptions()
        self._store = SnapshotStore(graph_home(settings))
        self._lock = threading.Lock()
        self._opened: _Opened | None = None
        self._stamp: tuple[int, int, int] | None = None
        self._closed = False

    def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Rows of `query` as dicts keyed by the RETURN aliases (nodes and relationships as property dicts).

        Raises:
            GraphUnavailableError: no snapshot yet, or the client is closed.
            GraphQueryError: the engine refused the query, or a `$parameter` has no value.
            GraphTimeoutError: the query ran past `options.timeout_s`.
            GraphResultTooLargeError: more than `options.max_rows` rows.
        """
        values = {k: list(v) if isinstance(v, tuple | set | frozenset) else v for k, v in (params or {}).items()}
        missing = sorted(set(_PARAMETER.findall(_LITERALS.sub("''", query))) - values.keys())
        if missing:
            raise GraphQueryError(f"query parameters without a value: {', '.join(missing)}")
        opened, conn = self._acquire()
        try:
            return self._execute(conn, query, values)
        finally:
            self._release(opened, conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            opened, self._opened = self._opened, None
            if opened is not None:
                opened.retired = True
                if opened.users == 0:
                    opened.close()

    def _acquire(self) -> tuple[_Opened, lb.Connection]:
        with self._lock:
            if self._closed:
                raise GraphUnavailableError("the graph client is closed")
            stamp = self._pointer_stamp()
            if self._opened is None or stamp != self._stamp:
                self._switch(stamp)
            assert self._opened is not None
            self._opened.users += 1
            return self._opened, self._opened.take()

    def _release(self, opened: _Opened, conn: lb.Connection) -> None:
        with self._lock:
            opened.users -= 1
            opened.idle.append(conn)
            if opened.retired and opened.users == 0:
                opened.close()

    def _pointer_stamp(self) -> tuple[int, int, int]:
        try:
            st = os.stat(self._store.pointer)
        except FileNotFoundError:
            raise GraphUnavailableError("no graph snapshot yet: the pipeline's graph step has not run") from None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _switch(self, stamp: tuple[int, int, int]) -> None:
        """Open the snapshot CURRENT names (called with the lock held). A writer may switch twice and
        delete what CURRENT named between our read and our open: read it again then."""
        for _ in range(_OPEN_ATTEMPTS):
            number = self._store.current_number()
            if number is None:
                break
            if self._opened is not None and self._opened.number == number:
                self._stamp = stamp
                return
            path = self._store.snapshots / str(number) / DB_FILE
            try:
                opened = _Opened(number, path, max(1, round(self.options.timeout_s * 1000)))
            except RuntimeError:
                stamp = self._pointer_stamp()
                continue
            previous, self._opened, self._stamp = self._opened, opened, stamp
            if previous is not None:
                previous.retired = True
                if previous.users == 0:
                    previous.close()
            return
        raise GraphUnavailableError(f"no readable graph snapshot under {self._store.home}")

    def _execute(self, conn: lb.Connection, query: str, params: dict[str, Any]) -> list[Row]:
        try:
            result = conn.execute(query, params)
        except RuntimeError as exc:
            message = str(exc)
            if message.startswith("Interrupted"):
                raise GraphTimeoutError(f"query ran longer than {self.options.timeout_s}s") from exc
            raise GraphQueryError(message) from exc
        results = result if isinstance(result, list) else [result]
        try:
            if len(results) != 1:
                raise GraphQueryError("one statement per query")
            columns = results[0].get_column_names()
            rows: list[Row] = []
            while results[0].has_next():
                if len(rows) == self.options.max_rows:
                    raise GraphResultTooLargeError(f"query returned more than {self.options.max_rows} rows")
                rows.append(dict(zip(columns, (_plain(v) for v in results[0].get_next()), strict=True)))
            return rows
        finally:
            for r in results:
                r.close()


def _plain(value: Any) -> Any:
    """Engine values as plain Python: integer sums come back as Decimal (INT128), nodes carry ids."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in _ENGINE_KEYS}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def run_graph_update(settings: Settings) -> GraphUpdateReport:
    """One graph tick: the traces silver published since the last tick, replaced in a new snapshot.

    The queue's files are deleted only after the switch, so a crash leaves them for the next tick; a rebuild
    (first run on this host) covers them as well.

    Returns:
        The update's report ("none" when nothing was queued and a snapshot exists).
    """
    # The queue is silver's hand-off (lib/silver_pending.py); imported here, the one use of it in core.
    from clawtrace_pipelines.core.lake.storage import LakeStorage
    from clawtrace_pipelines.lib.silver_pending import GRAPH_PENDING_DIR, PendingTraces

    queue = PendingTraces(LakeStorage(settings), GRAPH_PENDING_DIR)
    batch = queue.read()
    report = EmbeddedGraph(settings).update(batch.traces)
    queue.ack(batch)
    return report
