"""How the Cypher guard reads a query: graphglot's tokens, checked before its parser runs, then its parse tree,
with a budget on the parser's backtracking and memos of its failed attempts (`cypher_memo.py`), which make a
new text's parse about twice as fast and change no outcome.

Every failure is a `RewriteRefused` whose message a model can act on; the guard turns it into its
`RewriteRefused`.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from typing import Any

from clawtrace_pipelines.core.graph.cypher_functions import REFUSED_WORDS
from clawtrace_pipelines.core.graph.cypher_rewrite import RewriteRefused

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")
# Token types of strings graphglot accepts beyond openCypher's two quotes (GQL byte, raw, national strings).
_OTHER_STRINGS = frozenset({"NATIONAL_STRING", "RAW_STRING", "BYTE_STRING", "HEX_STRING"})
# Whether `read` memoizes failed parse attempts; tests/unit/test_cypher_memo.py turns it off to compare.
MEMOIZE = True
GRAMMAR = "MATCH / OPTIONAL MATCH / WHERE / WITH / UNWIND / RETURN / ORDER BY / SKIP / LIMIT / UNION"


def read(query: str, max_depth: int, max_parse_steps: int, memoize: bool | None = None) -> tuple[list[Any], list[Any]]:
    """The tokens of `query` (`tokenize`) and its parse trees (`parse`)."""
    tokens = tokenize(query, max_depth)
    return tokens, parse(tokens, query, max_parse_steps, memoize)


def tokenize(query: str, max_depth: int) -> list[Any]:
    """The tokens of `query`, checked (`check_tokens`), a trailing `;` dropped.

    Raises:
        RewriteRefused: unreadable, too deeply nested, or a refused clause word.
    """
    with _refusals():
        tokens: list[Any] = _dialect().tokenize(query)
        check_tokens(query, tokens, max_depth)
        return tokens[:-1] if tokens and tokens[-1].text == ";" else tokens


def parse(tokens: list[Any], query: str, max_parse_steps: int, memoize: bool | None = None) -> list[Any]:
    """The parse trees of `tokenize`'s tokens (one per statement), with the memo of failed alternatives
    (`cypher_memo.py`) unless `memoize` (default `MEMOIZE`) is false.

    Raises:
        RewriteRefused: unreadable, too deeply nested or too costly to parse.
    """
    with _refusals():
        return _parse(tokens, query, max_parse_steps, MEMOIZE if memoize is None else memoize)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    """graphglot's errors, a recursion too deep and the parse budget as refusals a model can act on."""
    from graphglot.error import GraphGlotError

    try:
        yield
    except GraphGlotError as exc:
        first_line = _ANSI.sub("", str(exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RewriteRefused(
            f"not a query the guard can read ({first_line}); write one openCypher read query: {GRAMMAR}"
        ) from None
    except ValueError as exc:  # graphglot's literal checks outside its ParseError (`07`: int() refuses it)
        raise RewriteRefused(f"not a query the guard can read ({exc}); write one openCypher read query") from None
    except RecursionError:
        raise RewriteRefused("the query is nested too deeply; flatten it") from None
    except _ParseBudgetExceeded:
        raise RewriteRefused("the query is too complex for the guard's parser; simplify or split it") from None


class _ParseBudgetExceeded(Exception):
    """Not a graphglot ParseError, so the parser's backtracking cannot swallow it."""


@functools.cache
def _dialect() -> Any:
    from graphglot.dialect.base import Dialect

    return Dialect.get_or_raise("neo4j")


def _budgeted_parser_class() -> Any:
    """graphglot's parser with a budget of backtracking attempts: it backtracks exponentially on some short
    malformed inputs (`UNWIND x ( ( <- Agent` takes it 50 s), and a budget is deterministic where a clock is not;
    and with a memo of the attempts that failed (`cypher_memo.py`)."""
    from clawtrace_pipelines.core.graph.cypher_memo import budgeted_parser_class

    return budgeted_parser_class(_dialect().parser_class, _ParseBudgetExceeded)


def _parse(tokens: list[Any], query: str, budget: int, memoize: bool = True) -> list[Any]:
    parser = _budgeted_parser_class()(dialect=_dialect())
    parser.budget = budget
    parser.memoize = memoize
    try:
        return [p for p in parser.parse(tokens, query) if p is not None]
    finally:
        parser.reset()  # drops the memos, whose errors' tracebacks may lead back to the parser: no cycle is left


def check_tokens(query: str, tokens: list[Any], max_depth: int) -> None:
    """Checks on the tokens, before the (recursive, backtracking) parser sees them."""
    depth = 0
    for i, token in enumerate(tokens):
        raw = query[token.start : token.end + 1]
        if raw in _OPEN:
            depth += 1
            if depth > max_depth:
                raise RewriteRefused(f"the query nests brackets deeper than {max_depth}; flatten it")
        elif raw in _CLOSE:
            depth -= 1
        elif raw == ";" and i != len(tokens) - 1:
            raise RewriteRefused("send exactly one query (no ';' between statements)")
        elif token.token_type.name in _OTHER_STRINGS or raw[:1] == "@":
            raise RewriteRefused("use plain 'single-quoted' strings")
        elif raw[:1] == "`" and "`" in token.text:
            raise RewriteRefused("a `quoted` name may not contain a backtick")
        word = raw.upper()
        if word in REFUSED_WORDS and _is_clause_word(tokens, i):
            raise RewriteRefused(REFUSED_WORDS[word])


def _is_clause_word(tokens: list[Any], i: int) -> bool:
    """Whether a word is a keyword here, not a property, a label, a parameter or a map key (`n.set`, `$call`)."""
    before = tokens[i - 1].text if i else ""
    after = tokens[i + 1].text if i + 1 < len(tokens) else ""
    return before not in (".", ":", "$") and after != ":"
