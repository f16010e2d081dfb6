"""Daily lake maintenance: compact small files (z-ordered on each table's access path) and drop old versions."""
# No `from __future__ import annotations`: Dagster reads config and resource types at runtime.

import time

import dagster as dg

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.tables import ALL_TABLES, BILLING_FILES, ENTITLEMENTS
from clawtrace_pipelines.resources import LakehouseResource


class MaintenanceConfig(dg.Config):
    retain_hours: int = 168
    """Versions (Delta) or snapshots (Iceberg) younger than this are kept for readers and time travel."""


@dg.asset(
    name="lake_maintenance",
    group_name="maintenance",
    # The tables that are assets: the entitlements and billing's file log are side effects of silver and billing.
    deps=[dg.AssetKey(name) for name in ALL_TABLES if name not in (ENTITLEMENTS.name, BILLING_FILES.name)],
    kinds={"deltalake", "iceberg"},
    pool="lakehouse",
    description="Compacts every lake table (Delta: z-order on the table's sort columns; Iceberg: sorted rewrite "
    "of crowded partitions) and vacuums Delta files / expires Iceberg snapshots older than the retention.",
)
def lake_maintenance(
    context: dg.AssetExecutionContext, config: MaintenanceConfig, lakehouse: LakehouseResource
) -> dg.MaterializeResult:
    settings = lakehouse.settings()
    seconds: dict[str, float] = {}
    for name, spec in ALL_TABLES.items():
        table = open_table(spec, settings)
        if not table.exists():
            continue
        started = time.perf_counter()
        table.compact()
        table.vacuum(retain_hours=config.retain_hours)
        seconds[name] = round(time.perf_counter() - started, 3)
        context.log.info(f"maintained {name} in {seconds[name]}s")
    return dg.MaterializeResult(
        metadata={
            "tables": len(seconds),
            "seconds": dg.MetadataValue.json(seconds),
            "retain_hours": config.retain_hours,
        }
    )
