"""Python asset checks: the plain checks of `lib/bronze_checks.py` as Dagster check results."""

from __future__ import annotations

import dagster as dg

from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL
from clawtrace_pipelines.lib.bronze import BronzeReport
from clawtrace_pipelines.lib.bronze_checks import CheckOutcome, check_event_ids_unique, check_files_reconcile


def _result(name: str, outcome: CheckOutcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=EVENTS_ALL.name,
        check_name=name,
        passed=outcome.passed,
        description=outcome.description,
        metadata={
            k: dg.MetadataValue.json(v) if isinstance(v, list | dict) else v for k, v in outcome.metadata.items()
        },
    )


def event_ids_unique(settings: Settings, report: BronzeReport) -> dg.AssetCheckResult:
    return _result("event_id_unique", check_event_ids_unique(settings, report))


def files_reconcile(settings: Settings, report: BronzeReport) -> dg.AssetCheckResult:
    return _result("files_reconcile", check_files_reconcile(settings, report))
