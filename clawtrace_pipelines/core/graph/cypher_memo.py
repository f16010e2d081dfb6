"""graphglot's parser with a budget on its backtracking and a memo of the alternatives that failed.

graphglot's parser is a backtracking recursive descent: a query of 40 tokens makes ~1,000 `try_parse` attempts
and ~60 % of them fail, about half of those repeating an attempt that already failed at the same token (a
value expression is tried as a boolean, then as a numeric one, each re-trying the same primaries). A failed
attempt leaves nothing behind but the parser's record of its deepest error, so one can be answered from a
memo keyed by (sub-parser, token index) within one parse: no AST node is shared, so nothing built is reused or
mutated twice. What is replayed, so a memoized parse is the parse without the memo, error message included:

- the deepest error: each attempt records the deepest error raised inside it (the index and the error, the
  rule of graphglot's `raise_error`: the latest at the deepest index wins), and a memo hit applies it again;
- the budget: a hit costs the steps the first attempt took, so a query runs out of budget with the memo
  exactly where it would without it (the memo makes it faster, not cheaper);
- side-channel state: graphglot's Cypher dialect passes a `*1..5` quantifier from the element pattern filler
  to the path factor in `parser._pending_varlen_quantifier`; an attempt that starts or ends with one set is
  neither answered from nor added to the memo.

Only sub-parsers that are the same function on every call are memoized: graphglot's registered parsers and
functions without a closure. A closure (`lambda p: ...` built inside a parser) may capture state that changes
between two calls, and a new one is built per call anyway, so it would never hit.

`memoize = False` turns the memo off (tests/unit/test_cypher_memo.py compares both).
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
        "_failures",
        "_frames",
    }
)
_PENDING = "_pending_varlen_quantifier"


@functools.cache
def budgeted_parser_class(base: Any, budget_exceeded: type[Exception]) -> Any:
    """`base` (graphglot's dialect parser class) with a budget of `try_parse` steps, past which it raises
    `budget_exceeded` (not a ParseError, so backtracking cannot swallow it), and the memo of failures."""
    from graphglot.error import ParseError

    stable = frozenset(base.PARSERS.values())

    def memoizable(parser: Any) -> bool:
        return parser in stable or getattr(parser, "__closure__", True) is None

    class BudgetedParser(base):  # type: ignore[misc]
        budget = 0
        memoize = True
        _furthest_index: int
        _furthest_error: Any

        def reset(self) -> None:
            super().reset()
            # (sub-parser, token index) -> the steps the failed attempt took inside, and the index and error of
            # the deepest error it raised.
            self._failures: dict[tuple[Any, int], tuple[int, int, Any]] = {}
            # One [index, error] per attempt under way: the deepest error raised inside it so far.
            self._frames: list[list[Any]] = []

        def try_parse(self, parser: Any, retreat: bool = False) -> Any:
            self.budget -= 1
            if self.budget < 0:
                raise budget_exceeded
            if (
                not self.memoize
                or self._curr is None
                or getattr(self, _PENDING, None) is not None
                or not memoizable(parser)
            ):
                return super().try_parse(parser, retreat)
            key = (parser, self._index)
            failed = self._failures.get(key)
            if failed is not None:
                steps, index, error = failed
                self.budget -= steps
                if self.budget < 0:
                    raise budget_exceeded
                if error is not None:
                    self._replay(index, error)
                return None
            budget = self.budget
            frame: list[Any] = [-1, None]
            self._frames.append(frame)
            try:
                result = super().try_parse(parser, retreat)
            finally:
                self._frames.pop()
                if frame[1] is not None:
                    # Caught by now: its traceback would keep every frame it crossed alive (and `self`, whose
                    # memo holds it: a cycle), which makes raising in Python 3.11 slow and the GC busy.
                    frame[1].__traceback__ = None
                    if self._frames:
                        _note(self._frames[-1], frame[0], frame[1])
            if result is None and getattr(self, _PENDING, None) is None:
                self._failures[key] = (budget - self.budget, frame[0], frame[1])
            return result

        def _replay(self, index: int, error: Any) -> None:
            """What graphglot's `raise_error` does with an error raised at `index`, without raising it."""
            if index >= self._furthest_index:
                self._furthest_index = index
                self._furthest_error = error
            if self._frames:
                _note(self._frames[-1], index, error)

        def raise_error(self, message: str, token: Any = None) -> None:
            # graphglot raises a ParseError for every failed alternative (~800 a query) and each holds its
            # traceback, whose raise_error frame holds the error: a cycle only the cyclic GC frees. Thousands
            # a query made gen-2 collections run inside parses (300-400 ms on a large heap, the bench's p95).
            # Dropping the traceback breaks the cycle; nothing reads it (messages come from str()).
            index = self._index
            try:
                super().raise_error(message, token)
            except ParseError as exc:
                if self._frames:
                    _note(self._frames[-1], index, exc)
                raise exc.with_traceback(None) from None
            if self._frames and self.errors:  # an error level that records instead of raising
                _note(self._frames[-1], index, self.errors[-1])

    return BudgetedParser


def _note(frame: list[Any], index: int, error: Any) -> None:
    """graphglot's rule for its deepest error: the latest raised at the deepest index wins."""
    if index >= frame[0]:
        frame[0] = index
        frame[1] = error
