"""Plans by shape (cypher_shapes.py) change no outcome: a text whose literals differ from one the guard confined
gets the confined text and the refusal it gets when parsed on its own, over the corpus of test_cypher_memo.py
(the guard's tests, the attacks, the bench, tricky forms, token soup) with its literals and variables changed."""

from __future__ import annotations

import random
from typing import Any

import pytest

from clawtrace_pipelines.core.graph import cypher_guard, cypher_parse
from clawtrace_pipelines.core.graph.cypher_guard import Confinement, CypherRefusedError, GuardLimits, confine
from clawtrace_pipelines.core.graph.cypher_shapes import is_variable, literal_kind, shape_of
from tests.unit.test_cypher_memo import CORPUS, SCOPES, TENANT

STRINGS = ["'x'", "'tool_call'", "''", "'it\\'s'", '"dq"', "'b2c4-0000'", f"'{TENANT}'", "'LIMIT 10'", "'$p'"]


def _tokens(query: str) -> list[Any] | None:
    try:
        return list(cypher_parse._dialect().tokenize(query))
    except Exception:
        return None


# Names a variable may be renamed to: plain ones, and ones that are functions, labels, properties or keywords
# elsewhere (a rename that makes another token kind, or another shape, is compared all the same).
NAMES = ["x", "t", "span", "n_2", "count", "nodes", "Span", "Trace", "tenant_id", "db", "exists", "e", "LIMIT", "_"]


def _variant(query: str, rng: random.Random, every: bool) -> str | None:
    """`query` with its value literals and variables (all of them, or one literal and one variable's name)
    replaced: literals by others of their kind, each variable's name by one other name wherever it appears."""
    tokens = _tokens(query)
    if tokens is None:
        return None
    places = [(i, kind) for i in range(len(tokens)) if (kind := literal_kind(query, tokens, i))]
    variables = sorted({tokens[i].text for i in range(len(tokens)) if is_variable(query, tokens, i)})
    if not places and not variables:
        return None
    chosen = places if every or not places else [rng.choice(places)]
    renamed = variables if every or not variables else [rng.choice(variables)]
    names = {old: rng.choice(NAMES) for old in renamed}
    edits: dict[int, str] = {}
    for i, kind in chosen:
        ints = ["0", "1", "2", "7", "99", "100", "101", "5000", str(10**12), "07"]
        edits[i] = {"string": rng.choice(STRINGS), "int": rng.choice(ints)}.get(
            kind, f"{rng.randint(0, 99)}.{rng.randint(0, 99)}"
        )
    for i in range(len(tokens)):
        if is_variable(query, tokens, i) and tokens[i].text in names:
            edits[i] = names[tokens[i].text]
    for i in sorted(edits, reverse=True):
        query = query[: tokens[i].start] + edits[i] + query[tokens[i].end + 1 :]
    return query


def _outcome(query: str, scope: Confinement) -> Any:
    try:
        return confine(query, scope, params={"p": 1})
    except CypherRefusedError as exc:
        return ("refused", exc.reason)


def _cases() -> list[tuple[str, Confinement, str]]:
    rng = random.Random(11)
    cases = []
    for query in CORPUS:
        scope = rng.choice(SCOPES)
        for every in (True, False):
            variant = _variant(query, rng, every)
            if variant is not None and variant != query:
                cases.append((query, scope, variant))
    return cases


CASES = _cases()


def test_a_text_with_other_literals_is_confined_as_if_parsed_on_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    hits = 0
    real_get = cypher_guard.SHAPES.get

    def counted(*args: Any) -> Any:
        nonlocal hits
        plan = real_get(*args)
        hits += plan is not None
        return plan

    monkeypatch.setattr(cypher_guard.SHAPES, "get", counted)
    by_shape, planned = [], 0
    for query, scope, variant in CASES:
        cypher_guard.clear_plans()
        planned += _outcome(query, scope)[0] != "refused"  # its plan, by text and by shape
        by_shape.append(_outcome(variant, scope))
    monkeypatch.setattr(cypher_guard, "SHAPE_PLANS", False)
    parsed = []
    for _, scope, variant in CASES:
        cypher_guard.clear_plans()
        parsed.append(_outcome(variant, scope))
    assert by_shape == parsed
    # Many variants of a query that was planned reuse its plan (the others changed a pinned LIMIT, or renamed a
    # variable to a keyword or two to one name); refused queries (the attacks) are parsed each time.
    assert len(CASES) > 200 and planned > 100, (len(CASES), planned)
    assert hits > planned // 3, (hits, planned)
    assert sum(r[0] == "refused" for r in parsed) > len(CASES) // 20


def test_a_limit_s_number_is_pinned_and_a_typed_literal_is_part_of_the_shape() -> None:
    cypher_guard.clear_plans()
    limits = GuardLimits(max_rows=50)
    scope = Confinement(TENANT)
    small, _ = confine("MATCH (s:Span) RETURN s.span_id AS id LIMIT 10", scope, limits)
    large, _ = confine("MATCH (s:Span) RETURN s.span_id AS id LIMIT 5000", scope, limits)
    assert small.endswith("LIMIT 10") and large.endswith("LIMIT 51")
    assert len(cypher_guard.SHAPES._plans) == 1, "one shape, two plans"
    query = "RETURN DATE '2026-01-01' AS d, x = 'a' AS e"
    tokens = _tokens(query)
    assert tokens is not None
    shape = shape_of(query, tokens)
    assert "'2026-01-01'" in shape and "'a'" not in shape and ("string", 0) in shape


def _shape(query: str) -> tuple[str, ...]:
    tokens = _tokens(query)
    assert tokens is not None
    return shape_of(query, tokens)


def test_variables_are_part_of_a_shape_by_identity_and_function_names_by_text() -> None:
    traces = "MATCH (t:Trace)-[:HAS_SPAN]->(s:Span) WHERE s.cost_usd > 1 RETURN t.trace_id AS trace, count(s) AS n"
    renamed = "MATCH (x:Trace)-[:HAS_SPAN]->(y:Span) WHERE y.cost_usd > 2 RETURN x.trace_id AS tr, count(y) AS k"
    assert _shape(traces) == _shape(renamed)
    assert _shape("MATCH (a)-->(a) RETURN a") != _shape("MATCH (a)-->(b) RETURN a")
    # Labels, types, properties, map keys, functions (dotted or not) and parameters keep their text.
    assert _shape("MATCH (n:Span) RETURN n.x") != _shape("MATCH (n:Trace) RETURN n.x")
    assert _shape("MATCH (n) RETURN n.x") != _shape("MATCH (n) RETURN n.y")
    assert _shape("RETURN {a: 1} AS m") != _shape("RETURN {b: 1} AS m")
    assert _shape("RETURN count(1) AS c") != _shape("RETURN sum(1) AS c")
    assert _shape("RETURN db.labels() AS c") != _shape("RETURN x.labels() AS c")
    assert _shape("RETURN a.b.c(1) AS c") != _shape("RETURN z.b.c(1) AS c")
    assert _shape("MATCH (n {k: $p}) RETURN n") != _shape("MATCH (n {k: $q}) RETURN n")
    cypher_guard.clear_plans()
    scope = Confinement(TENANT, trace_id="trace-1")
    first, _ = confine(traces, scope)
    assert len(cypher_guard.SHAPES._plans) == 1
    again, _ = confine(renamed, scope)
    assert len(cypher_guard.SHAPES._plans) == 1, "the renamed text took the plan of its shape"
    assert again == first.replace("(t:", "(x:").replace("(s:", "(y:").replace("s.", "y.").replace("t.", "x.").replace(
        "> 1", "> 2"
    ).replace("AS trace", "AS tr").replace("count(s) AS n", "count(y) AS k")


@pytest.mark.parametrize(
    ("allowed", "refused"),
    [
        # A function graphglot lexes as a plain name, then one the guard refuses in its place.
        ("MATCH (s:Span) RETURN head(s.tags) AS h", "MATCH (s:Span) RETURN rand(s.tags) AS h"),
        # A map key after a comma, then the scope's own key with a literal in its place.
        (
            "MATCH (s:Span {tenant_id: $tenant_id, foo: 'x'}) RETURN s.span_id AS id",
            "MATCH (s:Span {tenant_id: $tenant_id, agent_id: 'x'}) RETURN s.span_id AS id",
        ),
    ],
)
def test_a_text_that_differs_in_a_name_that_is_not_a_variable_is_parsed_and_refused(allowed, refused) -> None:
    cypher_guard.clear_plans()
    scope = Confinement(TENANT, agent_id="agent-1")
    confine(allowed, scope)
    with pytest.raises(CypherRefusedError):
        confine(refused, scope)


def test_a_number_the_parser_refuses_neither_shares_a_shape_nor_escapes_as_an_error() -> None:
    """`07` is refused by graphglot (int() refuses a leading zero), with a ValueError it does not turn into a
    parse error: the guard refuses it, and it is not reduced to the shape of `7`."""
    assert _shape("MATCH (n) WHERE n.x = 07 RETURN n") != _shape("MATCH (n) WHERE n.x = 7 RETURN n")
    assert _shape("MATCH (n) WHERE n.x = 0.5 RETURN n") == _shape("MATCH (n) WHERE n.x = 10.25 RETURN n")
    cypher_guard.clear_plans()
    scope = Confinement(TENANT)
    confine("MATCH (n:Span) WHERE n.x = 7 RETURN n.y AS y", scope)
    for text in ("MATCH (n:Span) WHERE n.x = 07 RETURN n.y AS y", "RETURN 010 AS x"):
        with pytest.raises(CypherRefusedError, match="not a query the guard can read"):
            confine(text, scope)


@pytest.mark.parametrize(
    ("allowed", "refused"),
    [
        # A name with a NUL, which graphglot lexes as a name, spelled as a reduced token would be.
        ("RETURN 'a' || 'b' AS s", "RETURN \x00string || 'b' AS s"),
        ("MATCH (n:Span)-[*1..3]->(m) RETURN m", "MATCH (n:Span)-[*\x00int..3]->(m) RETURN m"),
        # A digit that is not ASCII, which graphglot's integer checks refuse.
        (
            "MATCH (a:Span)-[:CHILD_OF]->{1,3}(b:Span) RETURN b",
            "MATCH (a:Span)-[:CHILD_OF]->{1\u0663,3}(b:Span) RETURN b",
        ),
        # A quoted map key, which graphglot takes only when its text is a name.
        ("RETURN {'a': 1} AS m", "RETURN {'a b': 1} AS m"),
    ],
)
def test_a_text_a_known_shape_would_accept_wrongly_is_parsed_and_refused(allowed, refused) -> None:
    """Pairs a review's fuzzing found (helper report, 2026-12-03): each second text once took the plan of the first."""
    cypher_guard.clear_plans()
    scope = Confinement(TENANT)
    confine(allowed, scope)
    with pytest.raises(CypherRefusedError):
        confine(refused, scope)
    assert _shape("MATCH (\x00v0)-->(b) RETURN \x00v0") != _shape("MATCH (a)-->(a) RETURN a")
