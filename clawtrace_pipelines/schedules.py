"""Schedules: a tick every 3 minutes, and a daily reconciliation sweep."""

from __future__ import annotations

import dagster as dg

from clawtrace_pipelines.jobs import lake_maintenance_job, lakehouse_tick

tick_every_3_minutes = dg.ScheduleDefinition(
    name="lakehouse_tick_every_3_minutes",
    job=lakehouse_tick,
    cron_schedule="*/3 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Finds the raw files that landed since the last tick and carries them through every layer.",
)

daily_reconcile = dg.ScheduleDefinition(
    name="lakehouse_daily_reconcile",
    job=lakehouse_tick,
    cron_schedule="17 3 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    run_config={
        "ops": {
            "bronze_events": {"config": {"reconcile": True}},
            "silver_models": {"config": {"every_test": True}},
            "billing_models": {"config": {"reconcile": True}},
        }
    },
    description="A tick that also lists the whole raw zone (events, metering, grants), for files no arrival "
    "record or window listing saw, and builds every dbt data test on its own rather than in row contracts.",
)

daily_maintenance = dg.ScheduleDefinition(
    name="lake_maintenance_daily",
    job=lake_maintenance_job,
    cron_schedule="41 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Compacts (z-order / sorted rewrite) and vacuums every lake table once a day.",
)
