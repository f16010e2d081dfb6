"""Lake I/O: open a table in the configured format, reach raw storage, query with DuckDB offline."""

from __future__ import annotations

from clawtrace_pipelines.core.lake.table import Filter, LakeTable, MergeStats
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import TableSpec, table_spec

__all__ = ["Filter", "LakeTable", "MergeStats", "open_table"]


def open_table(spec: TableSpec | str, settings: Settings) -> LakeTable:
    """The lake table `spec` in the format `settings.table_format` selects (not created until written)."""
    if isinstance(spec, str):
        spec = table_spec(spec)
    if settings.table_format == "iceberg":
        from clawtrace_pipelines.core.lake.iceberg import IcebergTable

        return IcebergTable(spec, settings)
    from clawtrace_pipelines.core.lake.delta import DeltaTable

    return DeltaTable(spec, settings)
