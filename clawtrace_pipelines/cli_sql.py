"""`clawtrace sql`: read-only SQL over every lake table by its name, in the analyst's dialect, or an interactive
prompt with history when no query is given."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from clawtrace_pipelines.core.lake.analyst_sql import AnalystSql, SqlResult
    from clawtrace_pipelines.core.settings import Settings

OUTPUT_FORMATS = ("table", "csv", "json")
PROMPT, CONTINUE = "sql> ", "...> "


def _settings(lake: str | None, table_format: str | None) -> Settings:
    from clawtrace_pipelines.core.settings import Settings

    overrides = {k: v for k, v in (("lake", lake), ("table_format", table_format)) if v}
    return Settings(**overrides)


def sql(
    query: Annotated[str | None, typer.Argument(help="One read query; none opens an interactive prompt")] = None,
    dialect: Annotated[
        str, typer.Option("--dialect", help="duckdb, spark, databricks, trino, postgres or snowflake")
    ] = "duckdb",
    output: Annotated[str, typer.Option("--format", help="table, csv or json (one object per line)")] = "table",
    lake: Annotated[str | None, typer.Option("--lake", help="Lake root: a folder or s3://bucket/prefix")] = None,
    table_format: Annotated[
        str | None, typer.Option("--table-format", help="The lake's table format: delta or iceberg")
    ] = None,
) -> None:
    """Run read-only SQL over every lake table (bronze, silver, reference) by its name, through DuckDB.

    Other dialects are translated with sqlglot, so Spark/Databricks SQL (backticks, NVL, get_json_object,
    clawtrace.silver.pg_spans) runs locally. Anything but a read (DDL, DML, COPY, ATTACH, INSTALL, PRAGMA, SET)
    and any read of files outside the lake is refused with exit code 2.
    """
    from clawtrace_pipelines.core.lake.analyst_sql import DIALECTS, open_analyst_sql

    if dialect not in DIALECTS:
        raise typer.BadParameter(f"--dialect must be one of {', '.join(DIALECTS)}")
    if output not in OUTPUT_FORMATS:
        raise typer.BadParameter(f"--format must be one of {', '.join(OUTPUT_FORMATS)}")
    settings = _settings(lake, table_format)
    if query is None:
        with open_analyst_sql(settings) as session:
            _interactive(session, settings, dialect, output)
        return
    tables = _tables_read(query, dialect)
    with open_analyst_sql(settings, tables=tables) as session:
        result = _run(session, query, dialect)
    if result is None:
        raise typer.Exit(2)
    typer.echo(render(result, output))


def _tables_read(query: str, dialect: str) -> frozenset[str]:
    """The lake tables a one-off query reads, so only their views are opened (exit 2 if it is refused)."""
    from clawtrace_pipelines.core.lake.analyst_sql import SqlRefusedError, SqlSyntaxError, check_query
    from clawtrace_pipelines.core.tables import ALL_TABLES

    try:
        return check_query(query, dialect, ALL_TABLES).tables
    except (SqlRefusedError, SqlSyntaxError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _run(session: AnalystSql, query: str, dialect: str) -> SqlResult | None:
    """The query's result, or None after printing why it was refused or failed."""
    from clawtrace_pipelines.core.lake.analyst_sql import SqlExecutionError, SqlRefusedError, SqlSyntaxError

    try:
        return session.query(query, dialect)
    except (SqlRefusedError, SqlSyntaxError, SqlExecutionError) as exc:
        typer.echo(f"error: {exc}", err=True)
        return None


def render(result: SqlResult, output: str) -> str:
    """The result as an aligned table, CSV with a header, or one JSON object per line."""
    if output == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_cell(v) for v in row] for row in result.rows())
        return buffer.getvalue().rstrip("\n")
    if output == "json":
        return "\n".join(
            json.dumps(dict(zip(result.columns, row, strict=True)), default=_json_value) for row in result.rows()
        )
    from clawtrace_pipelines.cli import _table

    if not result.columns:
        return "(no rows)"
    return _table([dict(zip(result.columns, [_cell(v) for v in row], strict=True)) for row in result.rows()])


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    # Decimal's str() turns a zero cost into 0E-10.
    return format(value, "f") if isinstance(value, Decimal) else value


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        # DuckDB sums BIGINTs to HUGEINT, which arrives as a Decimal: a JSON number, like the column it sums.
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def history_file(settings: Settings) -> Path:
    """The prompt's history: in a local lake's state/ folder, else in the home folder."""
    if not settings.lake_is_remote:
        state = Path(settings.lake_path("state"))
        if state.is_dir():
            return state / "sql_history"
    return Path.home() / ".clawtrace_sql_history"


def _interactive(session: AnalystSql, settings: Settings, dialect: str, output: str) -> None:
    """A prompt: statements end with `;`, `.tables` lists the views, `.quit` (or end of input) leaves."""
    import readline

    history = history_file(settings)
    readline.set_history_length(1000)
    try:
        readline.read_history_file(history)
    except OSError:
        pass  # no history yet
    typer.echo(f"clawtrace sql ({dialect}): end statements with ';', .tables lists tables, .quit leaves")
    lines: list[str] = []
    try:
        while True:
            try:
                line = input(CONTINUE if lines else PROMPT)
            except EOFError:
                break
            command = line.strip()
            if not lines and command in {".quit", ".exit"}:
                break
            if not lines and command == ".tables":
                typer.echo("\n".join(sorted(session.views)) or "(no tables yet)")
                continue
            if not command and not lines:
                continue
            lines.append(line)
            if command.endswith(";"):
                statement = "\n".join(lines)
                if not sys.stdin.isatty():
                    readline.add_history(statement)  # input() records only lines typed at a terminal
                result = _run(session, statement, dialect)
                lines = []
                if result is not None:
                    typer.echo(render(result, output))
    finally:
        try:
            readline.write_history_file(history)
        except OSError:
            pass  # a read-only home must not break the session
