"""Bronze: raw JSON files -> `events_all` (and the `events_rejected` quarantine)."""
# No `from __future__ import annotations`: Dagster reads config and resource types at runtime.

import dagster as dg

from clawtrace_pipelines.assets.retries import TICK_RETRY, unless_terminated
from clawtrace_pipelines.checks import event_ids_unique, files_reconcile
from clawtrace_pipelines.core.tables import EVENTS_ALL, EVENTS_REJECTED, PROCESSED_FILES
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.partitions import hourly_partitions, partition_hours
from clawtrace_pipelines.resources import LakehouseResource

raw_events = dg.AssetSpec(
    "raw_events",
    group_name="raw",
    kinds={"json"},
    description="Raw agent events as landed: `raw/v1/tenant=/agent=/dt=/hr=/*.json|*.ndjson` (event hour, UTC), "
    "written by the ingest API, the simulator or foreign collectors. Not materialized by Dagster.",
)


class BronzeConfig(dg.Config):
    reconcile: bool = False
    """Also sweep the whole raw zone for files the processed-files log lacks (daily, or on demand)."""


@dg.multi_asset(
    name="bronze_events",
    specs=[
        dg.AssetSpec(
            EVENTS_ALL.name,
            deps=[raw_events],
            group_name="bronze",
            kinds={"python", "deltalake", "iceberg"},
            description="One row per distinct (tenant_id, event_id): validated against the event contract, shadow "
            "duplicates dropped, exact duplicates merged away. Key (event_date, tenant_id, event_id); "
            "partitioned by event_date.",
        ),
        dg.AssetSpec(
            EVENTS_REJECTED.name,
            deps=[raw_events],
            group_name="bronze",
            kinds={"python", "deltalake", "iceberg"},
            description="One row per raw record (raw_path, line) that failed validation, with reason_code, "
            "reason and a truncated copy. Nothing else of its file is lost.",
        ),
        dg.AssetSpec(
            PROCESSED_FILES.name,
            deps=[raw_events],
            group_name="bronze",
            kinds={"python", "deltalake", "iceberg"},
            description="Bookkeeping: one row per raw file (and arrival record) bronze processed, "
            "with its size and counts. Key (dt, path). Billing meters storage from its raw files' sizes.",
        ),
    ],
    check_specs=[
        dg.AssetCheckSpec(
            "event_id_unique",
            asset=EVENTS_ALL.name,
            blocking=True,
            description="No (tenant_id, event_id) appears twice in the event dates this run wrote.",
        ),
        dg.AssetCheckSpec(
            "files_reconcile",
            asset=EVENTS_ALL.name,
            description="Per processed file: records read = accepted + rejected + shadow + "
            "duplicates, and the tables hold what the processed-files log says.",
        ),
    ],
    partitions_def=hourly_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="lakehouse",
    retry_policy=TICK_RETRY,
    can_subset=False,
)
def bronze_events(context: dg.AssetExecutionContext, config: BronzeConfig, lakehouse: LakehouseResource):
    """Load new raw files (a tick), or every file of the selected event hours (a backfill)."""
    settings = lakehouse.settings()
    hours = None
    if context.has_partition_key_range:
        key_range = context.partition_key_range
        hours = partition_hours(key_range.start, key_range.end)
    with unless_terminated(context):
        report = run_bronze(settings, reconcile=config.reconcile, hours=hours, run_id=context.run.run_id)
    context.log.info(
        f"bronze {report.mode}: {report.files} files, {report.accepted} new events, {report.rejected} rejected, "
        f"{report.shadow_duplicates} shadow duplicates, {report.duplicates} duplicates in {report.seconds:.2f}s"
    )
    common = {
        "mode": report.mode,
        "files": report.files,
        "bytes": report.bytes,
        "seconds": round(report.seconds, 3),
        "listings": report.listings,
    }
    yield dg.MaterializeResult(
        asset_key=EVENTS_ALL.name,
        metadata={
            **common,
            "records_read": report.records_read,
            "events_accepted": report.accepted,
            "events_rejected": report.rejected,
            "shadow_duplicates": report.shadow_duplicates,
            "duplicates": report.duplicates,
            "missing_files": report.missing_files,
            "traces_touched": len(report.touched_traces),
            "event_dates": dg.MetadataValue.json(sorted(report.event_dates)),
            "discovery": dg.MetadataValue.json(report.sources),
            "reused_event_ids": report.reused_event_ids,
            **report.io,
        },
    )
    yield dg.MaterializeResult(asset_key=EVENTS_REJECTED.name, metadata={**common, "rejected": report.rejected})
    yield dg.MaterializeResult(asset_key=PROCESSED_FILES.name, metadata=common)
    yield event_ids_unique(settings, report)
    yield files_reconcile(settings, report)
