"""The embedded graph: a projection of silver kept current by per-tick updates that equal a full rebuild,
served from immutable snapshots that readers never see half-written."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from clawtrace_pipelines.core.graph.client import (
    ClientOptions,
    GraphQueryError,
    GraphResultTooLargeError,
    GraphTimeoutError,
    GraphUnavailableError,
)
from clawtrace_pipelines.core.graph.definition import EDGES, VERTICES
from clawtrace_pipelines.core.graph.embedded import EmbeddedGraph
from clawtrace_pipelines.core.graph.embedded_client import EmbeddedClient
from clawtrace_pipelines.core.graph.embedded_store import close_writer, open_writer
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import PG_AGENTS, PG_CHILD_OF_EDGES, PG_SPANS, PG_TENANTS, PG_TRACES, TableSpec
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.graph_update import run_graph_update
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.simulator import SimulationConfig, simulate
from tests.factories import batch_path, ndjson, record, write_raw

START = datetime(2026, 3, 1, 22, tzinfo=UTC)  # crosses midnight: traces on two dates
NOW = datetime(2026, 3, 3, tzinfo=UTC)
OTHER_TENANT = "99999999-9999-4999-8999-999999999999"
OTHER_AGENT = "88888888-8888-4888-8888-888888888888"
TENANT_A = "aaaaaaaa-0000-4000-8000-000000000001"
TENANT_B = "bbbbbbbb-0000-4000-8000-000000000002"
TENANT_C = "cccccccc-0000-4000-8000-000000000003"


def _tick(settings: Settings) -> None:
    run_bronze(settings, now=NOW)
    run_silver(settings)


def _key(label: str) -> str:
    v = next(v for v in VERTICES if v.label == label)
    return next(p.name for p in v.properties if p.column == v.id_column)


def _dump(client: EmbeddedClient) -> dict[str, list[Any]]:
    """Every vertex and edge of the graph with all properties, as sorted lists."""
    dump: dict[str, list[Any]] = {}
    for v in VERTICES:
        rows = client.run_all_tenants(f"MATCH (n:{v.label}) RETURN n")
        dump[v.label] = sorted(tuple(sorted(r["n"].items())) for r in rows)
    for e in EDGES:
        query = (
            f"MATCH (a:{e.from_vertex})-[r:{e.label}]->(b:{e.to_vertex}) "
            f"RETURN a.{_key(e.from_vertex)} AS a, b.{_key(e.to_vertex)} AS b, r"
        )
        dump[e.label] = sorted((r["a"], r["b"], tuple(sorted(r["r"].items()))) for r in client.run_all_tenants(query))
    return dump


def _silver_counts(settings: Settings) -> dict[str, int]:
    spans = open_table(PG_SPANS, settings).read(columns=["span_key"]).column("span_key").to_pylist()
    edges = open_table(PG_CHILD_OF_EDGES, settings).read(columns=["parent_span_key"])
    known = set(spans)
    return {
        "Tenant": open_table(PG_TENANTS, settings).count(),
        "Agent": open_table(PG_AGENTS, settings).count(),
        "Trace": open_table(PG_TRACES, settings).count(),
        "Span": len(spans),
        "HAS_AGENT": open_table(PG_AGENTS, settings).count(),
        "OWNS": open_table(PG_TRACES, settings).count(),
        "HAS_SPAN": len(spans),
        # An edge to a parent span that never arrived has no vertex to point to.
        "CHILD_OF": sum(1 for key in edges.column("parent_span_key").to_pylist() if key in known),
    }


def _graph_counts(client: EmbeddedClient) -> dict[str, int]:
    counts: dict[str, int] = {}
    for query in (
        "MATCH (n) RETURN label(n) AS l, count(*) AS c",
        "MATCH ()-[r]->() RETURN label(r) AS l, count(*) AS c",
    ):
        for r in client.run_all_tenants(query):
            counts[r["l"]] = counts.get(r["l"], 0) + r["c"]
    return counts


SPANS_OF_TRACE = "MATCH (t:Trace {trace_key: $key})-[:HAS_SPAN]->(s:Span) RETURN count(s) AS n"


def test_ticks_update_only_changed_traces_and_equal_a_rebuild(tmp_path: Path, table_format: str) -> None:
    settings = Settings(lake=str(tmp_path / "lake"), table_format=table_format)
    simulate(
        settings,
        SimulationConfig(start=START, hours=3, tenants=2, agents_per_tenant=1, traces=3, seed=11),
        now=NOW,
    )
    _tick(settings)
    first = run_graph_update(settings)
    assert first.mode == "rebuild"
    client = EmbeddedClient(settings)
    assert _graph_counts(client) == _silver_counts(settings)

    # Tick 2: a late span for two existing traces, and another tenant reusing one of their trace ids.
    traces = open_table(PG_TRACES, settings).read().sort_by("trace_key").slice(0, 2).to_pylist()
    storage = LakeStorage(settings)
    for n, t in enumerate(traces):
        late = record(
            t["tenant_id"],
            t["agent_id"],
            event_id=f"late-{n}",
            event_type="tool_after_call",
            trace_id=t["trace_id"],
            span_id=f"late-span-{n}",
            parent_span_id=None,
            ts_ms=t["trace_end_ts_ms"] + 1000,
            payload={"toolName": "exec", "toolCallId": f"late-{n}"},
        )
        write_raw(
            storage,
            batch_path(t["tenant_id"], t["agent_id"], late["event"]["tsMs"], f"batch-late-{n}.ndjson"),
            ndjson([late]),
        )
    twin = record(
        OTHER_TENANT,
        OTHER_AGENT,
        event_id="twin-1",
        event_type="session_start",
        trace_id=traces[0]["trace_id"],
        span_id="root",
        parent_span_id=None,
        ts_ms=traces[0]["trace_start_ts_ms"],
        payload={"sessionKey": "agent:twin:main"},
    )
    write_raw(
        storage, batch_path(OTHER_TENANT, OTHER_AGENT, twin["event"]["tsMs"], "batch-twin.ndjson"), ndjson([twin])
    )
    _tick(settings)

    key, tenant = traces[0]["trace_key"], traces[0]["tenant_id"]
    before = client.run(SPANS_OF_TRACE, {"key": key, "tenant_id": tenant})[0]["n"]
    second = run_graph_update(settings)
    assert client.run(SPANS_OF_TRACE, {"key": key, "tenant_id": tenant})[0]["n"] == before + 1

    assert second.mode == "update"
    assert second.traces == 3
    assert second.vertices["Trace"] == 3
    assert second.vertices["Span"] == sum(
        client.run(SPANS_OF_TRACE, {"key": f"{t}/{i}", "tenant_id": t})[0]["n"]
        for t, i in [(t["tenant_id"], t["trace_id"]) for t in traces] + [(OTHER_TENANT, traces[0]["trace_id"])]
    )
    assert _graph_counts(client) == _silver_counts(settings)
    twins = client.run_all_tenants(
        "MATCH (a:Agent)-[:OWNS]->(t:Trace {trace_id: $id}) RETURN t.tenant_id AS owner, a.agent_id AS agent",
        {"id": traces[0]["trace_id"]},
    )
    assert sorted((r["tenant"], r["owner"]) for r in twins) == sorted([(tenant, tenant), (OTHER_TENANT, OTHER_TENANT)])

    updated = _dump(client)
    rebuilt = EmbeddedGraph(settings).rebuild()
    assert rebuilt.mode == "rebuild"
    assert _dump(client) == updated
    client.close()


def _silver_row(spec: TableSpec, **values: Any) -> dict[str, Any]:
    def default(t: pa.DataType) -> Any:
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return ""
        if pa.types.is_date(t):
            return dt.date(2026, 3, 1)
        return Decimal(0) if pa.types.is_decimal(t) else False if pa.types.is_boolean(t) else 0

    row = {f.name: default(f.type) for f in spec.schema}
    row.update(values)
    return row


def _write_silver(
    settings: Settings, tenant: str, trace_ids: list[str], spans_per_trace: int, day: dt.date = dt.date(2026, 3, 1)
) -> None:
    """Silver rows written directly (no dbt): one agent, these traces (on `day`), a chain of spans in each."""
    agent_key = f"{tenant}/agent"
    rows: dict[TableSpec, list[dict[str, Any]]] = {
        PG_TENANTS: [_silver_row(PG_TENANTS, tenant_id=tenant)],
        PG_AGENTS: [_silver_row(PG_AGENTS, tenant_id=tenant, agent_id="agent", agent_key=agent_key)],
        PG_TRACES: [],
        PG_SPANS: [],
        PG_CHILD_OF_EDGES: [],
    }
    for trace in trace_ids:
        ids = {"tenant_id": tenant, "agent_id": "agent", "trace_id": trace, "trace_date": day}
        trace_key = f"{tenant}/{trace}"
        rows[PG_TRACES].append(_silver_row(PG_TRACES, **ids, agent_key=agent_key, trace_key=trace_key))
        for n in range(spans_per_trace):
            span = {**ids, "span_id": f"s{n}", "span_key": f"{trace_key}/s{n}", "trace_key": trace_key}
            rows[PG_SPANS].append(_silver_row(PG_SPANS, **span, cost_usd=Decimal("0.25")))
            if n:
                parent = {"parent_span_id": f"s{n - 1}", "parent_span_key": f"{trace_key}/s{n - 1}"}
                rows[PG_CHILD_OF_EDGES].append(_silver_row(PG_CHILD_OF_EDGES, **span, **parent))
    for spec, table_rows in rows.items():
        open_table(spec, settings).merge(pa.Table.from_pylist(table_rows, schema=spec.schema))


@pytest.fixture
def small_graph(delta_settings: Settings) -> Settings:
    _write_silver(delta_settings, TENANT_A, ["t1", 'it\'s } {x: "y"}'], spans_per_trace=40)
    EmbeddedGraph(delta_settings).rebuild()
    return delta_settings


DAY_MS = 86_400_000
MARCH_1_MS = 1_772_323_200_000  # 2026-03-01, the default trace_date of `_silver_row`


def _queued(tenant: str, trace: str, ts_ms: int = MARCH_1_MS) -> pa.Table:
    return pa.table({"tenant_id": [tenant], "trace_id": [trace], "min_ts_ms": [ts_ms], "max_ts_ms": [ts_ms]})


def _count(client: EmbeddedClient, tenant: str, label: str = "Span") -> int:
    return int(client.run(f"MATCH (n:{label}) RETURN count(*) AS n", {"tenant_id": tenant})[0]["n"])


def test_no_snapshot_means_unavailable_and_a_tenant_without_one_has_no_rows(small_graph: Settings, tmp_path) -> None:
    empty = Settings(lake=str(tmp_path / "empty"))
    client = EmbeddedClient(empty)
    with pytest.raises(GraphUnavailableError):
        client.run("RETURN 1 AS one", {"tenant_id": TENANT_A})
    assert run_graph_update(empty).mode == "none"
    with pytest.raises(GraphUnavailableError):
        client.run("RETURN 1 AS one", {"tenant_id": TENANT_A})
    built = EmbeddedClient(small_graph)
    assert built.run("RETURN 1 AS one", {"tenant_id": TENANT_A}) == [{"one": 1}]
    assert built.run("RETURN 1 AS one", {"tenant_id": TENANT_B}) == []
    assert built.tenants() == [TENANT_A]


def test_values_travel_as_parameters(small_graph: Settings) -> None:
    client = EmbeddedClient(small_graph)
    rows = client.run(
        "MATCH (t:Trace {trace_key: $key})-[:HAS_SPAN]->(s:Span) WHERE s.trace_date >= $day "
        "RETURN t.trace_id AS id, t.trace_date AS day, sum(s.cost_usd) AS cost, sum(s.input_tokens) AS tokens",
        {"key": f'{TENANT_A}/it\'s }} {{x: "y"}}', "day": dt.date(2026, 3, 1), "tenant_id": TENANT_A},
    )
    assert rows == [{"id": 'it\'s } {x: "y"}', "day": dt.date(2026, 3, 1), "cost": 10.0, "tokens": 0}]
    assert type(rows[0]["tokens"]) is int
    with pytest.raises(GraphQueryError, match="key"):
        client.run("MATCH (t:Trace {trace_key: $key}) RETURN t.trace_id AS id", {"tenant_id": TENANT_A})
    with pytest.raises(GraphQueryError):
        client.run("MATCH (t:Trace) RETURN t.no_such_property AS x", {"tenant_id": TENANT_A})
    with pytest.raises(GraphQueryError):
        client.run("CREATE (:Tenant {tenant_id: 'intruder'})", {"tenant_id": TENANT_A})
    client.close()


def test_timeout_and_row_limit_raise_typed_errors(small_graph: Settings) -> None:
    slow = EmbeddedClient(small_graph, ClientOptions(timeout_s=0.05))
    # 80^8 combinations: no machine finishes this within any timeout, so the outcome does not depend on speed.
    with pytest.raises(GraphTimeoutError):
        slow.run(
            "MATCH (a:Span), (b:Span), (c:Span), (d:Span), (e:Span), (f:Span), (g:Span), (h:Span) "
            "WHERE a.input_tokens + b.input_tokens + c.input_tokens + d.input_tokens + e.input_tokens "
            "+ f.input_tokens + g.input_tokens + h.input_tokens = 1 RETURN count(*) AS n",
            {"tenant_id": TENANT_A},
        )
    slow.close()
    limited = EmbeddedClient(small_graph, ClientOptions(max_rows=40))
    one_trace = "MATCH (:Trace {trace_id: 't1'})-[:HAS_SPAN]->(s) RETURN s.span_id AS id"
    assert len(limited.run(one_trace, {"tenant_id": TENANT_A})) == 40
    with pytest.raises(GraphResultTooLargeError):
        limited.run("MATCH (s:Span) RETURN s.span_id AS id", {"tenant_id": TENANT_A})
    limited.close()


def test_a_reader_keeps_the_old_snapshot_until_the_switch_and_follows_it_after(small_graph: Settings) -> None:
    """The steps of an update in order, a query after each: the reader sees the old graph until CURRENT is
    replaced, the new one on its next query, and a query running across the switch finishes on the old file."""
    client = EmbeddedClient(small_graph)
    assert _count(client, TENANT_A) == 80
    graph = EmbeddedGraph(small_graph)
    store = graph.store(TENANT_A)
    base = store.current()
    assert base is not None
    with graph.home.writer(), store.writer():
        target = store.begin(base)
        assert _count(client, TENANT_A) == 80
        db, conn = open_writer(target, create=False)
        conn.execute(f"MATCH (s:Span {{span_key: '{TENANT_A}/t1/s39'}}) DETACH DELETE s")
        assert _count(client, TENANT_A) == 80
        close_writer(db, conn)
        assert _count(client, TENANT_A) == 80
        in_flight = client._acquire(TENANT_A)  # a query that started before the switch
        assert in_flight is not None
        store.publish(target)
    assert _count(client, TENANT_A) == 79
    opened, conn = in_flight
    assert client._execute(conn, "MATCH (s:Span) RETURN count(*) AS n", {}) == [{"n": 80}]
    client._release(opened, conn)
    assert opened.retired and _count(client, TENANT_A) == 79
    client.close()


def test_switches_keep_two_snapshots_per_tenant_and_readers_follow(small_graph: Settings) -> None:
    client = EmbeddedClient(small_graph)
    assert _count(client, TENANT_A, "Trace") == 2
    _write_silver(small_graph, TENANT_B, ["t1"], spans_per_trace=3)
    graph = EmbeddedGraph(small_graph)
    report = graph.update(_queued(TENANT_B, "t1"))
    assert (report.vertices["Trace"], report.vertices["Span"], report.edges["CHILD_OF"]) == (1, 3, 2)
    assert report.metadata()["vertices_Span"] == 3
    assert _count(client, TENANT_B, "Trace") == 1 and _count(client, TENANT_A, "Trace") == 2
    graph.rebuild()
    graph.rebuild()
    for tenant, traces in ((TENANT_A, 2), (TENANT_B, 1)):
        snapshots = graph.store(tenant).snapshots
        assert sorted(p.name for p in snapshots.iterdir()) == ["2", "3"]
        assert graph.current_snapshot(tenant) == snapshots / "3" / "graph.lbug"
        assert _count(client, tenant, "Trace") == traces
    client.close()


def test_an_update_rewrites_only_the_queued_tenants_and_copies_only_their_snapshots(delta_settings: Settings) -> None:
    for tenant, spans in ((TENANT_A, 5), (TENANT_B, 7), (TENANT_C, 9)):
        _write_silver(delta_settings, tenant, ["t1", "t2"], spans_per_trace=spans)
    graph = EmbeddedGraph(delta_settings)
    assert graph.rebuild().tenants_written == 3
    before = {t: graph.store(t).current_number() for t in (TENANT_A, TENANT_B, TENANT_C)}
    sizes = {t: graph.current_snapshot(t).stat().st_size for t in (TENANT_A, TENANT_C)}
    _write_silver(delta_settings, TENANT_A, ["t1"], spans_per_trace=6)
    _write_silver(delta_settings, TENANT_C, ["t2"], spans_per_trace=10)
    queued = pa.concat_tables([_queued(TENANT_A, "t1"), _queued(TENANT_C, "t2")])
    report = graph.update(queued)
    after = {t: graph.store(t).current_number() for t in (TENANT_A, TENANT_B, TENANT_C)}
    assert after == {TENANT_A: before[TENANT_A] + 1, TENANT_B: before[TENANT_B], TENANT_C: before[TENANT_C] + 1}
    assert report.bytes_copied == sizes[TENANT_A] + sizes[TENANT_C]
    assert report.metadata()["tenants_written"] == 2 and report.metadata()["bytes_copied"] == report.bytes_copied
    client = EmbeddedClient(delta_settings)
    assert [_count(client, t) for t in (TENANT_A, TENANT_B, TENANT_C)] == [6 + 5, 7 + 7, 9 + 10]
    client.close()


def test_an_update_reads_no_trace_date_outside_its_horizon(delta_settings: Settings) -> None:
    """Old partitions are made unreadable (their data files deleted under the Delta log): an update of a
    recent trace still succeeds, so it never opened them; an update that needs them fails, so it would have."""
    old, recent = dt.date(2026, 3, 1), dt.date(2026, 3, 21)
    # Trace ids around "recent", so file statistics on trace_id cannot skip the old files: only dates can.
    _write_silver(delta_settings, TENANT_A, ["a-old", "z-old"], spans_per_trace=3, day=old)
    _write_silver(delta_settings, TENANT_A, ["recent"], spans_per_trace=3, day=recent)
    graph = EmbeddedGraph(delta_settings)
    graph.rebuild()
    lake = Path(delta_settings.lake_root) / "tables"
    removed = [
        f for spec in (PG_TRACES, PG_SPANS, PG_CHILD_OF_EDGES) for f in (lake / spec.name).glob(f"trace_date={old}/*")
    ]
    assert removed
    for f in removed:
        f.unlink()
    _write_silver(delta_settings, TENANT_A, ["recent"], spans_per_trace=4, day=recent)
    recent_ms = MARCH_1_MS + 20 * DAY_MS
    report = graph.update(_queued(TENANT_A, "recent", recent_ms))
    assert (report.read_from, report.read_to) == (str(recent - dt.timedelta(days=7)), str(recent))
    assert report.metadata()["read_from"] == "2026-03-14" and report.vertices["Span"] == 4
    with pytest.raises(Exception, match="(?i)not found|no such file|does not exist"):
        graph.update(_queued(TENANT_A, "a-old", MARCH_1_MS + DAY_MS))


def test_a_trace_beyond_the_horizon_keeps_its_projection(delta_settings: Settings) -> None:
    _write_silver(delta_settings, TENANT_A, ["long"], spans_per_trace=3)
    graph = EmbeddedGraph(delta_settings)
    graph.rebuild()
    report = graph.update(_queued(TENANT_A, "long", MARCH_1_MS + 30 * DAY_MS))
    assert report.not_found == 1
    client = EmbeddedClient(delta_settings)
    assert _count(client, TENANT_A) == 3
    client.close()


def test_a_tenant_id_that_is_not_a_uuid_never_becomes_a_path(delta_settings: Settings) -> None:
    with pytest.raises(ValueError, match="UUID"):
        EmbeddedGraph(delta_settings).store("../../etc")
