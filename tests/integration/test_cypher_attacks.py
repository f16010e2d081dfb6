"""The Cypher guard against attacks, on the embedded engine and on FalkorDB over Bolt (a server with no
row-level security: there the guard's rewrite is all that confines a query).

The lake holds tenant A and a twin tenant B with the same agent, trace and span ids but other data, plus a
trace only B has (tests/api/reads_lake.py). Every attack is refused, or returns only A's data: every returned
tenant_id is A's, and B's id and B-only ids appear in no value. Analyst queries give the silver tables' numbers.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from clawtrace_pipelines.core.graph.client import ClientOptions, GraphClient, GraphQueryError
from clawtrace_pipelines.core.graph.cypher_guard import (
    Confinement,
    CypherRefusedError,
    GuardedResult,
    GuardLimits,
    run_guarded,
)
from clawtrace_pipelines.core.graph.embedded_client import EmbeddedClient
from clawtrace_pipelines.core.graph.puppygraph import ENTITLEMENTS, TENANT_RESOURCE, graph_tables, puppygraph_user
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.tables import PG_AGENTS, PG_CHILD_OF_EDGES, PG_SPANS, PG_TRACES
from tests.api.reads_lake import B_ONLY_SESSION, B_ONLY_SPAN, B_ONLY_TRACE, TENANT_B, ReadsLake, build
from tests.graph_loader import graph_rows, load_cypher
from tests.graph_server import FalkorDBServer

WIDE = GuardLimits(max_rows=5_000)
B_ONLY = (TENANT_B, B_ONLY_TRACE, B_ONLY_SPAN, B_ONLY_SESSION)


@dataclass(frozen=True)
class World:
    lake: ReadsLake
    engines: dict[str, GraphClient]
    shared_trace: str  # a trace id both tenants have

    def silver(self, spec: Any, tenant: str) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = (
            open_table(spec, self.lake.settings).read(filters=[("tenant_id", "=", tenant)]).to_pylist()
        )
        return rows


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, falkordb_server: FalkorDBServer) -> Iterator[World]:
    lake = build(tmp_path_factory.mktemp("cypher-attacks"))
    embedded = EmbeddedClient(lake.settings, ClientOptions(timeout_s=30))
    with falkordb_server.client(ClientOptions(timeout_s=60, max_rows=100_000)) as bolt:
        load_cypher(bolt, graph_rows(lake.settings), batch=200, literals=True, clear=True)
        ids = {
            tenant: {
                t["trace_id"]
                for t in open_table(PG_TRACES, lake.settings).read().to_pylist()
                if t["tenant_id"] == tenant
            }
            for tenant in (lake.tenant_a, TENANT_B)
        }
        shared = sorted(ids[lake.tenant_a] & ids[TENANT_B])[0]
        yield World(lake, {"embedded": embedded, "falkordb": bolt}, shared)
    embedded.close()


@pytest.fixture(params=["embedded", "falkordb"])
def engine(request: pytest.FixtureRequest, world: World) -> GraphClient:
    client: GraphClient = world.engines[request.param]
    return client


def _values(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        yield value
        for v in value.values():
            yield from _values(v)
    elif isinstance(value, list):
        for v in value:
            yield from _values(v)
    else:
        yield value


def assert_only_tenant(result: GuardedResult, tenant: str) -> None:
    """Every map with a tenant_id and every tenant column is `tenant`; no B id appears anywhere."""
    for row in result.rows:
        for key, value in row.items():
            if key in ("tenant", "tenant_id"):
                assert value in (tenant, None), row
        for value in _values(row):
            if isinstance(value, dict) and "tenant_id" in value:
                assert value["tenant_id"] == tenant, value
            if isinstance(value, str):
                assert not any(b in value for b in B_ONLY), f"B's data leaked: {value!r}"


def _attack(engine: GraphClient, world: World, query: str, **kwargs: Any) -> GuardedResult | None:
    """The guarded result, or None when the guard or the engine refused the query."""
    kwargs.setdefault("limits", WIDE)
    confinement = kwargs.pop("confinement", Confinement(world.lake.tenant_a))
    try:
        result = run_guarded(engine, query, confinement, **kwargs)
    except GraphQueryError:
        return None
    assert_only_tenant(result, world.lake.tenant_a)
    return result


ATTACKS = [
    # The other tenant's id in a comment or a string literal.
    f"MATCH (t:Trace) /* {{tenant_id: '{TENANT_B}'}} */ RETURN t.tenant_id AS tenant, t.trace_id AS trace",
    f"MATCH (t:Trace) // (x {{tenant_id: '{TENANT_B}'}})\nRETURN t.tenant_id AS tenant, t",
    f"MATCH (t:Trace) WHERE t.tenant_id = '{TENANT_B}' RETURN t",
    f"MATCH (t:Trace) WHERE t.tenant_id = '{TENANT_B}' OR true RETURN t.tenant_id AS tenant, t.session_key AS s",
    f"MATCH (t:Trace) WHERE NOT t.tenant_id <> '{TENANT_B}' OR 1 = 1 RETURN t",
    f"MATCH (t:Trace {{trace_key: '{TENANT_B}/{B_ONLY_TRACE}'}}) RETURN t",
    f"MATCH (s:Span) WHERE s.span_key STARTS WITH '{TENANT_B}' RETURN s",
    # UNION with a branch naming the other tenant's ids and keys.
    f"MATCH (t:Trace) RETURN t.trace_id AS id "
    f"UNION MATCH (s:Span) WHERE s.trace_id = '{B_ONLY_TRACE}' RETURN s.span_key AS id",
    f"MATCH (t:Trace) RETURN t.trace_key AS id "
    f"UNION ALL MATCH (t:Trace {{trace_key: '{TENANT_B}/{B_ONLY_TRACE}'}}) RETURN t.trace_key AS id",
    # Unlabeled nodes and relationships.
    "MATCH (n) RETURN n",
    "MATCH ()-[r]->() RETURN r",
    "MATCH (a)-[r]-(b) RETURN a, r, b",
    "MATCH (n) WHERE n.tenant_id IS NULL OR n.tenant_id <> $tenant_id RETURN n",
    # From an own node towards foreign ones.
    "MATCH (t:Trace)-[*1..6]-(x) RETURN DISTINCT x.tenant_id AS tenant, x.trace_id AS trace, x.span_key AS key",
    "MATCH (:Agent)<-[:HAS_AGENT]-(tn)-[:HAS_AGENT]->(other) RETURN other",
    "MATCH (t:Trace)-[:HAS_SPAN]->(s) "
    f"WHERE EXISTS {{ MATCH (x:Span {{span_key: s.span_key}}) WHERE x.tenant_id = '{TENANT_B}' }} RETURN s",
    f"MATCH (t:Trace) RETURN [(x:Span) WHERE x.tenant_id = '{TENANT_B}' | x.span_key] AS leak",
    "MATCH (t:Trace) WHERE (t)-[:HAS_SPAN]->(:Span {span_id: 'b-only-root'}) RETURN t",
    "MATCH p = (a:Agent)-[*1..4]-(b) RETURN nodes(p) AS ns, relationships(p) AS rs LIMIT 50",
    # One bit at a time: a constant that names B's trace comes back only if B's trace exists.
    f"MATCH (t:Tenant) WHERE (:Trace {{trace_id: '{B_ONLY_TRACE}'}})-[:HAS_SPAN]->() RETURN '{B_ONLY_TRACE}' AS leak",
    f"MATCH (t:Tenant) WHERE EXISTS {{ MATCH (:Span {{span_id: '{B_ONLY_SPAN}'}}) }} RETURN '{B_ONLY_SPAN}' AS leak",
    f"MATCH (t:Tenant) RETURN [(x:Trace {{trace_id: '{B_ONLY_TRACE}'}})-->() | x.trace_id] AS leak",
    # Parameters that are queries.
    ("MATCH (t:Trace) WHERE t.trace_id = $q RETURN t", {"q": "x MATCH (n) DETACH DELETE n"}),
    ("MATCH (t:Trace) WHERE t.trace_id IN $ids RETURN t", {"ids": [B_ONLY_TRACE, "nope"]}),
]

REFUSED = [
    ("MATCH (t:Trace) RETURN t", {"tenant_id": TENANT_B}),
    ("MATCH (t:Trace) RETURN t", {"__tenant": TENANT_B}),
    ("MATCH (t:Trace) WHERE t.trace_id = $q RETURN t", {"q": "x' OR true RETURN 1 //"}),
    ("CALL db.labels()", {}),
    ("CALL db.labels() YIELD label RETURN label", {}),
    ("CALL { MATCH (n) RETURN n } RETURN n", {}),
    ("MATCH (n) CALL { WITH n MATCH (n)-->(m) RETURN m } RETURN m", {}),
    ("MATCH (n) WHERE EXISTS { MATCH (n) DETACH DELETE n } RETURN n", {}),
    ("MATCH (n) RETURN [x IN [1] | x] AS l UNION MATCH (m) DELETE m", {}),
    ("UNWIND [1] AS x FOREACH (y IN [x] | CREATE (:Span {tenant_id: 'x'}))", {}),
    ("MATCH (n) WITH n CREATE (:Span {tenant_id: 'x'}) RETURN n", {}),
    ("MERGE (n:Span {span_key: 'k'}) RETURN n", {}),
    ("MATCH (n) SET n.tenant_id = 'x' RETURN n", {}),
    ("MATCH (n) DELETE n", {}),
    ("MATCH (n) DETACH DELETE n", {}),
    ("MATCH (n) REMOVE n.tenant_id RETURN n", {}),
    ("LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line", {}),
    ("MATCH (n) RETURN n; MATCH (n) DETACH DELETE n", {}),
    ("RETURN 1 AS one;RETURN 2 AS two", {}),
    (f"MATCH (n {{tenant_id: '{TENANT_B}'}}) RETURN n", {}),
    ("MATCH (n) RETURN id(n) AS i", {}),
    ("MATCH (n) RETURN " + " + ".join(["n.x"] * 5000) + " AS big", {}),
    ("RETURN " + "[" * 200 + "1" + "]" * 200 + " AS deep", {}),
    ("MATCH (n) WHERE " + "(" * 100 + "true" + ")" * 100 + " RETURN n", {}),
]


def _counts(engine: GraphClient, tenant: str) -> tuple[int, int]:
    params = {"tenant_id": tenant}
    nodes = engine.run("MATCH (n) WHERE n.tenant_id = $tenant_id RETURN count(n) AS n", params)[0]["n"]
    edges = engine.run("MATCH (a)-[r]->(b) WHERE a.tenant_id = $tenant_id RETURN count(r) AS n", params)[0]["n"]
    return int(nodes), int(edges)


@pytest.mark.parametrize("attack", ATTACKS, ids=range(len(ATTACKS)))
def test_an_attack_returns_only_the_callers_data(engine: GraphClient, world: World, attack: Any) -> None:
    query, params = attack if isinstance(attack, tuple) else (attack, {})
    _attack(engine, world, query, params=params)


@pytest.mark.parametrize("attack", REFUSED, ids=range(len(REFUSED)))
def test_an_attack_is_refused_before_it_runs_and_changes_nothing(
    engine: GraphClient, world: World, attack: tuple[str, dict[str, Any]]
) -> None:
    before = _counts(engine, TENANT_B), _counts(engine, world.lake.tenant_a)
    with pytest.raises(CypherRefusedError):
        run_guarded(engine, attack[0], Confinement(world.lake.tenant_a), WIDE, attack[1])
    assert (_counts(engine, TENANT_B), _counts(engine, world.lake.tenant_a)) == before


def test_unlabeled_nodes_and_relationships_are_exactly_the_callers(engine: GraphClient, world: World) -> None:
    a = world.lake.tenant_a
    nodes = run_guarded(engine, "MATCH (n) RETURN n", Confinement(a), WIDE)
    edges = run_guarded(engine, "MATCH ()-[r]->() RETURN r", Confinement(a), WIDE)
    assert not nodes.truncated and not edges.truncated
    assert_only_tenant(nodes, a)
    assert_only_tenant(edges, a)
    expected = _counts(engine, a)
    assert (len(nodes.rows), len(edges.rows)) == expected and expected[0] > 100


def test_a_shared_trace_id_finds_only_the_callers_trace(engine: GraphClient, world: World) -> None:
    query = "MATCH (t:Trace {trace_id: $id})-[:HAS_SPAN]->(s) RETURN t.event_count AS events, count(s) AS spans"
    for tenant in (world.lake.tenant_a, TENANT_B):
        [row] = run_guarded(engine, query, Confinement(tenant), params={"id": world.shared_trace}).rows
        trace = next(t for t in world.silver(PG_TRACES, tenant) if t["trace_id"] == world.shared_trace)
        spans = [s for s in world.silver(PG_SPANS, tenant) if s["trace_id"] == world.shared_trace]
        assert (row["events"], row["spans"]) == (trace["event_count"], len(spans))


def test_rows_past_the_cap_are_cut_and_flagged(engine: GraphClient, world: World) -> None:
    result = run_guarded(
        engine, "MATCH (s:Span) RETURN s.span_id AS s", Confinement(world.lake.tenant_a), GuardLimits(max_rows=7)
    )
    assert len(result.rows) == 7 and result.truncated and result.query.endswith("LIMIT 8")
    few = run_guarded(engine, "MATCH (t:Tenant) RETURN t.tenant_id AS t", Confinement(world.lake.tenant_a))
    assert few.rows == [{"t": world.lake.tenant_a}] and not few.truncated


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def _same(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    return len(got) == len(expected) and all(
        g.keys() == e.keys() and all(_close(g[k], e[k]) for k in g) for g, e in zip(got, expected, strict=True)
    )


def test_top_tools_by_failures_match_silver(engine: GraphClient, world: World) -> None:
    query = (
        "MATCH (s:Span) WHERE s.actor_type = 'tool_call' "
        "RETURN s.tool_name AS tool, sum(s.has_error) AS failures, count(*) AS calls "
        "ORDER BY failures DESC, calls DESC, tool"
    )
    calls: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for s in world.silver(PG_SPANS, world.lake.tenant_a):
        if s["actor_type"] == "tool_call":
            calls[s["tool_name"]] += 1
            failures[s["tool_name"]] += s["has_error"]
    expected = sorted(
        ({"tool": t, "failures": failures[t], "calls": n} for t, n in calls.items()),
        key=lambda r: (-r["failures"], -r["calls"], r["tool"]),
    )
    got = run_guarded(engine, query, Confinement(world.lake.tenant_a)).rows
    assert expected and _same(got, expected)


def test_cost_per_trace_matches_silver(engine: GraphClient, world: World) -> None:
    query = "MATCH (t:Trace)-[:HAS_SPAN]->(s:Span) RETURN t.trace_id AS trace, sum(s.cost_usd) AS cost ORDER BY trace"
    cost: defaultdict[str, float] = defaultdict(float)
    for s in world.silver(PG_SPANS, world.lake.tenant_a):
        cost[s["trace_id"]] += float(s["cost_usd"] or 0)
    got = run_guarded(engine, query, Confinement(world.lake.tenant_a)).rows
    assert _same([{**r, "cost": r["cost"] or 0} for r in got], [{"trace": t, "cost": cost[t]} for t in sorted(cost)])


def test_descendants_through_child_of_of_any_length_match_silver(engine: GraphClient, world: World) -> None:
    query = (
        "MATCH (c:Span)-[:CHILD_OF*1..12]->(r:Span) WHERE r.parent_span_id IS NULL "
        "RETURN r.trace_id AS trace, r.span_id AS root, count(c) AS descendants ORDER BY trace, root"
    )
    spans = {(s["trace_id"], s["span_id"]): s for s in world.silver(PG_SPANS, world.lake.tenant_a)}
    parent = {
        (e["trace_id"], e["span_id"]): (e["trace_id"], e["parent_span_id"])
        for e in world.silver(PG_CHILD_OF_EDGES, world.lake.tenant_a)
        if (e["trace_id"], e["parent_span_id"]) in spans
    }
    below: Counter[tuple[str, str]] = Counter()
    for key in spans:
        up = parent.get(key)
        while up is not None:
            if spans[up]["parent_span_id"] is None:
                below[up] += 1
            up = parent.get(up)
    expected = [{"trace": t, "root": r, "descendants": n} for (t, r), n in sorted(below.items())]
    got = run_guarded(engine, query, Confinement(world.lake.tenant_a)).rows
    assert expected and _same(got, expected)


def test_agent_confinement_returns_only_that_agents_rows(engine: GraphClient, world: World) -> None:
    a, agent = world.lake.tenant_a, world.lake.agent_a
    scoped = Confinement(a, agent_id=agent)
    result = run_guarded(engine, "MATCH (n) RETURN n.agent_id AS agent, n.tenant_id AS tenant", scoped, WIDE)
    traces = [t for t in world.silver(PG_TRACES, a) if t["agent_id"] == agent]
    spans = [s for s in world.silver(PG_SPANS, a) if s["agent_id"] == agent]
    assert {r["agent"] for r in result.rows} == {agent}
    assert len(result.rows) == 1 + len(traces) + len(spans)
    agents = run_guarded(engine, "MATCH (x:Agent) RETURN x.agent_id AS agent", scoped).rows
    assert agents == [{"agent": agent}] and len(world.silver(PG_AGENTS, a)) > 1
    with pytest.raises(CypherRefusedError, match="Tenant"):
        run_guarded(engine, "MATCH (t:Tenant) RETURN t", scoped)
    with pytest.raises(CypherRefusedError, match="named path"):
        run_guarded(engine, "MATCH p = (x:Agent)-[*1..3]-(y) RETURN length(p) AS n", scoped)


def test_trace_confinement_returns_only_that_traces_rows(engine: GraphClient, world: World) -> None:
    a, trace = world.lake.tenant_a, world.shared_trace
    scoped = Confinement(a, trace_id=trace)
    spans = run_guarded(engine, "MATCH (s:Span) RETURN s.span_id AS span ORDER BY span", scoped, WIDE).rows
    assert spans == [
        {"span": s["span_id"]}
        for s in sorted(world.silver(PG_SPANS, a), key=lambda s: s["span_id"])
        if s["trace_id"] == trace
    ]
    through_trace = "MATCH (t:Trace)-[:HAS_SPAN]->(s:Span) RETURN s.span_id AS span ORDER BY span"
    assert run_guarded(engine, through_trace, scoped, WIDE).rows == spans
    everything = run_guarded(engine, "MATCH (n) RETURN n.trace_id AS trace", scoped, WIDE).rows
    assert {r["trace"] for r in everything} == {trace} and len(everything) == len(spans) + 1
    owner = run_guarded(engine, "MATCH (x:Agent)-[:OWNS]->(t:Trace) RETURN x.agent_id AS agent", scoped).rows
    assert owner == [{"agent": next(t["agent_id"] for t in world.silver(PG_TRACES, a) if t["trace_id"] == trace)}]


def test_what_ran_is_reported(engine: GraphClient, world: World) -> None:
    result = run_guarded(
        engine, "MATCH (t:Trace {tenant_id: $tenant_id}) RETURN count(t) AS n", Confinement(world.lake.tenant_a)
    )
    assert result.query == "MATCH (t:Trace {tenant_id: $tenant_id}) RETURN count(t) AS n LIMIT 501"
    assert result.params == {"tenant_id": world.lake.tenant_a, "__tenant": world.lake.tenant_a}
    assert result.rows == [{"n": len(world.silver(PG_TRACES, world.lake.tenant_a))}]


def test_the_twin_tenants_really_share_ids(world: World) -> None:
    assert {s["span_key"].split("/", 1)[1] for s in world.silver(PG_SPANS, TENANT_B)} & {
        s["span_key"].split("/", 1)[1] for s in world.silver(PG_SPANS, world.lake.tenant_a)
    }
    assert Path(world.lake.settings.lake_root).exists()


def test_every_tenant_with_graph_rows_has_a_puppygraph_user_entitled_to_it_alone(world: World) -> None:
    """PuppyGraph lets a principal with no entitlement rows through unfiltered, so RLS confines the Bolt path
    in production only if every tenant that owns any vertex or edge row has its user's row, and no user
    holds another tenant's."""
    settings = world.lake.settings
    owners = {
        t
        for spec in graph_tables()
        for t in open_table(spec, settings).read(columns=["tenant_id"])["tenant_id"].to_pylist()
    }
    assert {world.lake.tenant_a, TENANT_B} <= owners
    rows = open_table(ENTITLEMENTS, settings).read().to_pylist()
    entitled: defaultdict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row["is_authorized"] and row["resource_type"] == TENANT_RESOURCE:
            entitled[row["puppygraph_user"]].add(row["tenant_id"])
    assert {puppygraph_user(t): {t} for t in owners} == dict(entitled)


def test_string_literals_rewritten_by_the_guard_read_back_the_same(engine: GraphClient, world: World) -> None:
    query = (
        "MATCH (t:Tenant) RETURN 'it\\'s' AS a, \"say \\\"hi\\\" it's\" AS b, 'back\\\\slash' AS c, "
        "'two\nlines' AS d, 'é ✓ 中文' AS e, '/* not a comment */ // nor this' AS f"
    )
    [row] = run_guarded(engine, query, Confinement(world.lake.tenant_a)).rows
    assert row == {
        "a": "it's",
        "b": 'say "hi" it\'s',
        "c": "back\\slash",
        "d": "two\nlines",
        "e": "é ✓ 中文",
        "f": "/* not a comment */ // nor this",
    }
