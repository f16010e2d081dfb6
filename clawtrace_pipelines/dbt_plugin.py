"""dbt-duckdb plugin: load DuckDB's lake extensions from the `duckdb-extension-*` wheels on every connection.

dbt-duckdb would otherwise INSTALL extensions from the network. With them loaded, an analyst's model can read
the lake directly (`delta_scan`, `iceberg_scan`, `read_parquet('s3://...')`).
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from clawtrace_pipelines.core.lake.duck import LAKE_EXTENSIONS, extension_path


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        # Resolve the files once; a missing package fails at profile load with the package to add.
        self._paths = [str(extension_path(name)) for name in LAKE_EXTENSIONS]

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        for path in self._paths:
            conn.execute("LOAD '{}'".format(path.replace("'", "''")))
