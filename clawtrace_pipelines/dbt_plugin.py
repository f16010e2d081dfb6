"""dbt-duckdb plugin: DuckDB's lake extensions from the `duckdb-extension-*` wheels, loaded on first use.

dbt-duckdb would otherwise INSTALL extensions from the network. The profile turns autoinstall off and autoload
on, and this plugin points each connection's `extension_directory` at links to the wheels' files
(`core.lake.duck.autoload_directory`): an analyst's model can read the lake directly (`delta_scan`,
`iceberg_scan`, `read_parquet('s3://...')`), while a build whose models call none of them (every tick's) does
not pay about 0.6 s per connection to LOAD all four.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from clawtrace_pipelines.core.lake.duck import LAKE_EXTENSIONS, autoload_directory, extension_path, load_lake_extensions


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        # Resolve the files once; a missing package fails at profile load with the package to add.
        self._directory: str | None = None
        self._paths: list[Path] = []
        try:
            self._directory = str(autoload_directory())
        except OSError:
            # No writable cache folder (a read-only home): LOAD every extension up front, as before.
            self._paths = [extension_path(name) for name in LAKE_EXTENSIONS]

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        # Before any query. Autoinstall stays off (the profile's settings, also SET on each cursor).
        if self._directory is not None:
            conn.execute("SET extension_directory = '{}'".format(self._directory.replace("'", "''")))
        if self._paths:
            load_lake_extensions(conn, None, self._paths)
