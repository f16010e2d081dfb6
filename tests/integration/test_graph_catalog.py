"""The query catalog on both engines: every query, on the embedded graph and on FalkorDB over Bolt, gives the
answer the same question asked in SQL of the silver tables gives, for each of two tenants that share every
agent, trace and span id but not their data, so any leak between them changes an answer."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from clawtrace_pipelines.core.graph.client import ClientOptions, GraphClient, GraphQueryError
from clawtrace_pipelines.core.graph.queries import OPT_ID, QUERIES, QueryParameterError, bind, run
from clawtrace_pipelines.core.graph.queries_reads import FIRST_PAGE_KEY
from clawtrace_pipelines.core.graph.queries_sql import run_sql, table_sources
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.duck import connect as duck_connect
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import PG_AGENTS, PG_SPANS, PG_TENANTS, PG_TRACES
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


TWIN = "7a1e0000-0000-4000-8000-00000000a11e"


def _write_twin(settings: Settings, tenant: str) -> None:
    """Tenant TWIN: a copy of `tenant`'s raw files, same agent, trace and span ids, with every third event
    left out (other counts, tokens, costs and span trees)."""
    raw = Path(settings.lake_root) / "raw" / "v1"
    for path in sorted((raw / f"tenant={tenant}").rglob("*.ndjson")):
        lines = path.read_text().splitlines()
        kept = [line.replace(tenant, TWIN) for n, line in enumerate(lines) if n % 3 != 1]
        twin = raw / f"tenant={TWIN}" / path.relative_to(raw / f"tenant={tenant}")
        twin.parent.mkdir(parents=True, exist_ok=True)
        twin.write_text("\n".join(kept) + "\n")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = Settings(lake=str(tmp_path_factory.mktemp("catalog") / "lake"), table_format="delta")
    manifest = simulate(
        settings,
        SimulationConfig(start=START, hours=4, tenants=2, agents_per_tenant=2, traces=6, seed=21, layout="batched"),
    )
    _write_twin(settings, manifest.tenant_ids[0])
    # The twin's files have no arrival records: the sweep finds them.
    run_bronze(settings, now=NOW, reconcile=True)
    run_silver(settings)
    return settings


@pytest.fixture(scope="module")
def embedded(lake: Settings) -> GraphClient:
    from clawtrace_pipelines.core.graph.embedded_client import EmbeddedClient
    from clawtrace_pipelines.lib.graph_update import run_graph_update

    run_graph_update(lake)
    client = EmbeddedClient(lake, ClientOptions())
    yield client
    client.close()


@pytest.fixture(scope="module")
def falkordb(lake: Settings, falkordb_server: Any) -> GraphClient:
    from tests.graph_loader import graph_rows, load_cypher

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
        model, tool = con.execute(
            f"""SELECT max(model), max(CASE WHEN actor_type = 'tool_call' THEN tool_name END)
                FROM {src["pg_spans"]} WHERE tenant_id = $t AND trace_id = $r""",
            {"t": tenant, "r": trace},
        ).fetchone()
        for n, window in enumerate(((lo, hi), (mid, hi))):
            # The read queries' optional filters: all unset on the whole window, set on the half one.
            optional = {
                "category": ("", "Work")[n],
                "has_error": (-1, 0)[n],
                "min_cost_usd": (0.0, 0.0001)[n],
                "model": model,
                "tool": tool,
                "sort": ("cost", "start")[n],
                "after_key": FIRST_PAGE_KEY,
                "after_id": "",
                "after_ms": 2**62,
            }
            values = {
                **optional,
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
                params = {k: values[k] for k in query.params}
                if query.params.get("agent_id") == OPT_ID and n == 0:
                    params["agent_id"] = ""
                if name == "sessions_page":
                    params["after_key"] = "~"
                cases.append((name, params))
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


def test_twin_tenants_get_only_their_own_rows_on_both_engines(
    lake: Settings, embedded: GraphClient, falkordb: GraphClient
) -> None:
    """Every case of the twin (whose agent, trace and span ids all exist in the original tenant too): the
    twin's SQL answer on both engines, and the original's answer to the same ids differs for most queries,
    so a query that leaked across tenants would fail here."""
    con = duck_connect(lake)
    src = table_sources(lake)
    original = next(p["tenant_id"] for _, p in _cases(lake) if p["tenant_id"] != TWIN)
    differ, checked = set(), set()
    for name, params in _cases(lake):
        if params["tenant_id"] != TWIN:
            continue
        expected = run_sql(con, src, name, **params)
        for engine, client in (("embedded", embedded), ("falkordb", falkordb)):
            got = run(client, name, **params)
            assert _same(got, expected), f"{engine}: {name} {params}\n{got}\n!=\n{expected}"
        if expected:
            checked.add(name)
        if not _same(expected, run_sql(con, src, name, **{**params, "tenant_id": original})):
            differ.add(name)
    assert checked == set(QUERIES)
    assert len(differ) >= len(QUERIES) - 2, f"the twin answers like the original for {set(QUERIES) - differ}"


def test_match_all_on_the_embedded_engine_returns_only_the_callers_vertices(
    lake: Settings, embedded: GraphClient
) -> None:
    tables = [
        open_table(spec, lake).read(columns=["tenant_id"]) for spec in (PG_TENANTS, PG_AGENTS, PG_TRACES, PG_SPANS)
    ]
    tenants = sorted(set(tables[0].column("tenant_id").to_pylist()))
    assert TWIN in tenants and len(tenants) == 3
    for tenant in tenants:
        rows = embedded.run("MATCH (n) RETURN n", {"tenant_id": tenant})
        expected = sum(t.column("tenant_id").to_pylist().count(tenant) for t in tables)
        assert len(rows) == expected and {r["n"]["tenant_id"] for r in rows} == {tenant}
    assert embedded.run("MATCH (n) RETURN n", {"tenant_id": "00000000-0000-4000-8000-000000000000"}) == []
    with pytest.raises(GraphQueryError, match="tenant_id"):
        embedded.run("MATCH (n) RETURN n")
    with pytest.raises(GraphQueryError, match="UUID"):
        embedded.run("MATCH (n) RETURN n", {"tenant_id": "../other"})


def test_all_tenants_is_the_per_tenant_answers_concatenated(lake: Settings, embedded: GraphClient) -> None:
    query = "MATCH (t:Trace) RETURN count(*) AS n"
    tenants = embedded.tenants()
    assert TWIN in tenants and len(tenants) == 3
    assert embedded.run_all_tenants(query) == [
        {"tenant": t, **embedded.run(query, {"tenant_id": t})[0]} for t in tenants
    ]
    with pytest.raises(GraphQueryError):
        embedded.run_all_tenants(query, {"tenant_id": TWIN})


def test_cypher_over_bolt_runs_catalog_queries_for_a_tenant_and_refuses_other_text(
    lake: Settings, falkordb: GraphClient, falkordb_server: Any
) -> None:
    from clawtrace_pipelines.cli_cypher import CypherRefused, cypher_rows

    bolt = Settings(lake=lake.lake, graph=falkordb_server.bolt_uri)
    name, twin = next(c for c in _cases(lake) if c[0] == "trace_spans" and c[1]["tenant_id"] == TWIN)
    extra = {k: v for k, v in twin.items() if k != "tenant_id"}
    try:
        rows = cypher_rows(bolt, name, tenant=TWIN, all_tenants=False, params=extra, limit=1000)
        assert _same(rows, run(falkordb, name, **twin)) and rows
        with pytest.raises(CypherRefused, match="catalog"):
            cypher_rows(bolt, "MATCH (n) RETURN n", tenant=TWIN, all_tenants=False, params={}, limit=10)
    finally:
        falkordb_server.settle()


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


def test_no_catalog_query_builds_text_from_values() -> None:
    source = Path(__file__).resolve().parents[2] / "clawtrace_pipelines" / "core" / "graph" / "queries.py"
    text = source.read_text()
    assert ".format(" not in text and "% (" not in text
