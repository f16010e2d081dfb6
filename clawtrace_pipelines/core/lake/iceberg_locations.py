"""The current metadata file of each Iceberg table, read straight from a SQLite catalog.

A cold `clawtrace sql` process spends about a second importing pyiceberg (and SQLAlchemy) only to read one row
per table of the catalog. A SQL catalog keeps that pointer in the `iceberg_tables` table of the Iceberg JDBC
catalog layout, which pyiceberg's `SqlCatalog` also uses: `(catalog_name, table_namespace, table_name,
metadata_location, ...)`; the row is replaced in the same transaction as a commit, so reading it is reading the
committed snapshot. Other catalogs (REST, PostgreSQL) go through pyiceberg as before.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from contextlib import closing
from pathlib import Path

from clawtrace_pipelines.core.settings import Settings


def sqlite_catalog_path(settings: Settings) -> Path | None:
    """The SQLite file of the lake's Iceberg catalog, or None for any other kind of catalog.

    Args:
        settings: the catalog URI in force.

    Returns:
        The file path of a `sqlite:///` catalog (which may not exist yet), else None.
    """
    uri = settings.iceberg_catalog_uri()
    if not uri.startswith("sqlite:///") or uri.endswith(":memory:"):
        return None
    return Path(uri.removeprefix("sqlite:///"))


def metadata_locations(settings: Settings, path: Path, names: Collection[str]) -> dict[str, str] | None:
    """The current metadata location of each of `names` that the catalog at `path` holds.

    Args:
        settings: the catalog name and the namespace of the lake's tables.
        path: the SQLite catalog file (`sqlite_catalog_path`).
        names: the table names wanted.

    Returns:
        `{name: location}` with `file://` removed from local locations; a table not in the catalog (or a
        catalog file not created yet) is absent. None when the file does not have the expected layout (the
        caller then asks pyiceberg).
    """
    if not path.is_file():
        return {}
    try:
        # Read-only URI: looking must never create the file or take a write lock on it.
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as con:
            rows = con.execute(
                "SELECT table_name, metadata_location FROM iceberg_tables "
                "WHERE catalog_name = ? AND table_namespace = ? AND metadata_location IS NOT NULL",
                (settings.iceberg_catalog_name, settings.iceberg_namespace),
            ).fetchall()
    except sqlite3.Error:
        return None
    wanted = set(names)
    return {str(name): str(location).removeprefix("file://") for name, location in rows if name in wanted}
