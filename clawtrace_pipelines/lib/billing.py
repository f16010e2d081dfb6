"""The billing step as a plain function: metered actions and grants into the billing tables, exactly once.

One run (after bronze in `lakehouse_tick`, under the lake's `billing` lock):

1. **Read** the metering and grant files its own log (`billing_files`) lacks, and meter storage for the
   complete hours since the storage cursor from bronze's processed-files log (`billing_inputs.py`).
2. **Stage** them with the prior rows they need and the rates into a fresh work DuckDB (`billing_stage.py`).
3. **Transform**: `dbt build` of `models/billing` (with its data tests): the new distinct actions, the
   hourly usage of the (tenant, hour) pairs they touch, the new grants, the balances that changed.
4. **Publish**: `billing_events` and `credit_grants` insert-if-absent (keyed on the action's and the grant's
   id), `billing_usage_hourly` and `credit_balance` upserted; then the `billing_files` log, then the cursors.

A crash anywhere is repaired by the next run: files not yet logged are read again, and their actions, already
in `billing_events`, are dropped by the model's anti-join, while the hours they touch are recomputed from
the table. So a replay never double-charges, and usage lives in the lake, not in any process.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from clawtrace_pipelines.core.billing_rates import load_rates
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.lake.table import conform
from clawtrace_pipelines.core.metering import Category
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import (
    BILLING_EVENTS,
    BILLING_FILES,
    BILLING_TABLES,
    BILLING_USAGE_HOURLY,
    CREDIT_BALANCE,
    CREDIT_GRANTS,
)
from clawtrace_pipelines.lib import billing_stage, row_contracts
from clawtrace_pipelines.lib.billing_inputs import (
    CURSOR_PATH,
    STORAGE_CURSOR_PATH,
    BillingInputs,
    discover,
    meter_storage,
    read_cursor,
    read_files,
)
from clawtrace_pipelines.lib.dbt_runner import BILLING_SELECTION, NO_ARTIFACTS, invoke_dbt, work_database, work_session
from clawtrace_pipelines.lib.lake_lock import LakeLock
from clawtrace_pipelines.lib.processed_log import ProcessedLog
from clawtrace_pipelines.lib.row_contracts import CONTRACT_TEST, tick_exclusions
from clawtrace_pipelines.lib.silver_dead_letters import failed_nodes
from clawtrace_pipelines.lib.silver_report import NodeOutcome, record_nodes

log = logging.getLogger(__name__)

# Every data test on its own (the daily reconcile run), and an ordinary run's build: the single-model tests
# folded into each model's and source's row contract (lib/row_contracts.py).
_BILLING_BUILD = [
    *("build", NO_ARTIFACTS, "--select", BILLING_SELECTION),
    *("--exclude-resource-type", "unit_test", "--exclude"),
]
DBT_BILLING_BUILD_EVERY_TEST = [*_BILLING_BUILD, f"test_name:{CONTRACT_TEST}"]  # no failing rows counted twice
DBT_BILLING_BUILD = [*_BILLING_BUILD, *tick_exclusions()]


class BillingBuildError(RuntimeError):
    """A billing model or data test failed: nothing of the run was published (the next run retries)."""


@dataclass
class BillingReport:
    """What one billing run did; the asset puts these in its materialization metadata."""

    files: int = 0
    records: int = 0
    bad_lines: int = 0
    storage_rows: int = 0
    grants: int = 0
    actions_added: int = 0
    hours_recomputed: int = 0
    balances: int = 0
    seconds: float = 0.0
    nodes: dict[str, NodeOutcome] = field(default_factory=dict)

    def metadata(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "nodes"}


def run_billing(settings: Settings, *, now: datetime | None = None, reconcile: bool = False) -> BillingReport:
    """Bring the billing tables up to date with the metering and grant files and the storage held.

    Args:
        settings: lake location, format, the rates file.
        now: the run's time (storage hours, cursors, the time balances are valid for); default the wall clock.
        reconcile: read every metering and grant file the log lacks, not only those of recent hours, and build
            every dbt data test on its own rather than in row contracts.

    Returns:
        The run's counts.

    Raises:
        BillingBuildError: a billing model or data test failed.
        ConfigError: the rates file is invalid.
    """
    started = time.perf_counter()
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rates = load_rates(settings.billing_rates_file)
    unpriced = sorted(set(Category) - set(rates.per_unit))
    if unpriced:
        log.warning("billing rates %s price no %s: charged 0", rates.source, ", ".join(unpriced))
    storage = LakeStorage(settings)
    report = BillingReport()
    with LakeLock(storage, "billing").hold():
        seen = ProcessedLog(settings, BILLING_FILES)
        meters, grants = discover(settings.arrival_overlap_hours, storage, seen, now, reconcile=reconcile)
        inputs = BillingInputs()
        read_files(storage, meters, grants, inputs)
        meter_storage(settings.storage_meter_max_hours, storage, ProcessedLog(settings), now, inputs)
        report.files, report.records, report.bad_lines = inputs.files, len(inputs.records), inputs.bad_lines
        report.storage_rows, report.grants = len(inputs.storage), len(inputs.grants)
        tables = {spec.name: open_table(spec, settings) for spec in BILLING_TABLES}
        last_run = read_cursor(storage, CURSOR_PATH, "files_from")
        metering = billing_stage.metering_table(inputs)
        pairs = billing_stage.touched_pairs(metering, billing_stage.storage_table(inputs))
        changed = {t for t, _ in pairs} | {g.tenant_id for g in inputs.grants}
        tenants, ledger = billing_stage.balance_tenants(tables[CREDIT_GRANTS.name], changed, last_run, now)
        if pairs or tenants:
            staged = billing_stage.staged_tables(
                inputs,
                rates,
                billing_stage.prior_events(tables[BILLING_EVENTS.name], pairs),
                tenants,
                ledger,
                billing_stage.prior_usage(tables[BILLING_USAGE_HOURLY.name], tenants),
                now,
            )
            built = _build(staged, report, every_test=reconcile)
            _publish(tables, built, report)
        seen.record(inputs.entries, processed_at=now, run_id=None)
        storage.write_json(CURSOR_PATH, {"files_from": now.isoformat()})
        if inputs.storage_through is not None:
            storage.write_json(STORAGE_CURSOR_PATH, {"next_hour": inputs.storage_through.isoformat()})
    report.seconds = time.perf_counter() - started
    log.info("billing: %s", report.metadata())
    return report


def _build(staged: dict[str, pa.Table], report: BillingReport, every_test: bool) -> dict[str, pa.Table]:
    with work_database() as database, work_session(database):
        billing_stage.stage(database, staged)
        result = invoke_dbt(DBT_BILLING_BUILD_EVERY_TEST if every_test else DBT_BILLING_BUILD, database=database)
        # A failed contract's message names the checks that failed, run on their own.
        failed, _ = row_contracts.expand(database, failed_nodes(result), None)
        record_nodes(result, report.nodes)
        if failed or not result.success:
            messages = "; ".join(f"{r.node.name}: {r.message}" for r in failed) or "dbt build failed"
            raise BillingBuildError(f"billing build failed, nothing published: {messages}")
        con = duckdb.connect(str(database))  # inside the work_session: its configuration
        try:
            return {
                spec.name: conform(con.execute(f'SELECT * FROM main."{spec.name}"').fetch_arrow_table(), spec)
                for spec in BILLING_TABLES
            }
        finally:
            con.close()


def _publish(tables: dict[str, Any], built: dict[str, pa.Table], report: BillingReport) -> None:
    # Actions first: once they are in, a crash before the aggregates is repaired by recomputing their hours.
    events = built[BILLING_EVENTS.name]
    if events.num_rows:
        report.actions_added = tables[BILLING_EVENTS.name].merge(events, update_matched=False).inserted
    hourly = built[BILLING_USAGE_HOURLY.name]
    if hourly.num_rows:
        tables[BILLING_USAGE_HOURLY.name].merge(hourly)
        report.hours_recomputed = hourly.num_rows
    grants = built[CREDIT_GRANTS.name]
    if grants.num_rows:
        tables[CREDIT_GRANTS.name].merge(grants, update_matched=False)
    balances = built[CREDIT_BALANCE.name]
    if balances.num_rows:
        tables[CREDIT_BALANCE.name].merge(balances)
        report.balances = balances.num_rows
