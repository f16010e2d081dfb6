"""Plans by shape (cypher_shapes.py) change no outcome: a text whose literals differ from one the guard confined
gets the confined text and the refusal it gets when parsed on its own, over the corpus of test_cypher_memo.py
(the guard's tests, the attacks, the bench, tricky forms, token soup) with its literals changed."""

from __future__ import annotations

import random
from typing import Any

import pytest

from clawtrace_pipelines.core.graph import cypher_guard, cypher_parse
from clawtrace_pipelines.core.graph.cypher_guard import Confinement, CypherRefusedError, GuardLimits, confine
from clawtrace_pipelines.core.graph.cypher_shapes import literal_kind, shape_of
from tests.unit.test_cypher_memo import CORPUS, SCOPES, TENANT

STRINGS = ["'x'", "'tool_call'", "''", "'it\\'s'", '"dq"', "'b2c4-0000'", f"'{TENANT}'", "'LIMIT 10'", "'$p'"]


def _tokens(query: str) -> list[Any] | None:
    try:
        return list(cypher_parse._dialect().tokenize(query))
    except Exception:
        return None


def _variant(query: str, rng: random.Random, every: bool) -> str | None:
    """`query` with its value literals (all of them, or one) replaced by others of their kind."""
    tokens = _tokens(query)
    if tokens is None:
        return None
    places = [(i, kind) for i in range(len(tokens)) if (kind := literal_kind(query, tokens, i))]
    if not places:
        return None
    chosen = places if every else [rng.choice(places)]
    for i, kind in sorted(chosen, reverse=True):
        new = {"string": rng.choice(STRINGS), "int": str(rng.choice([0, 1, 2, 7, 99, 100, 101, 5000, 10**12]))}.get(
            kind, f"{rng.randint(0, 99)}.{rng.randint(0, 99)}"
        )
        query = query[: tokens[i].start] + new + query[tokens[i].end + 1 :]
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
    # Most variants of a query that was planned reuse its plan (the others changed a pinned LIMIT); refused
    # queries (the attacks) are parsed each time.
    assert len(CASES) > 200 and planned > 60, (len(CASES), planned)
    assert hits > planned * 2 // 3, (hits, planned)
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
    assert "'2026-01-01'" in shape and "'a'" not in shape and "\0string" in shape
