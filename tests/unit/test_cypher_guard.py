"""The Cypher guard at parse level: what it refuses (with a reason a model can act on) and the text it sends."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from clawtrace_pipelines.core.graph.cypher_functions import ALLOWED, REFUSED
from clawtrace_pipelines.core.graph.cypher_guard import Confinement, CypherRefusedError, GuardLimits, confine
from clawtrace_pipelines.core.graph.definition import VERTICES

TENANT = "4f5e1f71-6c1c-4849-8766-d643b43b1bdf"
OTHER = "7a1e0000-0000-4000-8000-00000000a11e"
TENANT_ONLY = Confinement(TENANT)
AGENT = Confinement(TENANT, agent_id="agent-1")
TRACE = Confinement(TENANT, trace_id="trace-1")
NODE = re.compile(r"\((?P<body>[^()]*)\)")


def _refused(query: str, confinement: Confinement = TENANT_ONLY, **kwargs: Any) -> str:
    with pytest.raises(CypherRefusedError) as caught:
        confine(query, confinement, **kwargs)
    return caught.value.reason


def _text(query: str, confinement: Confinement = TENANT_ONLY, **kwargs: Any) -> str:
    return confine(query, confinement, **kwargs)[0]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("CREATE (n:Span {tenant_id: 'x'}) RETURN n", "CREATE"),
        ("MATCH (n) WITH n CREATE (m:Span) RETURN m", "CREATE"),
        ("MATCH (n:Span) WHERE EXISTS { MATCH (n) CREATE (m) } RETURN n", "CREATE"),
        ("MERGE (n:Span {span_key: 'k'}) RETURN n", "MERGE"),
        ("MATCH (n) SET n.x = 1 RETURN n", "SET"),
        ("MATCH (n) DELETE n", "DELETE"),
        ("MATCH (n) DETACH DELETE n", "DELETE"),
        ("MATCH (n) REMOVE n.x RETURN n", "REMOVE"),
        ("LOAD CSV FROM 'file:///etc/passwd' AS line RETURN line", "LOAD CSV"),
        ("FOREACH (x IN [1] | CREATE (:Span))", "FOREACH"),
        ("CALL db.labels()", "CALL"),
        ("CALL db.labels() YIELD label RETURN label", "CALL"),
        ("CALL { MATCH (n) RETURN n } RETURN n", "CALL"),
        ("MATCH (n) CALL { WITH n MATCH (n)-->(m) RETURN m } RETURN m", "CALL"),
        ("USE other MATCH (n) RETURN n", "USE"),
        ("SHOW DATABASES", "SHOW"),
        ("MATCH (n) RETURN n NEXT MATCH (m) RETURN m", "NEXT"),
        ("RETURN 1 AS a; RETURN 2 AS b", "one query"),
        ("MATCH (n) RETURN n; MATCH (n) DETACH DELETE n", "one query"),
        ("RETURN apoc.text.join(['a'], ',') AS x", "namespaced"),
        ("RETURN db.labels() AS x", "namespaced"),
        ("RETURN gds.pageRank(1) AS x", "namespaced"),
        ("MATCH (n) RETURN id(n) AS i", "id()"),
        ("MATCH (n) RETURN elementId(n) AS i", "elementId()"),
        ("RETURN vector(1) AS v", "allowlist"),
        ("RETURN date() AS d", "epoch-ms"),
        ("RETURN timestamp() AS t", "epoch-ms"),
        ("MATCH (n:Secret) RETURN n", "unknown label"),
        ("MATCH (n:Span|Trace) RETURN n", "one label"),
        ("MATCH (n:Span:Trace) RETURN n", "one label"),
        ("MATCH (n:!Span) RETURN n", "label expressions"),
        ("MATCH (n:Span WHERE n.cost_usd > 0) RETURN n", "WHERE inside a node"),
        ("MATCH (n {tenant_id: 'x'}) RETURN n", "tenant_id in a node pattern"),
        (f"MATCH (n:Span {{tenant_id: '{OTHER}'}}) RETURN n", "tenant_id in a node pattern"),
        ("MATCH (n:Span {tenant_id: $other}) RETURN n", "tenant_id in a node pattern"),
        ("MATCH (n) RETURN n LIMIT 1 + 1", "LIMIT"),
        ("MATCH (n) RETURN n LIMIT $missing", "LIMIT"),
        ("MATCH (n", "not a query the guard can read"),
        ("MATCH (n) RETURN COUNT { MATCH (n)-->(m) } AS c", "not a query the guard can read"),
        ("MATCH (n) WHERE n.x = 1", "RETURN"),
        ("RETURN @'raw' AS x", "not a query the guard can read"),
        ("MATCH (n) RETURN n.x AS `a``b`", "backtick"),
    ],
)
def test_refused_forms_name_what_to_change(query: str, reason: str) -> None:
    assert reason in _refused(query)


@pytest.mark.parametrize(
    ("query", "what"),
    [
        ("MATCH p = (s:Span)-[:CHILD_OF*]->(r:Span) RETURN length(p) AS n", "named path"),
        ("MATCH (s:Span)-[r:CHILD_OF*]->(p:Span) RETURN [x IN r | startNode(x).span_id] AS ids", "startNode()"),
        ("MATCH (s:Span)-[r:CHILD_OF]->(p:Span) RETURN endNode(r) AS e", "endNode()"),
    ],
)
def test_paths_and_path_functions_are_refused_when_scoped_and_allowed_for_the_tenant(query: str, what: str) -> None:
    for scoped in (AGENT, TRACE):
        assert what in _refused(query, scoped)
    assert _text(query)


def test_nodes_and_relationships_of_a_path_are_refused_when_scoped() -> None:
    query = "MATCH p = (s:Span)-[:CHILD_OF*]->(r:Span) RETURN nodes(p) AS a, relationships(p) AS b"
    assert "not allowed in a query confined" in _refused(query, TRACE)


def test_the_tenant_label_is_out_of_an_agents_reach() -> None:
    assert "Tenant nodes are out of its reach" in _refused("MATCH (t:Tenant) RETURN t", AGENT)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"tenant_id": OTHER}, "do not pass tenant_id"),
        ({"__tenant": OTHER}, "parameter name"),
        ({"__agent": "a"}, "parameter name"),
        ({"_x": 1}, "parameter name"),
        ({"a b": 1}, "parameter name"),
        ({"q": {"nested": "map"}}, "values must be"),
        ({"q": object()}, "values must be"),
        ({"q": float("nan")}, "finite"),
        ({"q": "x" * 5000}, "at most"),
    ],
)
def test_parameters_that_could_rebind_the_confinement_or_are_not_plain_values_are_refused(
    params: dict[str, Any], reason: str
) -> None:
    assert reason in _refused("MATCH (n:Span) RETURN n.span_id AS s", params=params)


def test_a_parameter_holding_a_query_is_only_a_value() -> None:
    query = "MATCH (s:Span) WHERE s.span_id = $q RETURN s.span_id AS s"
    text, bound = confine(query, TENANT_ONLY, params={"q": "x MATCH (n) DETACH DELETE n"})
    assert bound["q"] == "x MATCH (n) DETACH DELETE n" and "$q" in text and "DELETE" not in text
    # FalkorDB pastes parameters into the text: a quote or a backslash there would be syntax.
    assert "may not contain" in _refused(query, params={"q": "x' OR true //"})
    assert "may not contain" in _refused(query, params={"q": ["ok", "a\\"]})


def test_a_bad_confinement_is_refused() -> None:
    assert "confinement" in _refused("MATCH (n) RETURN n", Confinement("not-a-uuid"))
    assert "confinement" in _refused("MATCH (n) RETURN n", Confinement(TENANT, agent_id="../x"))
    assert "confinement" in _refused("MATCH (n) RETURN n", Confinement(TENANT, trace_id="it's"))


def test_length_and_nesting_are_capped_before_parsing() -> None:
    limits = GuardLimits(max_chars=100, max_depth=8)
    assert "characters" in _refused("MATCH (n) RETURN n" + " " * 100, limits=limits)
    assert "nests brackets" in _refused("RETURN " + "(" * 9 + "1" + ")" * 9 + " AS x", limits=limits)
    assert _text("RETURN " + "(" * 8 + "1" + ")" * 8 + " AS x", limits=limits)


def test_every_node_pattern_anywhere_gets_the_tenant_predicate() -> None:
    query = (
        "MATCH (a:Agent)-[:OWNS]->(t:Trace), () OPTIONAL MATCH (t)-[:HAS_SPAN]->(s) "
        "WHERE EXISTS { MATCH (s)-[:CHILD_OF]->(:Span) } AND (s)<-[:CHILD_OF]-() "
        "RETURN [(s)<-[:CHILD_OF]-(c:Span) | c.span_id] AS kids "
        "UNION MATCH (x)-[r]-(y) RETURN x.tenant_id AS kids"
    )
    text = _text(query)
    nodes = NODE.findall(text.replace("count(*)", ""))
    assert len(nodes) == 13
    assert all("tenant_id: $__tenant" in n for n in nodes), text


def test_scopes_add_agent_and_trace_predicates_where_the_label_has_them() -> None:
    agent = _text("MATCH (a:Agent)-[:OWNS]->(t:Trace)-[:HAS_SPAN]->(s) RETURN s.span_id AS s", AGENT)
    assert agent.count("agent_id: $__agent") == 2 and agent.count("tenant_id: $__tenant") == 3
    assert "(a:Agent {tenant_id: $__tenant, agent_key: $__agent_key})" in agent
    trace = _text("MATCH (a:Agent)-[:OWNS]->(t:Trace)-[:HAS_SPAN]->(s) RETURN s.span_id AS s", TRACE)
    assert "(a:Agent {tenant_id: $__tenant})" in trace
    assert "(t:Trace {tenant_id: $__tenant, trace_key: $__trace_key})" in trace
    # HAS_SPAN ties s to the scoped trace already (a trace_id of its own would cost a scan of every span).
    assert "(s {tenant_id: $__tenant})" in trace
    loose = _text("MATCH (s:Span), (t:Trace)-[:HAS_SPAN*1..1]->(x) RETURN s, x", TRACE)
    assert loose.count("trace_id: $__trace") == 2, loose
    assert _text("MATCH (t:Trace)-[:CHILD_OF]->(s) RETURN s", TRACE).count("trace_id: $__trace") == 1


def test_a_catalog_style_tenant_filter_is_kept_and_bound_to_the_caller() -> None:
    text, bound = confine("MATCH (t:Trace {tenant_id: $tenant_id, trace_id: 'x'}) RETURN t.trace_id AS t", TENANT_ONLY)
    assert text.startswith("MATCH (t:Trace {tenant_id: $tenant_id, trace_id: 'x'})")
    assert bound["tenant_id"] == bound["__tenant"] == TENANT


def test_rows_are_capped_by_a_clamped_or_added_limit() -> None:
    limits = GuardLimits(max_rows=10)
    assert _text("MATCH (n) RETURN n", limits=limits).endswith("RETURN n LIMIT 11")
    assert _text("MATCH (n) RETURN n LIMIT 1000", limits=limits).endswith("LIMIT 11")
    assert _text("MATCH (n) RETURN n LIMIT 3", limits=limits).endswith("LIMIT 3")
    text, bound = confine("MATCH (n) RETURN n LIMIT $k", TENANT_ONLY, limits, {"k": 99})
    assert text.endswith("LIMIT $__limit0") and bound["__limit0"] == 11 and bound["k"] == 99
    assert _text("MATCH (n) RETURN n ORDER BY n.x SKIP 2", limits=limits).endswith("SKIP 2 LIMIT 11")
    union = _text("MATCH (n) RETURN n.x AS x UNION ALL MATCH (m) RETURN m.x AS x LIMIT 50", limits=limits)
    assert union.count("LIMIT 11") == 2
    # A LIMIT inside WITH is the query's own business.
    assert "WITH n LIMIT 1000" in _text("MATCH (n) WITH n LIMIT 1000 RETURN n", limits=limits)


def test_comments_are_dropped_and_strings_rewritten_so_the_engine_reads_what_the_guard_checked() -> None:
    text = _text(
        f"MATCH (n:Span) /* ({OTHER}) */ WHERE n.x = \"it's\" // MATCH (m {{tenant_id: '{OTHER}'}})\n"
        "RETURN n.span_id AS s, 'a\\\\b' AS b"
    )
    assert OTHER not in text and "//" not in text and "/*" not in text
    assert "n.x = 'it\\'s'" in text and "'a\\\\b' AS b" in text


def test_the_allowlist_names_no_refused_construct() -> None:
    assert not ALLOWED & set(REFUSED)


def test_a_scoped_id_in_a_pattern_is_refused_unless_it_is_the_scopes_own() -> None:
    assert "confines every node to your agent already" in _refused("MATCH (t:Trace {agent_id: 'x'}) RETURN t", AGENT)
    assert "agent already" in _refused("MATCH (a:Agent {agent_key: 'x'}) RETURN a", AGENT)
    # The scoped vertex is found by its key; another id of the user's own only narrows it further.
    assert "agent_key: $__agent_key, agent_id: 'x'" in _text("MATCH (a:Agent {agent_id: 'x'}) RETURN a", AGENT)
    assert confine("MATCH (a:Agent) RETURN a", AGENT)[1]["__agent_key"] == f"{TENANT}/agent-1"
    assert "trace already" in _refused("MATCH (s:Span {trace_id: $t}) RETURN s", TRACE, params={"t": "x"})
    assert (
        _text("MATCH (a:Agent {agent_id: 'x'}) RETURN a")
        == "MATCH (a:Agent {tenant_id: $__tenant, agent_id: 'x'}) RETURN a LIMIT 501"
    )
    assert "(s:Span {tenant_id: $__tenant, trace_id: $__trace})" in _text(
        "MATCH (s:Span {trace_id: $__trace}) RETURN s", TRACE
    )


def test_clause_words_used_as_map_keys_are_not_refused_and_every_graph_property_reads() -> None:
    assert "{delete: 1, set: 2}" in _text("MATCH (n:Span) RETURN {delete: 1, set: 2} AS m")
    for v in VERTICES:
        for p in v.properties:
            assert _text(f"MATCH (n:{v.label}) RETURN n.{p.name} AS x")


@pytest.mark.parametrize(
    ("query", "sent"),
    [
        ("MATCH (n:Span) RETURN * SKIP 1", "MATCH (n:Span {tenant_id: $__tenant}) RETURN * SKIP 1 LIMIT 501"),
        (
            "MATCH (n) WITH n SKIP 1 LIMIT 2 RETURN n",
            "MATCH (n {tenant_id: $__tenant}) WITH n SKIP 1 LIMIT 2 RETURN n LIMIT 501",
        ),
        (
            "MATCH (n) WHERE n.x =~ 'a.*' RETURN n",
            "MATCH (n {tenant_id: $__tenant}) WHERE n.x =~ 'a.*' RETURN n LIMIT 501",
        ),
        (
            "MATCH (n) WHERE EXISTS { (n)-->(m) } RETURN n",
            "MATCH (n {tenant_id: $__tenant}) WHERE EXISTS { (n {tenant_id: $__tenant})-->(m {tenant_id: $__tenant}) }"
            " RETURN n LIMIT 501",
        ),
        (
            "MATCH (n)-[r:OWNS|HAS_SPAN*1..2]->(m) RETURN m",
            "MATCH (n {tenant_id: $__tenant})-[r:OWNS|HAS_SPAN*1..2]->(m {tenant_id: $__tenant}) RETURN m LIMIT 501",
        ),
        ("RETURN 1 AS x;", "RETURN 1 AS x LIMIT 501"),
    ],
)
def test_read_forms_are_sent_confined(query: str, sent: str) -> None:
    assert _text(query) == sent


def test_token_soup_is_refused_or_confined_never_a_crash() -> None:
    words = "MATCH OPTIONAL WHERE WITH RETURN UNWIND AS UNION ALL ORDER BY SKIP LIMIT EXISTS { } ( ) [ ] - -> <- -- * "
    words += "1..3 : Span Trace Agent Tenant n m r p = , . $p 's' 1 true OR AND NOT count(n) | CASE WHEN THEN END IN "
    words += "tenant_id IS NULL DISTINCT ; /*c*/ `q` 0 1.5"
    vocab = words.split()
    rng = random.Random(12)
    for _ in range(150):
        query = " ".join(rng.choice(vocab) for _ in range(rng.randint(2, 12)))
        for confinement in (TENANT_ONLY, AGENT):
            try:
                text = _text(query, confinement, params={"p": 1})
            except CypherRefusedError:
                continue
            assert text.count("(") >= text.count("$__tenant"), (query, text)


def test_input_that_makes_the_parser_backtrack_without_end_is_refused_quickly() -> None:
    # graphglot alone spends about 50 s on this one.
    assert "too complex" in _refused("UNWIND `q` ( ( <- Agent")
    assert "too complex" in _refused("MATCH (n) RETURN n", limits=GuardLimits(max_parse_steps=10))


def test_a_parse_leaves_no_cycles_for_the_garbage_collector() -> None:
    # Before cypher_parse dropped the failed alternatives' tracebacks, this text left ~40,000 cyclic objects
    # and gen-2 collections ran inside parses (300-400 ms stalls on the bench's heap).
    import gc

    from clawtrace_pipelines.core.graph import cypher_guard

    query = (
        "MATCH (a:Agent)-[:OWNS]->(t:Trace)-[:HAS_SPAN]->(s:Span) WHERE s.has_error = 1 WITH a, t, count(s) AS n"
        " WHERE n > 2 RETURN a.agent_id AS agent, t.trace_id AS trace, n ORDER BY n DESC, trace LIMIT 20"
    )
    gc.collect()
    gc.disable()
    try:
        cypher_guard.clear_plans()
        confine(query, Confinement(TENANT))
        assert gc.collect() < 3_000
    finally:
        gc.enable()
