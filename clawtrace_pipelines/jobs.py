"""Jobs: `lakehouse_tick` runs every layer once; later layers join its selection."""

from __future__ import annotations

import dagster as dg

# One tick at a time: the instance's dagster.yaml limits runs with this tag to one.
TICK_TAGS = {"clawtrace/lane": "lakehouse"}

lakehouse_tick = dg.define_asset_job(
    name="lakehouse_tick",
    selection=dg.AssetSelection.groups("bronze"),
    description="One tick: load new raw files into bronze (later: silver, graph, billing).",
    tags=TICK_TAGS,
)
