"""The memo of failed parse attempts (cypher_memo.py) changes no outcome: on a corpus of queries (the guard's
tests, the attack tests, the bench, tricky forms and random token soup), the parse trees, their spans and parent
links, the steps taken, the confined texts and the refusals are the same with and without it."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bench.cypher_guard import QUERIES
from clawtrace_pipelines.core.graph import cypher_guard, cypher_parse
from clawtrace_pipelines.core.graph.cypher_guard import Confinement, CypherRefusedError, GuardLimits, confine
from clawtrace_pipelines.core.graph.cypher_memo import KNOWN_PARSER_STATE
from clawtrace_pipelines.core.graph.cypher_rewrite import RewriteRefused
from tests.integration.test_cypher_attacks import ATTACKS, REFUSED
from tests.unit.test_cypher_guard import test_read_forms_are_sent_confined, test_refused_forms_name_what_to_change

TENANT = "4f5e1f71-6c1c-4849-8766-d643b43b1bdf"
SCOPES = (Confinement(TENANT), Confinement(TENANT, agent_id="agent-1"), Confinement(TENANT, trace_id="trace-1"))
TRICKY = [
    "MATCH (a:Agent)-[:OWNS]->(t:Trace) RETURN t.trace_id AS id UNION MATCH (s:Span) RETURN s.span_id AS id",
    "MATCH (t:Trace) RETURN t.trace_id AS id UNION ALL MATCH (t:Trace) RETURN t.session_key AS id",
    "CALL { MATCH (n:Span) RETURN n } RETURN n",
    "MATCH (n) CALL { WITH n MATCH (n)-->(m) RETURN m } RETURN m",
    "MATCH (n:Span) WHERE EXISTS { MATCH (n)-[:CHILD_OF]->(m:Span) WHERE m.has_error = 1 } RETURN n",
    "MATCH (n) WHERE EXISTS { (n)-->(m) } RETURN n",
    "MATCH (n:Span) WHERE NOT EXISTS { MATCH (n)<-[:CHILD_OF*1..3]-(:Span {actor_type: 'tool_call'}) } RETURN n",
    "RETURN [[1, [2, 3]], {a: {b: [1, {c: 2}]}}, [x IN [1, 2, 3] WHERE x > 1 | x * 2]] AS nested",
    "MATCH (t:Trace) RETURN {id: t.trace_id, spans: [(t)-[:HAS_SPAN]->(s:Span) | {k: s.span_key, c: s.cost_usd}]} AS m",
    "MATCH (a:Agent) OPTIONAL MATCH (a)-[:OWNS]->(t:Trace) OPTIONAL MATCH (t)-[:HAS_SPAN]->(s) RETURN a, t, s",
    "MATCH (s:Span) WITH s.trace_id AS t, count(*) AS n WITH t, n WHERE n > 2 WITH t ORDER BY t LIMIT 5 RETURN t",
    "MATCH (s:Span) WITH s, s.cost_usd * 2 + 1 AS c WHERE c > 1 RETURN s.span_id AS id, c ORDER BY c DESC SKIP 2",
    "UNWIND [1, 2, 3] AS x WITH x WHERE x % 2 = 1 RETURN x, x ^ 2 AS sq, -x AS neg",
    "MATCH p = (a:Agent)-[*1..4]-(b) RETURN nodes(p) AS ns LIMIT 5",
    "MATCH (n)-[r:OWNS|HAS_SPAN*1..2]->(m) RETURN m",
    "MATCH (n:Span)-[:CHILD_OF*]->(m:Span)-[:CHILD_OF*2]->(o) RETURN o",
    "MATCH (a)<-[*1..2]->(b)-[r:X*2 {k: 1}]-(c) WHERE (a)-[*..3]-(c) RETURN [(a)-[*1..2]-(d) | d] AS x",
    "MATCH (a)-[r*1..3]-(b",
    "MATCH (n:Span) RETURN CASE WHEN n.has_error = 1 THEN 'err' WHEN n.cost_usd > 1 THEN 'dear' ELSE 'ok' END AS k",
    "MATCH (n:Span) RETURN CASE n.actor_type WHEN 'tool_call' THEN 1 ELSE 0 END AS k",
    "MATCH (n:Span) WHERE n.tool_name STARTS WITH 'a' AND n.tool_name CONTAINS 'b' OR n.tool_name =~ 'c.*'"
    " XOR n.x IS NOT NULL RETURN n",
    "MATCH (n:Span) WHERE n.x IN [1, 2] AND NOT (n.y IS NULL) RETURN DISTINCT n.x AS x, collect(n.y)[0..2] AS ys",
    "MATCH (n:Span) RETURN count(DISTINCT n.trace_id) AS c, avg(n.cost_usd) AS a, max(n.x) AS m, min(n.x) AS mi",
    "MATCH (n) RETURN n.x[1] AS a, n.y[1..] AS b, size(n.z) AS c, coalesce(n.q, 0) AS d, toString(n.w) AS e",
    "MATCH (n) WHERE all(x IN n.xs WHERE x > 0) AND any(y IN n.ys WHERE y = 1) RETURN reduce(s = 0, x IN n.xs | s + x)"
    " AS total",
    "MATCH (n) RETURN n LIMIT 1 + 1",
    "MATCH (n",
    "MATCH (n) RETURN COUNT { MATCH (n)-->(m) } AS c",
    "RETURN 1 AS x;",
    "UNWIND `q` ( ( <- Agent",
    "MATCH (n:Span {span_key: 'k', cost_usd: 1.5}) RETURN n.x AS `odd name`",
    "WITH 1 AS x MATCH (n) WHERE n.v = x RETURN n",
]


def _marked(test: Any) -> list[str]:
    """The queries a parametrized test of test_cypher_guard.py runs."""
    return [case[0] for mark in test.pytestmark for case in mark.args[1]]


def _corpus() -> list[str]:
    texts = (
        list(TRICKY)
        + _marked(test_refused_forms_name_what_to_change)
        + _marked(test_read_forms_are_sent_confined)
        + [q for _, q, d in QUERIES.values() for q in (q, d)]
    )
    texts += [a if isinstance(a, str) else str(a[0]) for a in ATTACKS] + [q for q, _ in REFUSED]
    words = "MATCH OPTIONAL WHERE WITH RETURN UNWIND AS UNION ALL ORDER BY SKIP LIMIT EXISTS { } ( ) [ ] - -> <- -- * "
    words += "1..3 : Span Trace Agent n m r p = , . $p 's' 1 true OR AND NOT count(n) | CASE WHEN THEN END IN CALL"
    vocab = words.split()
    rng = random.Random(7)
    texts += [" ".join(rng.choice(vocab) for _ in range(rng.randint(2, 14))) for _ in range(150)]
    return texts


CORPUS = _corpus()


def _dump(value: Any, parent: Any = None) -> Any:
    """A parse tree as nested tuples: each node's type, span and fields; asserts its parent links."""
    from graphglot.ast.base import Expression

    if isinstance(value, Expression):
        assert parent is None or value._parent is parent
        fields = tuple((name, _dump(getattr(value, name, None), value)) for name in value.ast_fields)
        return (type(value).__name__, value.source_span, fields)
    if isinstance(value, list | tuple):
        return tuple(_dump(v, parent) for v in value)
    return repr(value)


def _parse(query: str, memoize: bool) -> Any:
    """The parse trees, the steps left and the parser's attributes, or the refusal."""
    parser = cypher_parse._budgeted_parser_class()(dialect=cypher_parse._dialect())
    parser.budget = GuardLimits().max_parse_steps
    parser.memoize = memoize
    try:
        tokens = cypher_parse._dialect().tokenize(query)
        cypher_parse.check_tokens(query, tokens, GuardLimits().max_depth)
        if tokens and tokens[-1].text == ";":
            tokens = tokens[:-1]
        trees = parser.parse(tokens, query)
        outcome: Any = ("parsed", _dump(trees), parser.budget)
    except Exception as exc:  # noqa: BLE001 - any failure, compared by type and message
        # A memo hit charges the steps of its first attempt at once: out of budget at the same attempt, below 0.
        outcome = ("failed", type(exc).__name__, str(exc), max(parser.budget, -1))
    return outcome, set(vars(parser))


@pytest.mark.parametrize("query", CORPUS, ids=range(len(CORPUS)))
def test_the_memo_changes_no_parse(query: str) -> None:
    with_memo, state = _parse(query, memoize=True)
    assert with_memo == _parse(query, memoize=False)[0]
    # Side-channel state graphglot might add in another version is state the memo does not replay.
    assert state <= KNOWN_PARSER_STATE, state - KNOWN_PARSER_STATE


def _confined(query: str, scope: Confinement) -> Any:
    cypher_guard.clear_plans()
    try:
        return confine(query, scope, params={"p": 1})
    except CypherRefusedError as exc:
        return ("refused", exc.reason)


def test_the_memo_changes_no_confined_text_and_no_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    confined = [(q, s) for q in CORPUS for s in SCOPES]
    with_memo = [_confined(q, s) for q, s in confined]
    monkeypatch.setattr(cypher_parse, "MEMOIZE", False)
    without = [_confined(q, s) for q, s in confined]
    assert with_memo == without
    # The corpus reaches both outcomes, and the parser's failure paths the memo works on.
    assert sum(isinstance(r, tuple) and r[0] == "refused" for r in with_memo) > len(confined) // 10
    assert sum(isinstance(r[0], str) and r[0] != "refused" for r in with_memo) > len(confined) // 10


def test_the_memos_answer_failures_and_the_budget_is_charged_as_without_them() -> None:
    parser_class = cypher_parse._budgeted_parser_class()
    parser_class.FLAT_FAILURES.clear()
    packrat = []
    for query in (QUERIES["tools_by_failures"][1], QUERIES["models_by_cost"][1]):
        tokens = cypher_parse._dialect().tokenize(query)
        parser = parser_class(dialect=cypher_parse._dialect())
        parser.budget = 50_000
        parser.parse(tokens, query)
        packrat.append(len(parser._failures))
    # The first parse fills both memos; the second is mostly answered by the flat one.
    assert packrat[0] > 100 and packrat[1] < packrat[0] / 2, packrat
    assert len(parser_class.FLAT_FAILURES) > 100
    # Failures that did not read the token's text are kept for any token of its type.
    assert any(text is None for _, _, text, _ in parser_class.FLAT_FAILURES)
    with pytest.raises(RewriteRefused, match="too complex"):
        cypher_parse.read("UNWIND `q` ( ( <- Agent", 40, 50_000)


def test_a_cold_flat_memo_changes_nothing_either() -> None:
    cypher_parse._budgeted_parser_class().FLAT_FAILURES.clear()
    for query in CORPUS[:80]:
        assert _parse(query, memoize=True)[0] == _parse(query, memoize=False)[0]
