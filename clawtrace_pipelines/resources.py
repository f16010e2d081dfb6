"""Thin Dagster resources over the kernel."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource
from pydantic import Field

from clawtrace_pipelines.core.lake.analyst_sql import attach_lake_views
from clawtrace_pipelines.core.lake.duck import OFFLINE_CONFIG, load_lake_extensions
from clawtrace_pipelines.core.settings import Settings


class LakehouseResource(dg.ConfigurableResource):
    """The lake the assets read and write. Unset fields come from `CLAWTRACE_*` at run time."""

    lake: str | None = None
    table_format: str | None = None

    def settings(self) -> Settings:
        overrides = {k: v for k, v in (("lake", self.lake), ("table_format", self.table_format)) if v}
        return Settings(**overrides)


class AnalystDuckDBResource(DuckDBResource):
    """A DuckDB connection where every existing lake table is a view by its name, the same views as
    `clawtrace sql`, for an asset or a notebook (`with analyst_duckdb.get_connection() as con: ...`).

    With `lock` (the default) the connection can read only the lake tables' folders and change no setting;
    an asset that must write files elsewhere sets `lock=False`. DuckDB applies the lock to the whole database
    instance, so keep the default in-memory `database` (or a file no other resource opens in this process).
    """

    database: str = ":memory:"
    # dagster-duckdb passes this to duckdb.connect: extensions come from the wheels, never from the network.
    connection_config: dict[str, Any] = Field(default_factory=lambda: dict(OFFLINE_CONFIG))
    lake: str | None = None
    table_format: str | None = None
    lock: bool = True

    def settings(self) -> Settings:
        overrides = {k: v for k, v in (("lake", self.lake), ("table_format", self.table_format)) if v}
        return Settings(**overrides)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        settings = self.settings()
        with super().get_connection() as con:
            try:
                load_lake_extensions(con, settings)
                attach_lake_views(con, settings, lock=self.lock)
                yield con
            except BaseException:
                # dagster-duckdb closes the connection only on a clean exit.
                con.close()
                raise
