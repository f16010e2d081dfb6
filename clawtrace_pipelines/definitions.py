"""The one Dagster `Definitions` of the code location (workspace.yaml loads this module)."""

from __future__ import annotations

import dagster as dg

from clawtrace_pipelines.assets.bronze import bronze_events, raw_events
from clawtrace_pipelines.jobs import lakehouse_tick
from clawtrace_pipelines.resources import LakehouseResource
from clawtrace_pipelines.schedules import daily_reconcile, tick_every_3_minutes


def build_definitions() -> dg.Definitions:
    """All assets, jobs, schedules and resources; settings are read when a run starts, not here."""
    return dg.Definitions(
        assets=[raw_events, bronze_events],
        jobs=[lakehouse_tick],
        schedules=[tick_every_3_minutes, daily_reconcile],
        resources={"lakehouse": LakehouseResource()},
    )


defs = build_definitions()
