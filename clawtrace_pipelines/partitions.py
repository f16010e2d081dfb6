"""Hourly partitions matching the raw zone's `dt=YYYY-MM-DD/hr=HH` event-hour folders (UTC).

A tick runs without a partition (it processes whatever is new, whatever its hours); partitions exist so a
data engineer can re-run any past event hour, or range of hours in one run, from the UI or the CLI.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

PARTITION_FMT = "%Y-%m-%d-%H:%M"

hourly_partitions = dg.HourlyPartitionsDefinition(
    start_date="2025-01-01-00:00", timezone="UTC", fmt=PARTITION_FMT, end_offset=1
)


def partition_hours(start_key: str, end_key: str) -> list[datetime]:
    """Every hour from `start_key` to `end_key` inclusive, as UTC datetimes."""
    start = datetime.strptime(start_key, PARTITION_FMT).replace(tzinfo=UTC)
    end = datetime.strptime(end_key, PARTITION_FMT).replace(tzinfo=UTC)
    if end < start:
        raise ValueError(f"partition range ends before it starts: {start_key}..{end_key}")
    return [start + timedelta(hours=h) for h in range(int((end - start).total_seconds() // 3600) + 1)]


def partition_key(hour: datetime) -> str:
    return hour.astimezone(UTC).strftime(PARTITION_FMT)
