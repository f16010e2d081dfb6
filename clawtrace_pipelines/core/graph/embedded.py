"""The embedded graph engine's writer (LadybugDB, in-process): a projection of the silver tables, one snapshot
per tenant (`embedded_store.py` describes the layout and the atomic switch).

`update(traces)` groups the queued traces by tenant and, for each tenant touched, copies that tenant's current
snapshot, replaces exactly those traces there (their Trace and Span vertices and every edge touching them, from
the silver rows now in the lake), upserts their agents and tenant, and switches; tenants not queued are not
read, copied or written. `rebuild()` loads every tenant into fresh snapshots. The API's reader is
`embedded_client.EmbeddedClient`; one tick (read the queue, update, acknowledge) is `lib/graph_update.py`.

Reads are bounded by the queued data: pg_traces for trace dates in [day of the earliest queued event -
`Settings.trace_max_days`, day of the latest trace start it can be], spans and edges for the dates found.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shutil
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import ladybug as lb
import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.events import check_uuid
from clawtrace_pipelines.core.graph.definition import SPAN, TRACE
from clawtrace_pipelines.core.graph.embedded_load import (
    DirectLoader,
    SilverRows,
    StagedLoader,
    keep_where_in,
    write_rows,
)
from clawtrace_pipelines.core.graph.embedded_store import (
    GraphHome,
    GraphUpdateReport,
    SnapshotStore,
    close_writer,
    graph_home,
    open_writer,
)
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.table import Filter
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
        self.home = GraphHome(graph_home(settings))

    def store(self, tenant_id: str) -> SnapshotStore:
        """The snapshot store of one tenant (InvalidIdError when `tenant_id` is not a UUID)."""
        return self.home.tenant(tenant_id)

    def current_snapshot(self, tenant_id: str) -> Path | None:
        """The database file the tenant's readers open now (None before its first snapshot)."""
        return self.store(tenant_id).current()

    def update(self, traces: pa.Table) -> GraphUpdateReport:
        """Replace these traces in new snapshots of their tenants and switch to them. Without any snapshot
        yet (a new host, a deleted cache) this is a `rebuild()`, so the graph never holds only the latest
        traces; a queued tenant without a snapshot of its own gets a full build of that tenant.

        Args:
            traces: `tenant_id`, `trace_id`, `min_ts_ms`, `max_ts_ms` (the rows of the graph queue).

        Returns:
            The report; `mode` is "none" when `traces` is empty.
        """
        started = time.perf_counter()
        with self.home.writer():
            if not self.home.built():
                return self._rebuild(None, GraphUpdateReport(mode="rebuild"), started)
            if not traces.num_rows:
                return GraphUpdateReport(mode="none")
            report = GraphUpdateReport(mode="update", traces=traces.num_rows)
            stores = {t: self.store(t) for t in sorted(pc.unique(traces.column("tenant_id")).to_pylist())}
            new = [t for t, store in stores.items() if store.current() is None]
            if new:
                self._rebuild(new, report, started)
            known = {t: s for t, s in stores.items() if t not in new}
            if known:
                queued = traces.filter(pc.is_in(traces.column("tenant_id"), pa.array(list(known))))
                self._update(queued, known, report, started)
            report.seconds = time.perf_counter() - started
            self._log(report)
            return report

    def rebuild(self) -> GraphUpdateReport:
        """Load every tenant's silver rows into fresh snapshots and switch to them (mode "none" without
        silver)."""
        started = time.perf_counter()
        with self.home.writer():
            return self._rebuild(None, GraphUpdateReport(mode="rebuild"), started)

    def rebuild_tenants(self, tenants: list[str]) -> GraphUpdateReport:
        """Fresh snapshots of these tenants from silver (after rows were removed from it: a purge). A tenant
        left without rows gets an empty snapshot, so nothing removed stays visible in the graph."""
        started = time.perf_counter()
        tenants = [check_uuid(t, "tenant") for t in tenants]
        with self.home.writer():
            report = self._rebuild(tenants, GraphUpdateReport(mode="rebuild"), started)
            for tenant in tenants:
                store = self.store(tenant)
                if tenant not in report.snapshots and store.current() is not None:
                    with store.writer():
                        self._finish(report, tenant, store, store.begin(None), lambda _conn: None, create=True)
            return report

    def _update(
        self, traces: pa.Table, stores: dict[str, SnapshotStore], report: GraphUpdateReport, started: float
    ) -> None:
        with contextlib.ExitStack() as locks, ThreadPoolExecutor(max_workers=1) as pool:
            # Copying the snapshots is disk-bound and reading the lake is not: they overlap.
            copying = pool.submit(self._copy, stores, locks, report)
            try:
                rows = self._read_traces(traces, report).by_tenant()
            except BaseException:
                for target in copying.result().values():
                    shutil.rmtree(target.parent, ignore_errors=True)
                raise
            targets = copying.result()
            report.read_seconds = time.perf_counter() - started
            found = {t: set(r.traces.column("trace_key").to_pylist()) for t, r in rows.items()}
            for tenant, store in stores.items():
                part = rows.get(tenant, SilverRows.of())
                # Only traces found are replaced: one not found in the window keeps its earlier projection
                # rather than vanishing from the graph.
                keys = sorted(found.get(tenant, set()))
                agent_keys = part.agents.column("agent_key")
                apply = _writer(part, keys, agent_keys, report)
                self._finish(report, tenant, store, targets[tenant], apply, create=False)

    def _copy(
        self, stores: dict[str, SnapshotStore], locks: contextlib.ExitStack, report: GraphUpdateReport
    ) -> dict[str, Path]:
        t0 = time.perf_counter()
        targets: dict[str, Path] = {}
        for tenant, store in stores.items():
            # Held until this process exits the update: each tenant's copy-change-switch is exclusive.
            locks.enter_context(store.writer())
            base = store.current()
            assert base is not None
            targets[tenant] = store.begin(base)
            report.bytes_copied += base.stat().st_size
        report.copy_seconds = time.perf_counter() - t0
        return targets

    def _rebuild(self, tenants: list[str] | None, report: GraphUpdateReport, started: float) -> GraphUpdateReport:
        """Full builds of these tenants (None: all), reading the lake a day at a time and staging each
        tenant's rows apart, then one fresh snapshot per tenant."""
        if not open_table(PG_TRACES, self.settings).exists():
            return GraphUpdateReport(mode="none")
        by_tenant: list[Filter] = [] if tenants is None else [("tenant_id", "in", tenants)]
        tenant_rows = open_table(PG_TENANTS, self.settings).read(filters=by_tenant)
        agents = open_table(PG_AGENTS, self.settings).read(filters=by_tenant)
        agent_keys = agents.column("agent_key")
        since: list[Filter] = []
        first_seen = pc.min(tenant_rows.column("first_seen_ts_ms")).as_py() if tenant_rows.num_rows else None
        if tenants is not None and first_seen is not None:
            # A tenant's traces start on or after its first event: a new tenant's build reads its own days only.
            since = [("trace_date", ">=", _day(int(first_seen)))]
        dates = open_table(PG_TRACES, self.settings).read(columns=["trace_date"], filters=[*by_tenant, *since])
        staging = self.home.home / f".staging-{uuid.uuid4().hex}"
        staged: dict[str, StagedLoader] = {}

        def stage(rows: SilverRows) -> None:
            for tenant, part in rows.by_tenant().items():
                loader = staged.setdefault(tenant, StagedLoader(staging / self.store(tenant).home.name))
                write_rows(loader, part, [], agent_keys, report)

        traces_before = report.vertices.get(TRACE.label, 0)
        try:
            stage(SilverRows.of(tenants=tenant_rows, agents=agents))
            # One day at a time: memory holds a day's spans, not the lake's.
            for day in sorted(pc.unique(dates.column("trace_date")).to_pylist()):
                stage(self._read_day(day, by_tenant))
            report.read_seconds = time.perf_counter() - started
            for tenant, loader in staged.items():
                store = self.store(tenant)
                with store.writer():
                    self._finish(report, tenant, store, store.begin(None), loader.load, create=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if report.mode == "rebuild":
            report.traces = report.vertices.get(TRACE.label, 0) - traces_before
            report.seconds = time.perf_counter() - started
            self._log(report)
        return report

    def _finish(
        self,
        report: GraphUpdateReport,
        tenant: str,
        store: SnapshotStore,
        target: Path,
        apply: Callable[[lb.Connection], None],
        *,
        create: bool,
    ) -> None:
        """Apply one tenant's change to the build at `target` (a copy to change in place, or, with `create`,
        a new file to load staged rows into), checkpoint, and publish it."""
        t0 = time.perf_counter()
        try:
            db, conn = open_writer(target, create=create)
            try:
                apply(conn)
            except BaseException:
                conn.close()
                db.close()
                raise
            close_writer(db, conn)
            report.snapshots[tenant] = store.publish(target)
        finally:
            shutil.rmtree(target.parent, ignore_errors=True)
        report.write_seconds += time.perf_counter() - t0

    def _log(self, report: GraphUpdateReport) -> None:
        log.info(
            "graph %s: %d traces in %d tenants (%d bytes copied), vertices %s, edges %s in %.2fs "
            "(read %.2fs, copy %.2fs, write %.2fs)",
            report.mode,
            report.traces,
            report.tenants_written,
            report.bytes_copied,
            report.vertices,
            report.edges,
            report.seconds,
            report.read_seconds,
            report.copy_seconds,
            report.write_seconds,
        )

    def _read_traces(self, traces: pa.Table, report: GraphUpdateReport) -> SilverRows:
        """The silver rows of exactly these (tenant, trace) pairs: pg_traces of the bounded window first,
        then spans and edges of the days found."""
        tenants = pc.unique(traces.column("tenant_id")).to_pylist()
        trace_ids = pc.unique(traces.column("trace_id")).to_pylist()
        # A trace starts at most `trace_max_days` before its earliest queued event, and on or before the day
        # of that event.
        first = _day(int(pc.min(traces.column("min_ts_ms")).as_py()))
        low = first - dt.timedelta(days=self.settings.trace_max_days)
        high = _day(int(pc.max(traces.column("min_ts_ms")).as_py()))
        report.read_from, report.read_to = low.isoformat(), high.isoformat()
        wanted = pc.binary_join_element_wise(traces.column("tenant_id"), traces.column("trace_id"), "/")
        by_trace: list[Filter] = [("tenant_id", "in", tenants), ("trace_id", "in", trace_ids)]
        window: list[Filter] = [("trace_date", ">=", low), ("trace_date", "<=", high)]
        found = open_table(PG_TRACES, self.settings).read(filters=[*window, *by_trace])
        found = keep_where_in(found, "trace_key", wanted)
        report.not_found += traces.num_rows - found.num_rows
        if not found.num_rows:
            return SilverRows.of()
        scope: list[Filter] = [("trace_date", "in", pc.unique(found.column("trace_date")).to_pylist()), *by_trace]
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

    def _read_day(self, day: dt.date, by_tenant: list[Filter]) -> SilverRows:
        on_day: list[Filter] = [("trace_date", "=", day), *by_tenant]
        return SilverRows.of(
            traces=open_table(PG_TRACES, self.settings).read(filters=on_day),
            spans=open_table(PG_SPANS, self.settings).read(columns=SPAN_COLUMNS, filters=on_day),
            child_of=open_table(PG_CHILD_OF_EDGES, self.settings).read(filters=on_day),
        )


def _writer(
    rows: SilverRows, keys: list[str], agent_keys: pa.ChunkedArray, report: GraphUpdateReport
) -> Callable[[lb.Connection], None]:
    return lambda conn: write_rows(DirectLoader(conn), rows, keys, agent_keys, report)


def _day(ts_ms: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=ts_ms // DAY_MS)
