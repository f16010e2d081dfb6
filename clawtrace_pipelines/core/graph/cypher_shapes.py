"""Plans by query shape: a text that differs from one the guard has confined only in its literals and variable
names reuses that text's edits instead of being parsed again.

Why: nearly all of a new text's cost is graphglot's backtracking parse (7-15 ms a query), and models mostly send
the same queries with other ids, names and thresholds (`{trace_id: 'b2…'}`, `s.cost_usd > 0.5`). The guard's
edits are insertions and replacements at token positions (`cypher_rewrite.Edit`), and none of them depends on a
literal's value, except a LIMIT's number, which its edit replaces. So a shape is the query's tokens with each
plain string and number literal reduced to its kind, and a plan found by shape applies to the new tokens as is.

Variables and aliases are reduced too, each to the order of its name's first appearance (`(t:Trace)` and
`(x:Trace)` share a shape; `(a)-->(a)` and `(a)-->(b)` do not): graphglot reads a name's text only as a
function's name, and the edits never hold a variable (they add `key: $param` entries and clamp LIMITs).

What keeps that exact:
- Only literals in a value position are reduced: a string after punctuation or an operator word (`= 'x'`,
  `IN ['a']`, `{k: 'v'}`), never one after another word (`DATE '2026-01-01'`, whose text the parser reads) nor
  a quoted map key (`{'k': 1}`); a number of ASCII digits with no leading zero is reduced to `int` or
  `decimal`, so `LIMIT 1.5` never shares the shape of `LIMIT 10`, and `07` or `1٣` (refused) none at all.
- A literal an edit replaces (a LIMIT's number, which its edit clamps) or whose text an inserted text repeats
  is pinned: the plan applies only to texts with the same literal there (`LIMIT 10` and `LIMIT 20` are two
  plans of one shape).
- A name is a variable only after a token that starts an expression or a pattern (`(`, `,`, an operator,
  MATCH, WITH, RETURN, AS, WHERE, ...) and when it is not followed by `(` (a function), nor by `:` unless it
  opens a pattern (a map key), nor by a dotted chain that ends in `(` (`ns.fn(`).
- Every other token is in the shape with its exact text, so keywords, labels, types, properties, functions and
  parameters are those of the parsed text; a text that differs in any of them is parsed.
- Refusals are never stored: a refused text is parsed again each time (its tokens' checks run on every text).
`tests/unit/test_cypher_shapes.py` confines a corpus of queries with their literals and variables changed both
ways.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from clawtrace_pipelines.core.graph.cypher_rewrite import Edit

# Bounded, so no masked number is one the parser refuses for its size (graphglot checks a decimal's range).
# No leading zero: graphglot refuses `07` (Python's int() does), so it must not share the shape of `7`.
# ASCII digits only: `\d` takes any Unicode digit, which graphglot's integer checks refuse.
_INT = re.compile(r"0|[1-9][0-9]{0,17}")
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,14})\.[0-9]{1,15}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Tokens after which a name is a variable or an alias (or a function's or property's, which the next token tells).
_BEFORE_VARIABLE = frozenset(
    {"(", ",", "[", "-[", "<-[", "=", "<>", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "^"}
    | {"MATCH", "WITH", "RETURN", "AS", "BY", "DISTINCT", "WHERE", "AND", "OR", "NOT", "XOR", "IN", "UNWIND"}
    | {"WHEN", "THEN", "ELSE", "CASE"}
)
# Words after which a string is a value. After any other word it may be read by the parser (a typed literal).
_VALUE_WORDS = frozenset({"IN", "CONTAINS", "WITH", "AND", "OR", "XOR", "NOT", "WHEN", "THEN", "ELSE", "RETURN", "IS"})
_PLANS_PER_SHAPE = 8


@dataclass(frozen=True)
class ShapePlan:
    """The edits of one parsed text, and the literals they pin (token index -> raw text)."""

    edits: tuple[Edit, ...]
    limit_params: tuple[tuple[str, str], ...]
    pinned: tuple[tuple[int, str], ...]


def _raw(query: str, token: Any) -> str:
    return query[token.start : token.end + 1]


def literal_kind(query: str, tokens: Sequence[Any], i: int) -> str | None:
    """'string', 'int' or 'decimal' when token `i` is a literal in a value position, else None."""
    token, raw = tokens[i], _raw(query, tokens[i])
    name = token.token_type.name
    before = _raw(query, tokens[i - 1]) if i else ""
    if name == "NUMBER":
        if before == "$":  # a parameter's name (`$1`)
            return None
        return "int" if _INT.fullmatch(raw) else "decimal" if _DECIMAL.fullmatch(raw) else None
    if name != "STRING" or raw[:1] not in ("'", '"'):
        return None
    if i + 1 < len(tokens) and _raw(query, tokens[i + 1]) == ":":
        return None  # a quoted map key, which graphglot takes only when its text is a name
    return "string" if before and (not before[-1].isalnum() or before.upper() in _VALUE_WORDS) else None


def is_variable(query: str, tokens: Sequence[Any], i: int) -> bool:
    """Whether token `i` is a variable or an alias: a plain name after a token that starts an expression, and
    not a function's name (`count(`, `ns.fn(`), a map key (`{k:`), a label, a type, a property or a parameter.
    graphglot reads a name's text only as a function's name; the rewrite never, outside its own insertions."""
    raw = _raw(query, tokens[i])
    if tokens[i].token_type.name != "VAR" or not _NAME.fullmatch(raw) or not i:
        return False
    before = _raw(query, tokens[i - 1])
    after = _raw(query, tokens[i + 1]) if i + 1 < len(tokens) else ""
    if before.upper() not in _BEFORE_VARIABLE or after == "(":
        return False
    if after == ":":
        return before in ("(", "-[", "<-[")  # a pattern's variable, not a map key
    end = i
    while end + 2 < len(tokens) and _raw(query, tokens[end + 1]) == ".":
        if not _NAME.fullmatch(_raw(query, tokens[end + 2])):
            break
        end += 2
    return end == i or end + 1 >= len(tokens) or _raw(query, tokens[end + 1]) != "("  # `ns.fn(` is a function


def shape_of(query: str, tokens: Sequence[Any]) -> tuple[str | tuple[str, int], ...]:
    """The tokens' exact raw texts, each value literal replaced by its kind and each variable by the order of
    its name's first appearance, so the shape keeps which variables are the same. The reduced tokens are tuples,
    which no token's text can equal (graphglot lexes a NUL as a name's character)."""
    names: dict[str, int] = {}
    shape: list[str | tuple[str, int]] = []
    for i, token in enumerate(tokens):
        if kind := literal_kind(query, tokens, i):
            shape.append((kind, 0))
        elif is_variable(query, tokens, i):
            shape.append(("variable", names.setdefault(_raw(query, token), len(names))))
        else:
            shape.append(_raw(query, token))
    return tuple(shape)


def plan_for(
    query: str, tokens: Sequence[Any], edits: Sequence[Edit], limit_params: tuple[tuple[str, str], ...]
) -> ShapePlan:
    """The plan of a parsed text, pinning each value literal or variable its edits replace or repeat."""
    # A replacement's text is made from the tokens it replaces (pinned); an insertion's from names and limits,
    # which a literal it happens to repeat is pinned against all the same.
    texts = " ".join(edit.text for edit in edits if edit.first == edit.stop)
    pinned = []
    for i in range(len(tokens)):
        if literal_kind(query, tokens, i) is None and not is_variable(query, tokens, i):
            continue
        raw = _raw(query, tokens[i])
        replaced = any(edit.first <= i < edit.stop for edit in edits)
        # Repeated: the literal as written, as a whole token of an insertion (` LIMIT 101` repeats 101, not 1).
        if replaced or re.search(rf"(?<![\w.']){re.escape(raw)}(?![\w.'])", texts):
            pinned.append((i, raw))
    return ShapePlan(tuple(edits), limit_params, tuple(pinned))


class ShapeCache:
    """At most `size` shapes (least recently used go first), each with at most 8 plans; thread-safe."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._plans: OrderedDict[Hashable, list[ShapePlan]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, query: str, tokens: Sequence[Any]) -> ShapePlan | None:
        with self._lock:
            plans = self._plans.get(key)
            if plans is None:
                return None
            self._plans.move_to_end(key)
            for plan in plans:
                if all(_raw(query, tokens[i]) == raw for i, raw in plan.pinned):
                    return plan
            return None

    def put(self, key: Hashable, plan: ShapePlan) -> None:
        with self._lock:
            plans = self._plans.setdefault(key, [])
            self._plans.move_to_end(key)
            plans.insert(0, plan)
            del plans[_PLANS_PER_SHAPE:]
            while len(self._plans) > self.size:
                self._plans.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
