"""One chunk of traces through dbt: build, dead-letter what fails, build the rest, publish (the core of
`run_silver`, see `silver.py`)."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.table import conform
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL, PG_TRACES, PUBLISHED_TABLES, SILVER_TABLES
from clawtrace_pipelines.lib import row_contracts, silver_dead_letters
from clawtrace_pipelines.lib.dbt_runner import (
    BILLING_SELECTION,
    NO_ARTIFACTS,
    checkpoint_file,
    invoke_dbt,
    work_database,
    work_session,
)
from clawtrace_pipelines.lib.row_contracts import CONTRACT_TEST, tick_exclusions
from clawtrace_pipelines.lib.silver_dead_letters import Failure
from clawtrace_pipelines.lib.silver_pending import event_keys, touched_traces, trace_keys
from clawtrace_pipelines.lib.silver_publish import Journal, Publication, PublishCounts, moved_traces
from clawtrace_pipelines.lib.silver_report import SilverReport, record_nodes
from clawtrace_pipelines.lib.silver_stage import SilverInputs, read_inputs

# Every data test on its own (the daily reconcile tick), and a tick's build: the single-model tests folded into
# each model's row contract (lib/row_contracts.py).
# The contracts stay out of the first: they would count each failing check's rows a second time.
_BUILD = ["build", NO_ARTIFACTS, "--exclude-resource-type", "unit_test", "--exclude", BILLING_SELECTION]
DBT_BUILD_EVERY_TEST = [*_BUILD, f"test_name:{CONTRACT_TEST}"]  # more values of the same --exclude
DBT_BUILD = [*_BUILD, *tick_exclusions()]
# Rounds of "dead-letter what the failing rows name, build the rest" before halving the traces instead.
MAPPED_ROUNDS = 3


@dataclass
class _Built:
    rows: dict[str, pa.Table] | None  # the silver models, None when the build was refused
    failures: dict[str, Failure]  # traces the failing rows lead to
    first_failure: Failure | None


class ChunkBuilder:
    """One chunk of traces: build, dead-letter what fails, build the rest, publish."""

    def __init__(
        self,
        settings: Settings,
        report: SilverReport,
        counts: PublishCounts,
        keep_workdir: Path | None,
        needed: pa.Array,
        every_test: bool = False,
    ) -> None:
        self.settings = settings
        self.every_test = every_test
        self.report = report
        self.counts = counts
        self.keep_workdir = keep_workdir
        self.needed = needed
        self.seen: list[pa.Array] = []
        self.dead: list[str] = []

    def process(self, traces: pa.Table) -> None:
        t0 = time.perf_counter()
        tables = {spec.name: open_table(spec, self.settings) for spec in (EVENTS_ALL, *SILVER_TABLES)}
        inputs = read_inputs(tables, traces, self.settings.trace_max_days)
        self.report.stage_seconds += time.perf_counter() - t0
        self.report.events_read += inputs.events.num_rows
        keys = event_keys(inputs.events)
        keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
        self.seen.append(keys.filter(pc.is_in(keys, value_set=self.needed)))
        if inputs.events.num_rows == 0:
            return
        current = inputs
        built = self._build(current)
        for _ in range(MAPPED_ROUNDS):
            if built.rows is not None:
                self._publish(current, built.rows)
                return
            held = set(trace_keys(current.traces).to_pylist())
            found = {k: f for k, f in built.failures.items() if k in held}
            if not found:
                break
            self._dead_letter(current.traces, found)
            current = inputs.without(pa.array(sorted(self.dead), pa.string()))
            if current.traces.num_rows == 0:
                return
            built = self._build(current)
        if built.rows is not None:
            self._publish(current, built.rows)
            return
        # A model error, or failing rows that lead to no trace: halve the traces until the culprits stand
        # alone. Each half is read again, so it sees what the other half published (the rollup's spans).
        if current.traces.num_rows == 1:
            failure = built.first_failure or Failure("dbt", "dbt build failed", 0)
            self._dead_letter(current.traces, {trace_keys(current.traces)[0].as_py(): failure})
            return
        middle = current.traces.num_rows // 2
        for half in (current.traces.slice(0, middle), current.traces.slice(middle)):
            self.process(half)

    def _build(self, inputs: SilverInputs) -> _Built:
        t0 = time.perf_counter()
        with work_database() as database, work_session(database):
            inputs.write(database)
            self.report.stage_seconds += time.perf_counter() - t0
            t1 = time.perf_counter()
            build = DBT_BUILD_EVERY_TEST if self.every_test else DBT_BUILD
            result = invoke_dbt(build, database=database, vars=dbt_vars(self.settings))
            self.report.builds += 1
            failed = silver_dead_letters.failed_nodes(result)
            failed, checks = row_contracts.expand(database, failed, dbt_vars(self.settings))
            self.report.dbt_seconds += time.perf_counter() - t1
            if failed or not result.success:
                record_nodes(result, self.report.failed_nodes, only_failed=True)
                if checks is not None:
                    record_nodes(checks, self.report.failed_nodes, only_failed=True)
                failures = silver_dead_letters.traces_of_failures(database, failed)
                first = failed[0] if failed else None
                return _Built(None, failures, None if first is None else silver_dead_letters.failure_of(first))
            record_nodes(result, self.report.nodes)
            rows = _read_models(database)
            if self.keep_workdir is not None:
                self.keep_workdir.mkdir(parents=True, exist_ok=True)
                checkpoint_file(database)
                shutil.copy(database, self.keep_workdir / "silver.duckdb")
            return _Built(rows, {}, None)

    def _dead_letter(self, traces: pa.Table, failures: dict[str, Failure]) -> None:
        self.report.dead_lettered += silver_dead_letters.record(self.settings, traces, failures)
        self.dead.extend(failures)

    def _publish(self, inputs: SilverInputs, rows: dict[str, pa.Table]) -> None:
        t0 = time.perf_counter()
        built = {spec.name: conform(rows[spec.name], spec) for spec in PUBLISHED_TABLES}
        publication = Publication(
            built=built,
            moved=moved_traces(inputs.prior, built[PG_TRACES.name]),
            rollup_days=inputs.rollup_days,
            rollup_tenants=inputs.rollup_tenants,
            graph_traces=touched_traces(inputs.events),
        )
        Journal(self.settings).publish(publication, self.counts)
        self.report.publish_seconds += time.perf_counter() - t0


def dbt_vars(settings: Settings) -> dict[str, Any] | None:
    """The dbt vars the settings ask for, or None when they are the project's defaults (dbt_project.yml): any
    `--vars` makes dbt parse the whole project again instead of reusing its partial-parse cache."""
    top_k = settings.trace_card_top_k
    if top_k == Settings.model_fields["trace_card_top_k"].default:
        return None
    return {"trace_card_top_k": top_k}


def _read_models(database: Path) -> dict[str, pa.Table]:
    con = duckdb.connect(str(database))  # inside the build's work_session: its configuration
    try:
        return {
            spec.name: con.execute(f'SELECT * FROM main."{spec.name}"').fetch_arrow_table() for spec in PUBLISHED_TABLES
        }
    finally:
        con.close()
