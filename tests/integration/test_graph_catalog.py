"""The query catalog on both engines: every query, on the embedded graph and on FalkorDB over Bolt, gives the
answer the same question asked in SQL of the silver tables gives."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from clawtrace_pipelines.core.graph.client import ClientOptions, GraphClient
from clawtrace_pipelines.core.graph.queries import QUERIES, QueryParameterError, bind, run
from clawtrace_pipelines.core.graph.queries_sql import run_sql, table_sources
from clawtrace_pipelines.core.lake.duck import connect as duck_connect
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.simulator import SimulationConfig, simulate

START = dt.datetime(2026, 3, 1, 22, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 3, 3, tzinfo=dt.UTC)


def _normal(value: Any) -> Any:
    """Engines differ in number and date types: numbers as floats, dates as ISO text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return float(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: _normal(v) for k, v in row.items()} for row in rows]


def _same(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    """Equal rows, numbers to 1e-9 (the graph holds money as doubles, the lake as exact decimals)."""
    if len(got) != len(expected):
        return False
    for a, b in zip(_rows(got), _rows(expected), strict=True):
        if a.keys() != b.keys():
            return False
        for key in a:
            x, y = a[key], b[key]
            if isinstance(x, float) and isinstance(y, float):
                if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9):
                    return False
            elif x != y:
                return False
    return True


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(lake=str(tmp_path_factory.mktemp("catalog") / "lake"), table_format="delta")
    simulate(
        settings,
        SimulationConfig(start=START, hours=4, tenants=2, agents_per_tenant=2, traces=6, seed=21, layout="batched"),
    )
    run_bronze(settings, now=NOW)
    run_silver(settings)
    return settings


@pytest.fixture(scope="module")
def embedded(lake: Settings) -> GraphClient:
    from clawtrace_pipelines.core.graph.embedded import EmbeddedClient, run_graph_update

    run_graph_update(lake)
    client = EmbeddedClient(lake, ClientOptions())
    yield client
    client.close()


@pytest.fixture(scope="module")
def falkordb(lake: Settings, falkordb_server: Any) -> GraphClient:
    from clawtrace_pipelines.core.graph.loader import graph_rows, load_cypher

    # Loaded from the same definition as the embedded graph. Rows go in as escaped literals: FalkorDB's Bolt
    # server pastes parameters into the query text and fails on large ones (tests/graph_server.py).
    with falkordb_server.client(ClientOptions(timeout_s=60, max_rows=100_000)) as client:
        load_cypher(client, graph_rows(lake), batch=200, literals=True, clear=True)
        yield client


def _cases(lake: Settings) -> list[tuple[str, dict[str, Any]]]:
    """Parameters for every query: each tenant's busiest agent and biggest trace, whole and half windows."""
    con = duck_connect(lake)
    src = table_sources(lake)
    cases: list[tuple[str, dict[str, Any]]] = []
    tenants = [r[0] for r in con.execute(f"SELECT DISTINCT tenant_id FROM {src['pg_traces']} ORDER BY 1").fetchall()]
    for tenant in tenants:
        agent, lo, hi, mid = con.execute(
            f"""SELECT agent_id, min(trace_start_ts_ms), max(trace_start_ts_ms) + 1, median(trace_start_ts_ms)::BIGINT
                FROM {src["pg_traces"]} WHERE tenant_id = $t GROUP BY agent_id ORDER BY count(*) DESC, agent_id
                LIMIT 1""",
            {"t": tenant},
        ).fetchone()
        trace, session = con.execute(
            f"""SELECT trace_id, session_key FROM {src["pg_traces"]} WHERE tenant_id = $t AND session_key IS NOT NULL
                ORDER BY event_count DESC, trace_id LIMIT 1""",
            {"t": tenant},
        ).fetchone()
        root = con.execute(
            f"""SELECT parent_span_id FROM {src["pg_child_of_edges"]} WHERE tenant_id = $t AND trace_id = $r
                GROUP BY parent_span_id ORDER BY count(*) DESC, parent_span_id LIMIT 1""",
            {"t": tenant, "r": trace},
        ).fetchone()[0]
        for window in ((lo, hi), (mid, hi)):
            values = {
                "tenant_id": tenant,
                "agent_id": agent,
                "from_ms": window[0],
                "to_ms": window[1],
                "before_ms": hi,
                "limit": 5,
                "trace_id": trace,
                "span_id": root,
                "session_key": session,
            }
            for name, query in QUERIES.items():
                cases.append((name, {k: values[k] for k in query.params}))
    con.close()
    return cases


def test_catalog_answers_match_sql_on_both_engines(lake: Settings, embedded: GraphClient, falkordb: GraphClient):
    con = duck_connect(lake)
    src = table_sources(lake)
    checked = set()
    for name, params in _cases(lake):
        expected = run_sql(con, src, name, **params)
        on_embedded = run(embedded, name, **params)
        assert _same(on_embedded, expected), f"embedded: {name} {params}\n{on_embedded}\n!=\n{expected}"
        on_falkordb = run(falkordb, name, **params)
        assert _same(on_falkordb, expected), f"falkordb: {name} {params}\n{on_falkordb}\n!=\n{expected}"
        if expected:
            checked.add(name)
    assert checked == set(QUERIES), f"queries never checked on a non-empty answer: {set(QUERIES) - checked}"


def test_another_tenant_sees_nothing(lake: Settings, embedded: GraphClient) -> None:
    name, params = next(c for c in _cases(lake) if c[0] == "trace_spans")
    assert run(embedded, name, **params)
    other = {**params, "tenant_id": "00000000-0000-4000-8000-000000000000"}
    assert run(embedded, name, **other) == []


def test_parameters_are_validated_before_any_engine_sees_them() -> None:
    with pytest.raises(QueryParameterError):
        bind("trace_spans", {"tenant_id": "not-a-uuid", "trace_id": "t"})
    with pytest.raises(QueryParameterError):
        bind("trace_spans", {"tenant_id": "00000000-0000-4000-8000-000000000000", "trace_id": "a/b"})
    with pytest.raises(QueryParameterError):
        bind("agent_traces_page", {"tenant_id": "00000000-0000-4000-8000-000000000000"})
    with pytest.raises(QueryParameterError):
        bind(
            "most_expensive_spans",
            {"tenant_id": "00000000-0000-4000-8000-000000000000", "from_ms": 0, "to_ms": 1, "limit": 10_000},
        )
    for query in QUERIES.values():
        assert "$tenant_id" in query.cypher, f"{query.name} is not confined to the caller's tenant"


def test_no_catalog_query_builds_text_from_values() -> None:
    source = Path(__file__).resolve().parents[2] / "clawtrace_pipelines" / "core" / "graph" / "queries.py"
    text = source.read_text()
    assert ".format(" not in text and "% (" not in text
