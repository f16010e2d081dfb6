"""graphglot's parser with a budget on its backtracking and a memo of the attempts that failed.

graphglot's parser is a backtracking recursive descent: a query of 40 tokens makes ~1,000 `try_parse` attempts,
~60 % of which fail, and about half of the failures repeat an attempt that already failed at the same token (a
value expression is tried as a boolean, then as a numeric one, each re-trying the same primaries). A failed
attempt leaves nothing behind but the parser's record of its deepest error (its token index is put back), so
it can be answered from a memo keyed by (sub-parser, token index) within one parse. Only failures are
memoized: no AST node is ever handed out twice, so none is shared or mutated twice (graphglot sets parent links
and spans on nodes after building them).

What a hit replays, so a memoized parse is the parse without the memo, error message included:

- the deepest error (graphglot's `raise_error` keeps the latest error raised at the deepest token index):
  the index and error the record held when the attempt ended, if the attempt changed it (`_updates` counts the
  changes). The record's index never decreases, so that is all a second run could change;
- the budget: a hit costs the steps (`try_parse` calls) the first run took, so a query runs out of budget with
  the memo exactly where it would without it (the memo makes it faster, not cheaper);
- side-channel state: graphglot's Cypher dialect passes a `*1..5` quantifier from the element pattern filler
  to the path factor in `parser._pending_varlen_quantifier`; an attempt that starts or ends with one set is
  neither answered from nor added to the memo.

Only sub-parsers that are the same function on every call are memoized: registered parsers and functions
without a closure. A closure (`lambda p: ...` built inside a parser) may capture state that changes between two
calls, and a new one is built per call anyway, so it would never hit.

`memoize = False` turns the memo off (tests/unit/test_cypher_memo.py compares both ways on a corpus).
"""

from __future__ import annotations

import functools
from typing import Any

# Attributes a graphglot 0.14 parser instance has after a parse; any other one is side-channel state the memo
# does not know about (tests/unit/test_cypher_memo.py checks this list against a corpus of queries).
KNOWN_PARSER_STATE = frozenset(
    {
        "error_level",
        "error_message_context",
        "max_errors",
        "dialect",
        "query",
        "errors",
        "_tokens",
        "_index",
        "_curr",
        "_next",
        "_prev",
        "_prev_comments",
        "_furthest_error",
        "_furthest_index",
        "_pending_varlen_quantifier",
        "budget",
        "memoize",
        "_updates",
        "_failures",
    }
)


@functools.cache
def budgeted_parser_class(base: Any, budget_exceeded: type[Exception]) -> Any:
    """`base` (graphglot's dialect parser class) with a budget of `try_parse` steps, past which it raises
    `budget_exceeded` (not a ParseError, so backtracking cannot swallow it), and the memos of failures."""
    from graphglot.error import ErrorLevel, ParseError

    immediate = ErrorLevel.IMMEDIATE

    stable = frozenset(base.PARSERS.values())

    class BudgetedParser(base):  # type: ignore[misc]
        budget = 0
        memoize = True
        _pending_varlen_quantifier: Any = None  # graphglot reads it with getattr(..., None): the same default
        _furthest_index: int
        _furthest_error: Any
        error_level: Any

        def reset(self) -> None:
            super().reset()
            self._updates = 0
            # (sub-parser, token index) -> the steps a failed `try_parse` took and the deepest error then.
            self._failures: dict[tuple[Any, int], tuple[int, tuple[int, Any] | None]] = {}

        def try_parse(self, parser: Any, retreat: bool = False) -> Any:
            self.budget -= 1
            if self.budget < 0:
                raise budget_exceeded
            if self._curr is None:
                return None
            if (
                not self.memoize
                or self._pending_varlen_quantifier is not None
                or not (parser in stable or getattr(parser, "__closure__", True) is None)
            ):
                return self._try_parse(parser, retreat)
            key = (parser, self._index)
            failed = self._failures.get(key)
            if failed is not None:
                self._charge(*failed)
                return None
            budget, updates = self.budget, self._updates
            result = self._try_parse(parser, retreat)
            if result is None and self._pending_varlen_quantifier is None:
                self._failures[key] = (budget - self.budget, self._deepest(updates))
            return result

        def _try_parse(self, parser: Any, retreat: bool) -> Any:
            """graphglot 0.14's `Parser.try_parse` after its `_curr is None` check, dropping the traceback of the
            error it swallows: it keeps every frame the error crossed alive, and Python 3.11 is slow to raise
            through frames kept alive."""
            index = self._index
            error_level = self.error_level
            result = None
            self.error_level = immediate
            try:
                result = parser(self)
            except ParseError as exc:
                exc.__traceback__ = None
            finally:
                if not result or retreat:
                    self._retreat(index)
                self.error_level = error_level
            return result

        def _deepest(self, updates: int) -> tuple[int, Any] | None:
            """The deepest error, if it changed since `self._updates` was `updates`."""
            if self._updates == updates:
                return None
            if self._furthest_error is not None:
                self._furthest_error.__traceback__ = None
            return self._furthest_index, self._furthest_error

        def _charge(self, steps: int, deepest: tuple[int, Any] | None) -> None:
            """What a memoized failure did again: its steps, and the deepest error it left (graphglot's rule)."""
            self.budget -= steps
            if self.budget < 0:
                raise budget_exceeded
            if deepest is not None and deepest[0] >= self._furthest_index:
                self._furthest_index, self._furthest_error = deepest
                self._updates += 1

        def raise_error(self, message: str, token: Any = None) -> None:
            # graphglot raises a ParseError for every failed alternative (~800 a query) and each holds its
            # traceback, whose raise_error frame holds the error: a cycle only the cyclic GC frees. Thousands
            # a query made gen-2 collections run inside parses (300-400 ms on a large heap, the bench's p95).
            # Dropping the traceback breaks the cycle; nothing reads it (messages come from str()).
            if self._index >= self._furthest_index:  # graphglot's condition to record it as the deepest
                self._updates += 1
            try:
                super().raise_error(message, token)
            except ParseError as exc:
                raise exc.with_traceback(None) from None

    return BudgetedParser
