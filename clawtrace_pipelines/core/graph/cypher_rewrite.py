"""The confinement rewrite of the Cypher guard: predicates inserted into every node pattern, a row cap on
every final RETURN, and the text rebuilt from graphglot's tokens.

Why by text position and not by graphglot's generator: the generator writes GQL, not the openCypher our
engines read (`-[:CHILD_OF]-> {1,5}` for `*1..5`, `OFFSET` for `SKIP`), which LadybugDB and FalkorDB both
reject. So the query keeps its own text and the guard inserts fragments at the offsets graphglot's tokens and
AST spans give.

Why the text is rebuilt from the tokens: the engine must read exactly what the guard checked. Comments and
whitespace between tokens become one space, string literals are written again from their decoded value with
the two escapes every engine shares (`\\\\` and `\\'`), so a comment or a literal graphglot and an engine would
end at different places cannot hide a pattern from the guard.

Why a property map (`(n:Span {tenant_id: $__tenant})`) and not a WHERE clause: a map is legal on every node
pattern in every position (MATCH, OPTIONAL MATCH, pattern predicates, EXISTS, comprehensions, both sides of
UNION) on every engine, and needs no variable, so anonymous nodes need no fresh name and no clause has to be
found or built.

Labels decide which scope predicates a node gets (`definition.py` says which properties each label has), read
from that occurrence only: in a trace scope an Agent variable used again unlabeled, `MATCH (a:Agent) ...
MATCH (a)-->()`, gets `trace_id` too and the engine refuses it (LadybugDB: no such property) or matches
nothing; repeat the label. Stricter, never looser.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from clawtrace_pipelines.core.graph.definition import VERTICES

TENANT_PARAM, AGENT_PARAM, TRACE_PARAM, LIMIT_PARAM = "__tenant", "__agent", "__trace", "__limit"
AGENT_KEY_PARAM, TRACE_KEY_PARAM = "__agent_key", "__trace_key"
# The scoped vertex itself is found by its primary key (`tenant_id/agent_id`, `tenant_id/trace_id`): an index
# lookup where `trace_id` would let the engine plan a scan (LadybugDB started one trace's spans from every
# span, 12x slower on a 1M-span lake; bench/cypher_guard.py).
_KEYED = {("Agent", "agent_id"): ("agent_key", AGENT_KEY_PARAM), ("Trace", "trace_id"): ("trace_key", TRACE_KEY_PARAM)}
_PROPERTIES = {v.label: {p.name for p in v.embedded_properties} for v in VERTICES}
# Boundaries of subqueries whose RETURN is not the query's result.
_SUBQUERY = frozenset({"ExistsPredicate", "CypherPatternComprehension", "CypherPatternPredicate"})


class RewriteRefused(ValueError):
    """The query cannot be confined as written; the message says why."""


@dataclass(frozen=True)
class Scope:
    """Which predicates every node gets besides the tenant's."""

    agent: bool = False
    trace: bool = False


@dataclass(frozen=True)
class Edit:
    """Replace tokens [first, stop) with `text` (first == stop inserts before token `first`)."""

    first: int
    stop: int
    text: str


def walk(node: Any, inside: tuple[str, ...] = ()) -> Iterator[tuple[Any, tuple[str, ...]]]:
    """Every AST node with the class names of its ancestors (nearest last)."""
    stack = [(node, inside)]
    while stack:
        current, above = stack.pop()
        yield current, above
        below = (*above, type(current).__name__)
        stack.extend((child, below) for child in reversed(list(current.children())))


def extent(node: Any) -> tuple[int, int] | None:
    """The character range [start, end) a node covers: graphglot gives spans only to some nodes."""
    spans = [n.source_span for n in node.dfs() if n.source_span is not None]
    if not spans:
        return None
    return min(s[0] for s in spans), max(s[1] for s in spans)


class TokenIndex:
    """Token positions by character offset, to turn AST spans into token ranges."""

    def __init__(self, tokens: list[Any]) -> None:
        self.tokens = tokens
        self.by_start = {t.start: i for i, t in enumerate(tokens)}
        self.by_end = {t.end + 1: i for i, t in enumerate(tokens)}

    def tokens_of(self, span: tuple[int, int]) -> tuple[int, int]:
        """[first, stop) token indexes of a span; refuses a span that does not fall on token edges."""
        first, last = self.by_start.get(span[0]), self.by_end.get(span[1])
        if first is None or last is None or last < first:
            raise RewriteRefused("the query could not be mapped onto its tokens; simplify it")
        return first, last + 1


def string_literal(value: str) -> str:
    """A literal every engine reads back as `value`: single quotes, only backslash and quote escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render(query: str, tokens: list[Any], edits: list[Edit]) -> str:
    """The query rebuilt from its tokens with `edits` applied (see the module docstring)."""
    at: dict[int, list[Edit]] = {}
    for edit in sorted(edits, key=lambda e: (e.first, e.stop)):
        at.setdefault(edit.first, []).append(edit)
    out: list[str] = []
    skip_to = 0
    for i, token in enumerate(tokens):
        edits_here = at.get(i, [])
        # Insertions stick to the token before them, replacements take the place of their first token.
        out.extend(e.text for e in edits_here if e.first == e.stop)
        if i > 0 and token.start > tokens[i - 1].end + 1:
            out.append(" ")
        for edit in edits_here:
            if edit.first != edit.stop:
                out.append(edit.text)
                skip_to = max(skip_to, edit.stop)
        if i < skip_to:
            continue
        raw = query[token.start : token.end + 1]
        out.append(string_literal(token.text) if raw[:1] in ("'", '"') else raw)
    for edit in at.get(len(tokens), ()):
        out.append(edit.text)
    return "".join(out)


def _label(filler: Any) -> str | None:
    expression = filler.is_label_expression
    if expression is None:
        return None
    terms = expression.label_expression.label_terms
    if len(terms) != 1 or len(terms[0].label_factors) != 1 or type(terms[0].label_factors[0]).__name__ != "LabelName":
        raise RewriteRefused("label expressions (:A|B, :A:B, !, %) are not allowed on nodes: one label or none")
    name: str = terms[0].label_factors[0].identifier.name
    if name not in _PROPERTIES:
        raise RewriteRefused(f"unknown label {name!r}; the graph has {', '.join(_PROPERTIES)}")
    return name


def _parameter(value: Any) -> str | None:
    """The parameter name when a map value is exactly `$name`."""
    refs = [n for n in value.dfs() if type(n).__name__ == "GeneralParameterReference"]
    leaves = [n for n in value.dfs() if not list(n.children())]
    if len(refs) == 1 and len(leaves) == 1:
        name: str = refs[0].parameter_name.name
        return name
    return None


def node_predicates(label: str | None, scope: Scope, in_trace: bool = False) -> dict[str, str]:
    """Property -> parameter every node of `label` (None: unlabeled) must match; `in_trace`: the node is a span
    the pattern already ties to the scoped trace (see `spans_of_the_trace`)."""
    wanted = {"tenant_id": TENANT_PARAM}
    if scope.agent:
        if label is not None and "agent_id" not in _PROPERTIES[label]:
            raise RewriteRefused(f"this query is confined to one agent: {label} nodes are out of its reach")
        wanted["agent_id"] = AGENT_PARAM
    # A trace scope leaves Agent (and Tenant) nodes alone: they have no trace, and the one that owns the
    # trace is reached through it.
    if scope.trace and not in_trace and (label is None or "trace_id" in _PROPERTIES[label]):
        wanted["trace_id"] = TRACE_PARAM
    for (keyed_label, id_property), (key, param) in _KEYED.items():
        if label == keyed_label and id_property in wanted:
            del wanted[id_property]
            wanted[key] = param
    return wanted


# What a caller may already write for a confined property: the same value under another name.
_SAME_VALUE = {
    "tenant_id": {"tenant_id", TENANT_PARAM},
    "agent_id": {AGENT_PARAM},
    "trace_id": {TRACE_PARAM},
    "agent_key": {AGENT_KEY_PARAM},
    "trace_key": {TRACE_KEY_PARAM},
}


def confine_node(node: Any, index: TokenIndex, scope: Scope, in_trace: bool = False) -> Edit:
    """The edit that adds the scope's predicates to one node pattern."""
    span = node.source_span
    if span is None:
        raise RewriteRefused("a node pattern without a position; simplify the query")
    first, stop = index.tokens_of(span)
    if index.tokens[first].text != "(" or index.tokens[stop - 1].text != ")":
        raise RewriteRefused("a node pattern that is not (...); simplify the query")
    filler = node.element_pattern_filler
    wanted = node_predicates(_label(filler), scope, in_trace)
    spec = filler.element_pattern_predicate
    if spec is not None and type(spec).__name__ != "ElementPropertySpecification":
        raise RewriteRefused("WHERE inside a node pattern is not portable: move it to the MATCH's WHERE")
    if spec is not None:
        for pair in spec.property_key_value_pair_list.list_property_key_value_pair:
            key = pair.property_name.identifier.name
            if key in wanted:
                if _parameter(pair.value_expression) not in _SAME_VALUE[key]:
                    hint = " (or write tenant_id: $tenant_id)" if key == "tenant_id" else ""
                    raise RewriteRefused(
                        f"{key} in a node pattern: the guard confines every node to your "
                        f"{key.removesuffix('_id').removesuffix('_key')} already; drop it{hint}"
                    )
                del wanted[key]
    entries = ", ".join(f"{key}: ${param}" for key, param in wanted.items())
    if not entries:
        return Edit(stop - 1, stop - 1, "")
    if spec is None:
        return Edit(stop - 1, stop - 1, f" {{{entries}}}")
    brace, _ = index.tokens_of(_span_or_refuse(spec))
    empty = index.tokens[brace + 1].text == "}"
    return Edit(brace + 1, brace + 1, entries if empty else f"{entries}, ")


_ONE_HOP = frozenset({"FullEdgePointingRight", "FullEdgePointingLeft", "FullEdgeAnyDirection"})


def spans_of_the_trace(program: Any) -> set[int]:
    """The `id()` of every node pattern one plain `HAS_SPAN` hop from a `Trace` node pattern.

    HAS_SPAN joins a trace to its own spans only, so such a span is in whatever trace its neighbour is, and in
    a trace scope the neighbour is the scoped trace (matched by key). Giving that span its own `trace_id`
    predicate as well is redundant and costly: LadybugDB then plans a scan of every span of the tenant
    instead of the trace's key lookup and expansion (6x at 200k spans, 12x at 1M; bench/cypher_guard.py).
    """
    found: set[int] = set()
    for term in (n for n in program.dfs() if type(n).__name__ == "PathTerm"):
        parts = list(term.children())
        for i in range(1, len(parts) - 1):
            if type(parts[i]).__name__ not in _ONE_HOP or _edge_label(parts[i]) != "HAS_SPAN":
                continue
            for trace, span in ((parts[i - 1], parts[i + 1]), (parts[i + 1], parts[i - 1])):
                if _label(trace.element_pattern_filler) == "Trace" and _label(span.element_pattern_filler) in (
                    None,
                    "Span",
                ):
                    found.add(id(span))
    return found


def _edge_label(edge: Any) -> str | None:
    expression = edge.element_pattern_filler.is_label_expression
    if expression is None:
        return None
    terms = expression.label_expression.label_terms
    if len(terms) != 1 or len(terms[0].label_factors) != 1 or type(terms[0].label_factors[0]).__name__ != "LabelName":
        return None
    name: str = terms[0].label_factors[0].identifier.name
    return name


def _span_or_refuse(node: Any) -> tuple[int, int]:
    span = extent(node)
    if span is None:
        raise RewriteRefused("a part of the query without a position; simplify the query")
    return span


def cap_rows(result: Any, index: TokenIndex, cap: int, number: int) -> tuple[Edit, tuple[str, str] | None]:
    """The edit that bounds one final RETURN to `cap` rows: a literal LIMIT clamped, or one added. `LIMIT $p`
    becomes `LIMIT $__limit<number>`, which the caller binds to min($p, cap), so the text stays the same
    whatever the parameters (it is cached); the pair returned is (that name, p)."""
    limit = next((n for n in result.dfs() if type(n).__name__ == "LimitClause"), None)
    if limit is None:
        _, stop = index.tokens_of(_span_or_refuse(result))
        return Edit(stop, stop, f" LIMIT {cap}"), None
    first, stop = index.tokens_of(_span_or_refuse(limit.non_negative_integer_specification))
    literal = [index.tokens[i].text for i in range(first, stop)]
    if len(literal) == 1 and literal[0].isdigit():
        return Edit(first, stop, str(min(int(literal[0]), cap))), None
    if len(literal) == 2 and literal[0] == "$":
        name = f"{LIMIT_PARAM}{number}"
        return Edit(first, stop, f"${name}"), (name, literal[1])
    raise RewriteRefused("LIMIT takes a whole number or an integer parameter")


def final_returns(program: Any) -> list[Any]:
    """The RETURN statements whose rows are the query's result (one per UNION branch)."""
    return [
        node
        for node, above in walk(program)
        if type(node).__name__ == "PrimitiveResultStatement" and not _SUBQUERY.intersection(above)
    ]
