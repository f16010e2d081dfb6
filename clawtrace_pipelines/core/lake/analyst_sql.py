"""SQL for analysts: every lake table that exists is a DuckDB view by its table name, and queries in the
analyst's dialect run there read-only.

Two walls keep a query inside the lake. `analyst_sql_guard.to_duckdb` lets through only one read over the view
names. Then the connection itself, once the views exist, gets `enable_external_access = false` with
`allowed_directories` set to the tables' own folders, and `lock_configuration = true`: DuckDB refuses to open
any other file, attach a database, install an extension or change a setting, whatever SQL reaches it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from clawtrace_pipelines.core.errors import ClawTraceError
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.analyst_sql_guard import (
    DIALECTS,
    CheckedQuery,
    SqlRefusedError,
    SqlSyntaxError,
    check_query,
)
from clawtrace_pipelines.core.lake.duck import connect
from clawtrace_pipelines.core.lake.iceberg_locations import metadata_locations, sqlite_catalog_path
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import ALL_TABLES

__all__ = [
    "DIALECTS",
    "AnalystSql",
    "CheckedQuery",
    "SqlExecutionError",
    "SqlRefusedError",
    "SqlResult",
    "SqlSyntaxError",
    "attach_lake_views",
    "check_query",
    "lake_view_sources",
    "open_analyst_sql",
]

_SCAN = re.compile(r"^(delta_scan|iceberg_scan)\('((?:[^']|'')*)'\)$")


class SqlExecutionError(ClawTraceError, ValueError):
    """A read the gate let through that DuckDB could not run (unknown column, bad cast...)."""


@dataclass(frozen=True)
class SqlResult:
    """A query's answer: the DuckDB SQL that ran and the rows as Arrow, columns in SELECT order."""

    sql: str
    table: pa.Table

    @property
    def columns(self) -> list[str]:
        return list(self.table.column_names)

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows as tuples (duplicate column names stay distinct, unlike dicts)."""
        columns = [c.to_pylist() for c in self.table.columns]
        return list(zip(*columns, strict=True)) if columns else []


def lake_view_sources(settings: Settings, names: Collection[str] | None = None) -> dict[str, str]:
    """The DuckDB table expression of every lake table that exists (or of those of `names`), by name.

    Args:
        settings: the lake.
        names: only these tables (a one-off query opens just what it reads); None: every lake table.

    Returns:
        `{name: "delta_scan('...')" or "iceberg_scan('...')"}`; a table never written is absent. With a
        SQLite Iceberg catalog the locations are read from it directly (see `iceberg_locations`).
    """
    wanted = [name for name in ALL_TABLES if names is None or name in names]
    if settings.table_format == "iceberg":
        path = sqlite_catalog_path(settings)
        locations = None if path is None else metadata_locations(settings, path, wanted)
        if locations is not None:
            return {
                name: "iceberg_scan('{}')".format(locations[name].replace("'", "''"))
                for name in wanted
                if name in locations
            }
    sources: dict[str, str] = {}
    for name in wanted:
        table = open_table(ALL_TABLES[name], settings)
        # exists() first: duckdb_source() would create the missing table, and a query must not write.
        if table.exists():
            sources[name] = table.duckdb_source()
    return sources


def attach_lake_views(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    *,
    lock: bool = True,
    names: Collection[str] | None = None,
) -> dict[str, str]:
    """Create a temporary view per existing lake table on `con` (lake extensions already loaded), then,
    with `lock`, confine the connection to the tables' folders and lock its configuration.

    Args:
        con: a connection with the lake extensions loaded (`duck.connect` or `duck.load_lake_extensions`).
        settings: the lake.
        lock: turn external access off (but for the tables' folders) and lock the configuration; after
            this the connection can read nothing else and change no setting.
        names: only these tables (see `lake_view_sources`).

    Returns:
        The view sources by name, as `lake_view_sources`.
    """
    sources = lake_view_sources(settings, names)
    for name, source in sources.items():
        # Temporary: a connection on a database file must not store views pinned to one snapshot.
        con.execute(f'CREATE OR REPLACE TEMP VIEW "{name}" AS SELECT * FROM {source}')
    if lock:
        folders = sorted({_table_folder(source) for source in sources.values()})
        con.execute("SET allowed_directories = $folders", {"folders": folders})
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    return sources


def _table_folder(source: str) -> str:
    """The folder holding a table's files, from its scan expression (an Iceberg metadata file sits in
    `<table>/metadata/`)."""
    match = _SCAN.match(source)
    if match is None:
        raise ValueError(f"not a lake scan expression: {source}")
    path = match.group(2).replace("''", "'")
    if match.group(1) == "iceberg_scan":
        path = path.rsplit("/", 2)[0]
    return path.rstrip("/") + "/"


class AnalystSql:
    """A locked DuckDB connection over the lake views; `query` runs one read in any supported dialect."""

    def __init__(self, con: duckdb.DuckDBPyConnection, views: dict[str, str]) -> None:
        self.con = con
        self.views = views

    def query(self, sql: str, dialect: str = "duckdb") -> SqlResult:
        """Translate `sql` to DuckDB, check it is a read of the views, run it.

        Args:
            sql: one query.
            dialect: one of `DIALECTS`.

        Returns:
            The DuckDB SQL that ran and its rows.

        Raises:
            SqlRefusedError: not a single read of the lake views.
            SqlSyntaxError: the query does not parse in `dialect`.
            SqlExecutionError: DuckDB could not run it.
            ValueError: an unknown dialect.
        """
        checked = check_query(sql, dialect, self.views)
        try:
            table = self.con.execute(checked.sql).to_arrow_table()
        except duckdb.Error as exc:
            raise SqlExecutionError(str(exc)) from exc
        return SqlResult(checked.sql, table)

    def close(self) -> None:
        self.con.close()


@contextmanager
def open_analyst_sql(settings: Settings, tables: Collection[str] | None = None) -> Iterator[AnalystSql]:
    """An `AnalystSql` over the lake, closed on exit.

    Args:
        settings: the lake.
        tables: views for only these tables (`check_query(...).tables` of a one-off query: opening every
            table's log costs a cold process more than the query); None: every lake table.

    Yields:
        The locked connection with a view per existing lake table.

    Raises:
        ExtensionNotFoundError: a DuckDB extension package is missing.
    """
    con = connect(settings)
    try:
        views = attach_lake_views(con, settings, names=tables)
        yield AnalystSql(con, views)
    finally:
        con.close()
