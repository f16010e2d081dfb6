"""graphglot's parser with a budget on its backtracking and memos of the attempts that failed.

graphglot's parser is a backtracking recursive descent: a query of 40 tokens makes ~1,000 `try_parse` attempts,
~60 % of which fail, and about half of the failures repeat an attempt that already failed at the same token (a
value expression is tried as a boolean, then as a numeric one, each re-trying the same primaries). A failed
attempt leaves nothing behind but the parser's record of its deepest error (its token index is put back), so
it can be answered from a memo. Only failures are memoized: no AST node is ever handed out twice, so none is
shared or mutated twice (graphglot sets parent links and spans on nodes after building them). Two memos:

- by (sub-parser, token index), within one parse (packrat);
- "flat" failures, across parses: most failures (~95 %) read no token but the current one (a literal parser on
  an identifier, a clause parser on `MATCH`). The parser notes which tokens an attempt reads (`_advance`
  notes how far it went; the token list, `_next`, `_prev` and `_peek_at` note any read), and a failure that
  read only the current token is the same wherever that token comes, in any query: it is kept by (sub-parser,
  token type, token text, whether the deepest error so far lies beyond the token), up to FLAT_MEMO_SIZE. The
  parser's tokens are `NotedToken`s, which note a read of their text: a failure that read none is kept with
  the text None, for any token of the type (on the bench's queries, every flat failure), so a new text with
  new names and numbers is answered too.

What a hit replays, so a memoized parse is the parse without the memos, error message included:

- the deepest error (graphglot's `raise_error` keeps the latest error raised at the deepest token index): for
  a packrat hit, the index and error the record held when the attempt ended, if the attempt changed it
  (`_updates` counts the changes; the record's index never decreases, so that is all a second run could
  change); for a flat hit, its last error message raised again at the current token (all its errors were
  raised there, and graphglot's `parse_one_of` raises its own error or the deepest one by whether the deepest
  lies beyond: the key's last field);
- the budget: a hit costs the steps (`try_parse` calls) the first run took, so a query runs out of budget with
  the memos exactly where it would without them (the memos make it faster, not cheaper);
- side-channel state: graphglot's Cypher dialect passes a `*1..5` quantifier from the element pattern filler
  to the path factor in `parser._pending_varlen_quantifier`; an attempt that starts or ends with one set is
  neither answered from nor added to a memo.

Only sub-parsers that are the same function on every call are memoized: registered parsers and functions
without a closure. A closure (`lambda p: ...` built inside a parser) may capture state that changes between two
calls, and a new one is built per call anyway, so it would never hit.

`memoize = False` turns the memos off (tests/unit/test_cypher_memo.py compares both ways on a corpus).
"""

from __future__ import annotations

import functools
from typing import Any

# Attributes a graphglot 0.14 parser instance has after a parse; any other one is side-channel state the memo
# does not know about (tests/unit/test_cypher_memo.py checks this list against a corpus of queries).
KNOWN_PARSER_STATE = frozenset(
    "error_level error_message_context max_errors dialect query errors _tokens _toks _index _curr _next _prev"
    " _prev_comments _furthest_error _furthest_index _pending_varlen_quantifier budget memoize _updates _failures"
    " _reach _looked _text_read _foreign _raises _last_message".split()
)


FLAT_MEMO_SIZE = 20_000  # entries; the bench's six queries leave ~300


@functools.cache
def budgeted_parser_class(base: Any, budget_exceeded: type[Exception]) -> Any:
    """`base` (graphglot's dialect parser class) with a budget of `try_parse` steps, past which it raises
    `budget_exceeded` (not a ParseError, so backtracking cannot swallow it), and the memos of failures."""
    from graphglot.error import ErrorLevel, ParseError
    from graphglot.lexer import Token
    from graphglot.utils.helper import seq_get

    immediate = ErrorLevel.IMMEDIATE

    stable = frozenset(base.PARSERS.values())
    # (sub-parser, token type, token text, whether the deepest error is beyond the token) -> the steps and the
    # last error message of a failed `try_parse` that read no token but the current one (a "flat" failure):
    # the same wherever and in whichever query that token comes, so kept across parses.
    flat_failures: dict[tuple[Any, Any, str | None, bool], tuple[int, str | None]] = {}

    class NotedToken(Token):  # type: ignore[misc]
        """A token that notes in its parser when its text is read: a failure that did not read it is the same
        on any token of its type (kept with the text None)."""

        __slots__ = ("_text", "_parser")

        @property
        def text(self) -> str:
            self._parser._text_read = True
            return self._text

        @text.setter
        def text(self, text: str) -> None:
            self._text = text

    class BudgetedParser(base):  # type: ignore[misc]
        FLAT_FAILURES = flat_failures
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
            # whether it was flat (below) and whether it read a token's text.
            self._failures: dict[tuple[Any, int], tuple[int, tuple[int, Any] | None, bool, bool]] = {}
            self._reach = 0  # the furthest token index reached
            self._looked = False  # whether a token other than `_curr` was read
            self._text_read = False  # whether the text of a token was read
            self._foreign = False  # whether an error was raised at a token other than `_curr`
            self._raises = 0
            self._last_message: str | None = None

        # The token list and the next token are read through properties that note the read, so a failure that
        # read only the current token is known to depend on it alone.
        @property
        def _tokens(self) -> list[Any]:
            self._looked = True
            return self._toks

        @_tokens.setter
        def _tokens(self, tokens: list[Any]) -> None:
            self._toks = tokens

        @property
        def _next(self) -> Any:
            self._looked = True
            return seq_get(self._toks, self._index + 1)

        @_next.setter
        def _next(self, token: Any) -> None:
            pass

        @property
        def _prev(self) -> Any:
            self._looked = True
            return self._toks[self._index - 1] if self._index > 0 else None

        @_prev.setter
        def _prev(self, token: Any) -> None:
            pass

        @property
        def _prev_comments(self) -> Any:
            prev = self._prev
            return prev.comments if prev else None

        @_prev_comments.setter
        def _prev_comments(self, comments: Any) -> None:
            pass

        def _advance(self, times: int = 1) -> None:
            # graphglot 0.14's `Parser._advance`, reading `_toks`; `_next`, `_prev` and `_prev_comments` are
            # computed when read.
            self._index += times
            if self._index > self._reach:
                self._reach = self._index
            self._curr = seq_get(self._toks, self._index)

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
            index = self._index
            key = (parser, index)
            failed = self._failures.get(key)
            if failed is not None:
                self._charge(failed[0], failed[1])
                # The enclosing attempt depends on what this one read.
                self._looked = self._looked or not failed[2]
                self._text_read = self._text_read or failed[3]
                return None
            curr = self._curr
            noted = type(curr) is NotedToken
            if noted:
                beyond = self._furthest_index > index
                flat = flat_failures.get((parser, curr.token_type, None, beyond))
                if flat is None:
                    flat = flat_failures.get((parser, curr.token_type, curr._text, beyond))
                    if flat is not None:
                        self._text_read = True
                if flat is not None:
                    self._charge_flat(*flat)
                    return None
            budget, updates, raises = self.budget, self._updates, self._raises
            reach, looked, foreign, text_read = self._reach, self._looked, self._foreign, self._text_read
            self._reach, self._looked, self._foreign, self._text_read = index, False, False, False
            try:
                result = self._try_parse(parser, retreat)
            finally:
                is_flat = noted and self._reach == index and not self._looked and not self._foreign
                read_text = self._text_read
                self._reach = max(reach, self._reach)
                self._looked = looked or self._looked
                self._foreign = foreign or self._foreign
                self._text_read = text_read or read_text
            if result is None and self._pending_varlen_quantifier is None:
                self._failures[key] = (budget - self.budget, self._deepest(updates), is_flat, read_text)
                if is_flat:
                    message = self._last_message if self._raises != raises else None
                    if len(flat_failures) >= FLAT_MEMO_SIZE:
                        flat_failures.clear()
                    text = curr._text if read_text else None
                    flat_failures[(parser, curr.token_type, text, beyond)] = (budget - self.budget, message)
            return result

        def _parse_chunks(self, parse_method: Any, raw_tokens: list[Any]) -> Any:
            if self.memoize:
                raw_tokens = [self._noted(token) for token in raw_tokens]
            return super()._parse_chunks(parse_method, raw_tokens)

        def _noted(self, token: Any) -> Any:
            noted = NotedToken(token.token_type, token.text, token.line, token.col, token.start, token.end)
            noted.comments = token.comments
            noted._parser = self
            return noted

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

        def _charge_flat(self, steps: int, message: str | None) -> None:
            """What a memoized flat failure did again here: its steps, and its last error (all were raised at
            the current token, and only the last can be the deepest)."""
            self.budget -= steps
            if self.budget < 0:
                raise budget_exceeded
            if message is not None:
                error_level, self.error_level = self.error_level, immediate
                try:
                    self.raise_error(message)
                except ParseError:
                    pass
                finally:
                    self.error_level = error_level

        def _peek_at(self, offset: int) -> Any:
            self._looked = True
            return super()._peek_at(offset)

        def raise_error(self, message: str, token: Any = None) -> None:
            # graphglot raises a ParseError for every failed alternative (~800 a query) and each holds its
            # traceback, whose raise_error frame holds the error: a cycle only the cyclic GC frees. Thousands
            # a query made gen-2 collections run inside parses (300-400 ms on a large heap, the bench's p95).
            # Dropping the traceback breaks the cycle; nothing reads it (messages come from str()).
            if self._index >= self._furthest_index:  # graphglot's condition to record it as the deepest
                self._updates += 1
            if token is not None and token is not self._curr:
                self._foreign = True
            self._raises += 1
            self._last_message = message
            try:
                super().raise_error(message, token)
            except ParseError as exc:
                raise exc.with_traceback(None) from None

    return BudgetedParser
