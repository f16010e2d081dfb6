"""The read-only gate of analyst SQL: parse a query in the analyst's dialect with sqlglot, allow only one read
(SELECT / WITH / set operations / VALUES) over the lake's view names, and write it back as DuckDB SQL.

This is an allowlist on the parsed tree, not a keyword filter: a statement runs only if its root is a query,
every table it names is a lake view or one of its own CTEs, and every table function is a pure generator
(`range`, `unnest`). The connection adds a second wall (external access off, configuration locked; see
`analyst_sql.py`), so a parser differential between sqlglot and DuckDB still cannot reach a file.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokenizer_core import TokenType

from clawtrace_pipelines.core.errors import ClawTraceError
from clawtrace_pipelines.core.tables import ALL_TABLES

DIALECTS: Final = ("duckdb", "spark", "databricks", "trino", "postgres", "snowflake")

# The words a read may start with; `(` for a parenthesized query, FROM for DuckDB's FROM-first form.
_READ_STARTS: Final = frozenset({"SELECT", "WITH", "VALUES", "FROM", "("})

# Node classes that are never part of a read, wherever they appear (a CTE may hold DML in Postgres).
_FORBIDDEN_NODES: Final[tuple[type[exp.Expr], ...]] = (
    exp.DDL,
    exp.DML,
    exp.Copy,
    exp.Command,
    exp.Set,
    exp.Pragma,
    exp.Attach,
    exp.Detach,
    exp.Install,
    exp.Into,
    exp.Use,
    exp.Transaction,
    exp.Export,
)

# Table functions that only generate rows; anything else in a FROM (read_csv, glob, query, delta_scan...) can
# reach files, URLs or SQL the gate never saw.
_GENERATORS: Final[tuple[type[exp.Expr], ...]] = (exp.GenerateSeries, exp.Unnest, exp.ExplodeOuter)

# Scalar functions that read the environment, secrets or run SQL text (DuckDB names).
_FORBIDDEN_FUNCTIONS: Final = frozenset({"getenv", "query", "query_table", "which_secret", "duckdb_secrets"})
_FORBIDDEN_PREFIXES: Final = ("read_", "parquet_", "delta_", "iceberg_", "sqlite_", "postgres_", "mysql_", "glob")
# sqlglot underlines the offending token with terminal escapes; messages go to files and JSON too.
_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")


class SqlRefusedError(ClawTraceError, ValueError):
    """Analyst SQL that is not a single read of the lake's views: the message names what was refused."""


class SqlSyntaxError(ClawTraceError, ValueError):
    """Analyst SQL that does not parse in its dialect."""


@dataclass(frozen=True)
class CheckedQuery:
    """A read the gate let through: its DuckDB SQL and the lake tables it reads."""

    sql: str
    tables: frozenset[str]


def to_duckdb(sql: str, dialect: str, views: Collection[str]) -> str:
    """The DuckDB SQL of one read query over the lake views, refusing anything else (see `check_query`)."""
    return check_query(sql, dialect, views).sql


def check_query(sql: str, dialect: str, views: Collection[str]) -> CheckedQuery:
    """Check that `sql` is one read over the lake views, and write it in DuckDB's dialect.

    Catalog and schema qualifiers of a view name are dropped, so the original's `clawtrace.silver.pg_spans`
    reads the local `pg_spans`.

    Args:
        sql: one query, with or without a trailing `;`.
        dialect: one of `DIALECTS`.
        views: the view names the query may read.

    Returns:
        The query in DuckDB's dialect and the views it reads.

    Raises:
        SqlRefusedError: not exactly one read, or a read of anything but the views (files, URLs, settings).
        SqlSyntaxError: the query does not parse in `dialect`.
        ValueError: an unknown dialect.
    """
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}; one of {', '.join(DIALECTS)}")
    _check_statement_words(sql, dialect)
    try:
        trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except (ParseError, TokenError) as exc:
        raise SqlSyntaxError(f"not valid {dialect} SQL: {_ANSI.sub('', str(exc))}") from exc
    if len(trees) != 1:
        raise SqlRefusedError("refused: exactly one statement per query (found several)")
    tree = trees[0]
    if not isinstance(tree, exp.Query | exp.Values):
        raise SqlRefusedError(f"refused: {tree.key.upper()} is not a read; only SELECT, WITH and VALUES run here")
    tables = _check_tree(tree, {v.lower() for v in views})
    return CheckedQuery(tree.sql(dialect="duckdb"), frozenset(tables))


def _check_statement_words(sql: str, dialect: str) -> None:
    """Refuse by the first word of each statement, before parsing: sqlglot cannot parse some DuckDB
    statements (EXPORT, IMPORT) and falls back to an opaque command for others (LOAD, CALL, RESET)."""
    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except TokenError as exc:
        raise SqlSyntaxError(f"not valid {dialect} SQL: {_ANSI.sub('', str(exc))}") from exc
    statements: list[list[str]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(token.text.upper())
    statements = [s for s in statements if s]
    if not statements:
        raise SqlSyntaxError("empty query")
    if len(statements) > 1:
        raise SqlRefusedError(f"refused: exactly one statement per query (found {len(statements)})")
    first = statements[0][0]
    if first not in _READ_STARTS:
        raise SqlRefusedError(f"refused: {first} is not a read; only SELECT, WITH and VALUES run here")


def _check_tree(tree: exp.Expr, views: set[str]) -> set[str]:
    """The views the tree reads; raises on anything that is not part of a read of them."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    read: set[str] = set()
    for node in tree.walk():
        if isinstance(node, _FORBIDDEN_NODES):
            what = "SELECT ... INTO" if isinstance(node, exp.Into) else node.key.upper()
            raise SqlRefusedError(f"refused: {what} is not a read; only SELECT, WITH and VALUES run here")
        if isinstance(node, exp.Table):
            read |= _check_table(node, views, ctes)
        elif isinstance(node, exp.Func):
            name = _function_name(node)
            if name in _FORBIDDEN_FUNCTIONS or name.startswith(_FORBIDDEN_PREFIXES):
                raise SqlRefusedError(f"refused: function {name}() reads outside the lake views")
    return read


def _check_table(table: exp.Table, views: set[str], ctes: set[str]) -> set[str]:
    source = table.this
    if isinstance(source, exp.Func):
        if isinstance(source, _GENERATORS):
            return set()
        name = _function_name(source)
        raise SqlRefusedError(f"refused: table function {name}() reads outside the lake views; query the views by name")
    if not isinstance(source, exp.Identifier):
        raise SqlRefusedError(f"refused: {table.sql('duckdb')!r} is not a lake view")
    name = source.name
    if not table.db and name.lower() in ctes:
        return set()
    if name.lower() in views:
        # The original's three-part names (clawtrace.silver.pg_spans) read the local view.
        table.set("db", None)
        table.set("catalog", None)
        return {name.lower()}
    if any(c in name for c in "/\\:") or "." in name:
        raise SqlRefusedError(f"refused: {name!r} is a file path or URL; only the lake views can be read")
    if name.lower() in ALL_TABLES:
        raise SqlRefusedError(f"refused: table {name} has not been written yet (run a tick first)")
    raise SqlRefusedError(
        f"refused: unknown table {table.sql('duckdb')}; the lake views are {', '.join(sorted(views))}"
    )


def _function_name(func: exp.Func) -> str:
    return (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()
