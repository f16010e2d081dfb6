"""Jobs: `lakehouse_tick` runs every layer once; `lake_maintenance_job` compacts and vacuums."""

from __future__ import annotations

import dagster as dg

# One run at a time on the lake: the instance's dagster.yaml limits runs with this tag to one.
TICK_TAGS = {"clawtrace/lane": "lakehouse"}

lakehouse_tick = dg.define_asset_job(
    name="lakehouse_tick",
    selection=dg.AssetSelection.groups("bronze", "silver", "silver_work", "gold", "graph", "billing"),
    description="One tick: load new raw files into bronze, recompute the silver rows of the traces they touched, "
    "refresh the gold aggregates of their days, rewrite those traces in the embedded graph, and add the new "
    "metered actions, grants and storage to the billing tables.",
    tags=TICK_TAGS,
    # One process for the whole tick: the steps run one after the other anyway (one lakehouse lane), and a
    # process per step costs seconds of imports each, which the arrival sensor's freshness cannot afford.
    executor_def=dg.in_process_executor,
)

lake_maintenance_job = dg.define_asset_job(
    name="lake_maintenance_job",
    selection=dg.AssetSelection.assets("lake_maintenance"),
    description="Compact and vacuum every lake table.",
    tags=TICK_TAGS,
)
