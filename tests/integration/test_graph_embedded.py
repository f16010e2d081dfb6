"""The embedded graph: a projection of silver kept current by per-tick updates that equal a full rebuild,
served from immutable snapshots that readers never see half-written."""

from __future__ import annotations

import datetime as dt
import threading
import time
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
from clawtrace_pipelines.core.graph.embedded import EmbeddedClient, EmbeddedGraph, run_graph_update
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import PG_AGENTS, PG_CHILD_OF_EDGES, PG_SPANS, PG_TENANTS, PG_TRACES, TableSpec
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.simulator import SimulationConfig, simulate
from tests.factories import batch_path, ndjson, record, write_raw

START = datetime(2026, 3, 1, 22, tzinfo=UTC)  # crosses midnight: traces on two dates
NOW = datetime(2026, 3, 3, tzinfo=UTC)
OTHER_TENANT = "99999999-9999-4999-8999-999999999999"
OTHER_AGENT = "88888888-8888-4888-8888-888888888888"


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
        dump[v.label] = sorted(tuple(sorted(r["n"].items())) for r in client.run(f"MATCH (n:{v.label}) RETURN n"))
    for e in EDGES:
        query = (
            f"MATCH (a:{e.from_vertex})-[r:{e.label}]->(b:{e.to_vertex}) "
            f"RETURN a.{_key(e.from_vertex)} AS a, b.{_key(e.to_vertex)} AS b, r"
        )
        dump[e.label] = sorted((r["a"], r["b"], tuple(sorted(r["r"].items()))) for r in client.run(query))
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
    counts = {r["l"]: r["c"] for r in client.run("MATCH (n) RETURN label(n) AS l, count(*) AS c")}
    counts.update({r["l"]: r["c"] for r in client.run("MATCH ()-[r]->() RETURN label(r) AS l, count(*) AS c")})
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

    key = traces[0]["trace_key"]
    before = client.run(SPANS_OF_TRACE, {"key": key})[0]["n"]
    seen: set[int] = set()
    errors: list[BaseException] = []
    done = threading.Event()

    def read_while_updating() -> None:
        reader = EmbeddedClient(settings)
        try:
            while not done.is_set():
                seen.add(reader.run(SPANS_OF_TRACE, {"key": key})[0]["n"])
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            reader.close()

    thread = threading.Thread(target=read_while_updating)
    thread.start()
    try:
        second = run_graph_update(settings)
        after = client.run(SPANS_OF_TRACE, {"key": key})[0]["n"]
        deadline = time.monotonic() + 10
        while after not in seen and not errors and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        done.set()
        thread.join()
    assert not errors
    assert after == before + 1
    # One long-lived reader saw the old graph, then the new one, and nothing in between.
    assert seen == {before, after}

    assert second.mode == "update"
    assert second.traces == 3
    assert second.vertices["Trace"] == 3
    assert second.vertices["Span"] == sum(
        client.run(SPANS_OF_TRACE, {"key": k})[0]["n"]
        for k in [t["trace_key"] for t in traces] + [f"{OTHER_TENANT}/{traces[0]['trace_id']}"]
    )
    assert _graph_counts(client) == _silver_counts(settings)
    twins = client.run(
        "MATCH (a:Agent)-[:OWNS]->(t:Trace {trace_id: $id}) RETURN t.tenant_id AS tenant, a.agent_id AS agent",
        {"id": traces[0]["trace_id"]},
    )
    assert sorted(r["tenant"] for r in twins) == sorted([traces[0]["tenant_id"], OTHER_TENANT])

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


def _write_silver(settings: Settings, tenant: str, trace_ids: list[str], spans_per_trace: int) -> None:
    """Silver rows written directly (no dbt): one agent, these traces, a chain of spans in each."""
    agent_key = f"{tenant}/agent"
    rows: dict[TableSpec, list[dict[str, Any]]] = {
        PG_TENANTS: [_silver_row(PG_TENANTS, tenant_id=tenant)],
        PG_AGENTS: [_silver_row(PG_AGENTS, tenant_id=tenant, agent_id="agent", agent_key=agent_key)],
        PG_TRACES: [],
        PG_SPANS: [],
        PG_CHILD_OF_EDGES: [],
    }
    for trace in trace_ids:
        ids = {"tenant_id": tenant, "agent_id": "agent", "trace_id": trace}
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
    _write_silver(delta_settings, "tenant-a", ["t1", 'it\'s } {x: "y"}'], spans_per_trace=40)
    EmbeddedGraph(delta_settings).rebuild()
    return delta_settings


def test_no_snapshot_means_unavailable(delta_settings: Settings) -> None:
    client = EmbeddedClient(delta_settings)
    with pytest.raises(GraphUnavailableError):
        client.run("RETURN 1 AS one")
    assert run_graph_update(delta_settings).mode == "none"
    with pytest.raises(GraphUnavailableError):
        client.run("RETURN 1 AS one")


def test_values_travel_as_parameters(small_graph: Settings) -> None:
    client = EmbeddedClient(small_graph)
    rows = client.run(
        "MATCH (t:Trace {trace_key: $key})-[:HAS_SPAN]->(s:Span) WHERE s.trace_date >= $day "
        "RETURN t.trace_id AS id, t.trace_date AS day, sum(s.cost_usd) AS cost, sum(s.input_tokens) AS tokens",
        {"key": 'tenant-a/it\'s } {x: "y"}', "day": dt.date(2026, 3, 1)},
    )
    assert rows == [{"id": 'it\'s } {x: "y"}', "day": dt.date(2026, 3, 1), "cost": 10.0, "tokens": 0}]
    assert type(rows[0]["tokens"]) is int
    with pytest.raises(GraphQueryError, match="key"):
        client.run("MATCH (t:Trace {trace_key: $key}) RETURN t.trace_id AS id", {})
    with pytest.raises(GraphQueryError):
        client.run("MATCH (t:Trace) RETURN t.no_such_property AS x")
    with pytest.raises(GraphQueryError):
        client.run("CREATE (:Tenant {tenant_id: 'intruder'})")
    client.close()


def test_timeout_and_row_limit_raise_typed_errors(small_graph: Settings) -> None:
    slow = EmbeddedClient(small_graph, ClientOptions(timeout_s=0.05))
    with pytest.raises(GraphTimeoutError):
        slow.run(
            "MATCH (a:Span), (b:Span), (c:Span), (d:Span) "
            "WHERE a.input_tokens + b.input_tokens + c.input_tokens + d.input_tokens = 1 RETURN count(*) AS n"
        )
    slow.close()
    limited = EmbeddedClient(small_graph, ClientOptions(max_rows=40))
    assert len(limited.run("MATCH (:Trace {trace_id: 't1'})-[:HAS_SPAN]->(s) RETURN s.span_id AS id")) == 40
    with pytest.raises(GraphResultTooLargeError):
        limited.run("MATCH (s:Span) RETURN s.span_id AS id")
    limited.close()


def test_switches_keep_two_snapshots_and_readers_follow(small_graph: Settings) -> None:
    client = EmbeddedClient(small_graph)
    assert client.run("MATCH (t:Trace) RETURN count(*) AS n") == [{"n": 2}]
    _write_silver(small_graph, "tenant-b", ["t1"], spans_per_trace=3)
    graph = EmbeddedGraph(small_graph)
    day_ms = 1_772_323_200_000  # 2026-03-01, the day of the written rows
    traces = pa.table({"tenant_id": ["tenant-b"], "trace_id": ["t1"], "min_ts_ms": [day_ms], "max_ts_ms": [day_ms]})
    report = graph.update(traces)
    assert (report.vertices["Trace"], report.vertices["Span"], report.edges["CHILD_OF"]) == (1, 3, 2)
    assert report.metadata()["vertices_Span"] == 3
    graph.rebuild()
    assert client.run("MATCH (t:Trace) RETURN count(*) AS n") == [{"n": 3}]
    snapshots = graph.store.snapshots
    assert sorted(p.name for p in snapshots.iterdir()) == ["2", "3"]
    assert graph.current_snapshot() == snapshots / "3" / "graph.lbug"
    client.close()
