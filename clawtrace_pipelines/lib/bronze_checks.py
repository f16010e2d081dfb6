"""Bronze data checks as plain functions (wrapped as Dagster asset checks in `checks.py`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL, EVENTS_REJECTED
from clawtrace_pipelines.lib.bronze import BronzeReport, rejected_partition
from clawtrace_pipelines.lib.processed_log import ProcessedLog, folder_date

_SHOWN = 20


@dataclass
class CheckOutcome:
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)


def duplicate_event_keys(settings: Settings, event_dates: list[str] | None) -> pa.Table:
    """(tenant_id, event_id, n) for every key held more than once, in the given dates (None: all)."""
    events = open_table(EVENTS_ALL, settings)
    if not events.exists():
        return pa.table({"tenant_id": [], "event_id": [], "n": []})
    filters = [("event_date", "in", event_dates)] if event_dates is not None else None
    keys = events.read(columns=["tenant_id", "event_id"], filters=filters)
    counted = keys.group_by(["tenant_id", "event_id"]).aggregate([("event_id", "count")])
    counted = counted.rename_columns(["tenant_id", "event_id", "n"])
    return counted.filter(pc.greater(counted.column("n"), 1))


def check_event_ids_unique(settings: Settings, report: BronzeReport) -> CheckOutcome:
    """No (tenant_id, event_id) twice in the event dates this run wrote."""
    dates = sorted(report.event_dates)
    dupes = duplicate_event_keys(settings, dates) if dates else pa.table({"n": []})
    return CheckOutcome(
        passed=dupes.num_rows == 0,
        description=f"{dupes.num_rows} duplicated (tenant_id, event_id) keys in {len(dates)} event dates",
        metadata={
            "event_dates_checked": len(dates),
            "duplicated_keys": dupes.num_rows,
            "examples": dupes.slice(0, _SHOWN).to_pylist(),
        },
    )


def check_files_reconcile(settings: Settings, report: BronzeReport) -> CheckOutcome:
    """For each file this run processed, the log's counts add up and agree with the tables:

    - records_read = accepted + rejected + shadow_duplicates + duplicates;
    - `events_rejected` holds exactly `rejected` rows of the file;
    - `events_all` holds between `accepted` and `accepted + duplicates` rows from the file (a duplicate may
      have been loaded from this file by an earlier, interrupted run).
    """
    paths = report.processed_paths
    if not paths:
        return CheckOutcome(True, "no file processed")
    log = ProcessedLog(settings).entries(paths).to_pylist()
    problems: list[str] = []
    by_path = {row["path"]: row for row in log}
    missing = [p for p in paths if p not in by_path]
    problems += [f"{p}: not in the processed-files log" for p in missing[:_SHOWN]]
    rejected = _count_by_path(
        open_table(EVENTS_REJECTED, settings).read(
            columns=["raw_path"],
            filters=[("dt", "in", sorted({rejected_partition(p) for p in paths})), ("raw_path", "in", paths)],
        )
    )
    dates = sorted({folder_date(p) for p in paths} | report.event_dates)
    loaded = _count_by_path(
        open_table(EVENTS_ALL, settings).read(
            columns=["raw_path"], filters=[("event_date", "in", dates), ("raw_path", "in", paths)]
        )
    )
    for row in log:
        p = row["path"]
        total = row["accepted"] + row["rejected"] + row["shadow_duplicates"] + row["duplicates"]
        if total != row["records_read"]:
            problems.append(f"{p}: read {row['records_read']} but accounted for {total}")
        if rejected.get(p, 0) != row["rejected"]:
            problems.append(f"{p}: log says {row['rejected']} rejected, events_rejected has {rejected.get(p, 0)}")
        if not row["accepted"] <= loaded.get(p, 0) <= row["accepted"] + row["duplicates"]:
            problems.append(f"{p}: log says {row['accepted']} accepted, events_all has {loaded.get(p, 0)}")
    return CheckOutcome(
        passed=not problems,
        description=f"{len(paths)} files checked, {len(problems)} problems",
        metadata={"files_checked": len(paths), "problems": problems[:_SHOWN]},
    )


def _count_by_path(table: pa.Table) -> dict[str, int]:
    return dict(Counter(table.column("raw_path").to_pylist())) if table.num_rows else {}
