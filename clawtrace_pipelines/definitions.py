"""The one Dagster `Definitions` of the code location (workspace.yaml loads this module)."""

from __future__ import annotations

import dagster as dg

from clawtrace_pipelines.assets.billing import build_billing_models, raw_credit_grants, raw_metering
from clawtrace_pipelines.assets.bronze import bronze_events, raw_events
from clawtrace_pipelines.assets.dead_letters import silver_dead_letters
from clawtrace_pipelines.assets.graph import graph
from clawtrace_pipelines.assets.maintenance import lake_maintenance
from clawtrace_pipelines.assets.reference import model_prices, model_resolution
from clawtrace_pipelines.assets.silver import build_silver_models
from clawtrace_pipelines.jobs import lake_maintenance_job, lakehouse_tick
from clawtrace_pipelines.resources import AnalystDuckDBResource, LakehouseResource
from clawtrace_pipelines.schedules import daily_maintenance, daily_reconcile, tick_every_3_minutes
from clawtrace_pipelines.sensors import tick_on_arrival


def build_definitions() -> dg.Definitions:
    """All assets, jobs, schedules and resources; settings are read when a run starts, not here.

    Builds the dbt assets, so it parses the dbt project when its manifest is missing or stale.
    """
    return dg.Definitions(
        assets=[
            raw_events,
            bronze_events,
            model_prices,
            model_resolution,
            build_silver_models(),
            raw_metering,
            raw_credit_grants,
            build_billing_models(),
            silver_dead_letters,
            graph,
            lake_maintenance,
        ],
        jobs=[lakehouse_tick, lake_maintenance_job],
        schedules=[tick_every_3_minutes, daily_reconcile, daily_maintenance],
        sensors=[tick_on_arrival],
        # analyst_duckdb: the lake tables as DuckDB views by name, as `clawtrace sql` sees them.
        resources={"lakehouse": LakehouseResource(), "analyst_duckdb": AnalystDuckDBResource()},
    )


@dg.definitions
def defs() -> dg.Definitions:
    """The code location workspace.yaml loads: a function, so importing this module parses nothing."""
    return build_definitions()
