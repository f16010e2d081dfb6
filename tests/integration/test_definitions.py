"""The Dagster code location: asset keys and groups, the tick job, partition backfills, schedules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.tables import (
    BILLING_TABLES,
    EVENTS_ALL,
    GOLD_TABLES,
    PG_TRACES,
    PUBLISHED_TABLES,
    SILVER_TABLES,
)
from clawtrace_pipelines.definitions import build_definitions, defs
from clawtrace_pipelines.partitions import partition_key
from tests.factories import batch_path, ndjson, record, write_raw

TENANT = "0b7c3d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
AGENT = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"


def test_definitions_pin_asset_keys_and_groups():
    groups = {spec.key.to_user_string(): spec.group_name for spec in defs().resolve_all_asset_specs()}
    assert groups == {
        "raw_events": "raw",
        "events_all": "bronze",
        "events_rejected": "bronze",
        "processed_files": "bronze",
        "raw_metering": "raw",
        "raw_credit_grants": "raw",
        **{t.name: "billing" for t in BILLING_TABLES},
        **dict.fromkeys(
            ("stg_events", "int_spans", "int_span_usage", "int_span_costs", "int_tool_calls"), "silver_work"
        ),
        **{t.name: "silver" for t in SILVER_TABLES},
        "llm_spend_daily": "gold",
        "trace_cards": "gold",
        "silver_dead_letters": "silver",
        "lake_maintenance": "maintenance",
        "model_prices": "reference",
        "model_resolution": "reference",
        "graph": "graph",
    }
    assert {t.name for t in GOLD_TABLES} == {"llm_spend_daily", "trace_cards"}
    job = defs().resolve_job_def("lakehouse_tick")
    assert job.tags.get("clawtrace/lane") == "lakehouse"
    # The tick materializes every layer, gold included.
    ticked = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
    assert {
        "events_all",
        "pg_traces",
        "span_rollup",
        "llm_spend_daily",
        "trace_cards",
        "graph",
        *(t.name for t in BILLING_TABLES),
    } <= ticked


# Every asset's direct upstream keys, as the UI draws them: raw files -> bronze -> staging -> intermediate ->
# silver tables -> graph, with the price book feeding the cost model. A dropped or extra edge fails here.
LINEAGE = {
    "raw_events": set(),
    "events_all": {"raw_events"},
    "events_rejected": {"raw_events"},
    "processed_files": {"raw_events"},
    "raw_metering": set(),
    "raw_credit_grants": set(),
    # Billing: metered actions and storage (from bronze's log) -> hourly usage -> balances, with the grants.
    "billing_events": {"raw_metering", "processed_files"},
    "billing_usage_hourly": {"billing_events"},
    "credit_grants": {"raw_credit_grants"},
    "credit_balance": {"billing_usage_hourly", "credit_grants"},
    "stg_events": {"events_all"},
    "int_spans": {"stg_events"},
    "int_span_usage": {"int_spans"},
    "int_span_costs": {"int_span_usage", "model_prices", "model_resolution"},
    "model_prices": set(),
    "model_resolution": {"model_prices"},
    "pg_tenants": {"stg_events"},
    "pg_agents": {"stg_events"},
    "pg_traces": {"stg_events", "pg_spans"},
    "pg_spans": {"int_spans", "int_span_costs"},
    "pg_child_of_edges": {"pg_spans"},
    "span_rollup": {"pg_spans"},
    "llm_spend_daily": {"pg_spans"},
    "int_tool_calls": {"pg_spans"},
    "trace_cards": {"pg_traces", "pg_spans", "int_tool_calls"},
    "silver_dead_letters": {"pg_traces"},
    "graph": {"pg_tenants", "pg_agents", "pg_traces", "pg_spans", "pg_child_of_edges"},
    # Maintenance runs after every lake table that is an asset (not the entitlements, written as a side effect of
    # silver).
    "lake_maintenance": {
        "events_all",
        "events_rejected",
        "processed_files",
        *(t.name for t in BILLING_TABLES),
        "model_prices",
        "silver_dead_letters",
        *(t.name for t in PUBLISHED_TABLES),
    },
}


def test_every_asset_has_exactly_its_upstream_assets():
    graph = defs().resolve_asset_graph()
    lineage = {
        key.to_user_string(): {parent.to_user_string() for parent in graph.get(key).parent_keys}
        for key in graph.get_all_asset_keys()
    }
    assert lineage == LINEAGE


def test_dbt_data_tests_are_checks_of_their_models_and_every_silver_key_is_checked():
    checks: dict[str, set[str]] = {}
    for key in defs().resolve_asset_graph().asset_check_keys:
        checks.setdefault(key.asset_key.to_user_string(), set()).add(key.name)
    assert set(checks) == {
        "events_all",
        "stg_events",
        "int_spans",
        "int_span_usage",
        "int_span_costs",
        "int_tool_calls",
        "silver_dead_letters",
    } | {t.name for t in (*PUBLISHED_TABLES, *BILLING_TABLES)}
    assert checks["silver_dead_letters"] == {"no_dead_letters"}
    assert {"event_id_unique", "files_reconcile"} <= checks["events_all"]
    # The uniqueness test on each silver table's merge key (dbt names it after the model and its columns); the
    # partition column is in the merge key only for pruning, the row key is the rest.
    for spec in (*PUBLISHED_TABLES, *BILLING_TABLES):
        key = [column for column in spec.keys if column not in spec.partition_by]
        assert any(name.startswith("unique") and all(c in name for c in key) for name in checks[spec.name]), (
            f"{spec.name} has no uniqueness check on {key}"
        )


def test_schedules_run_a_tick_every_three_minutes_and_reconcile_daily():
    by_name = {
        name: defs().resolve_schedule_def(name)
        for name in ("lakehouse_tick_every_3_minutes", "lakehouse_daily_reconcile")
    }
    tick = by_name["lakehouse_tick_every_3_minutes"]
    assert tick.cron_schedule == "*/3 * * * *" and tick.default_status == dg.DefaultScheduleStatus.RUNNING
    assert by_name["lakehouse_daily_reconcile"].job_name == "lakehouse_tick"
    sensor = defs().resolve_sensor_def("lakehouse_tick_on_arrival")
    assert sensor.job_name == "lakehouse_tick" and sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.minimum_interval_seconds <= 10


def _write_hour(lake: str, hour: datetime, prefix: str, n: int) -> None:
    from clawtrace_pipelines.core.settings import Settings

    storage = LakeStorage(Settings(lake=lake))
    base = int(hour.timestamp() * 1000) + 1000
    recs = [record(TENANT, AGENT, event_id=f"{prefix}-{i}", ts_ms=base + i) for i in range(n)]
    write_raw(storage, batch_path(TENANT, AGENT, base, name=f"batch-{prefix}.ndjson"), ndjson(recs))


def test_tick_job_materializes_bronze_with_metadata_and_passing_checks(tmp_path, monkeypatch):
    lake = str(tmp_path / "lake")
    monkeypatch.setenv("CLAWTRACE_LAKE", lake)
    _write_hour(lake, datetime.now(UTC) - timedelta(hours=1), "t", 4)
    job = build_definitions().resolve_job_def("lakehouse_tick")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    # What the API reads (silver, then the graph) runs before the steps no read waits on.
    started = [e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START]
    assert started[:3] == ["bronze_events", "silver_models", "graph"]
    assert set(started[3:]) == {"billing_models", "silver_dead_letters"}
    (mat,) = [m for m in result.asset_materializations_for_node("bronze_events") if m.asset_key.path == ["events_all"]]
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert (meta["files"], meta["events_accepted"], meta["events_rejected"], meta["mode"]) == (1, 4, 0, "tick")
    for key in ("shadow_duplicates", "duplicates", "bytes", "seconds"):
        assert key in meta
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("events_all", "event_id_unique")] and checks[("events_all", "files_reconcile")]
    assert checks[("silver_dead_letters", "no_dead_letters")]
    assert all(checks.values()), [k for k, ok in checks.items() if not ok]
    assert ("pg_traces", "unique_key_pg_traces_tenant_id__trace_id") in checks
    (traces,) = result.asset_materializations_for_node("silver_models") and [
        m for m in result.asset_materializations_for_node("silver_models") if m.asset_key.path == ["pg_traces"]
    ]
    silver_meta = {k: v.value for k, v in traces.metadata.items()}
    assert (silver_meta["traces_touched"], silver_meta["rows_written"], silver_meta["mode"]) == (1, 1, "tick")
    assert "seconds" in silver_meta
    # The same run rewrote the trace in the embedded graph.
    (graph_mat,) = result.asset_materializations_for_node("graph")
    graph_meta = {k: v.value for k, v in graph_mat.metadata.items()}
    assert graph_meta["engine"] == "embedded" and graph_meta["traces"] == 1


def test_backfill_of_a_partition_range_reprocesses_those_hours_in_one_run(tmp_path, monkeypatch):
    from clawtrace_pipelines.core.settings import Settings

    lake = str(tmp_path / "lake")
    monkeypatch.setenv("CLAWTRACE_LAKE", lake)
    hour = datetime(2026, 3, 4, 5, tzinfo=UTC)
    _write_hour(lake, hour, "h1", 2)
    _write_hour(lake, hour + timedelta(hours=1), "h2", 3)
    _write_hour(lake, hour + timedelta(hours=5), "outside", 1)
    job = build_definitions().resolve_job_def("lakehouse_tick")
    result = job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": partition_key(hour),
            "dagster/asset_partition_range_end": partition_key(hour + timedelta(hours=1)),
        },
    )
    assert result.success
    ids = sorted(open_table(EVENTS_ALL, Settings(lake=lake)).read(columns=["event_id"]).column(0).to_pylist())
    assert ids == ["h1-0", "h1-1", "h2-0", "h2-1", "h2-2"]
    # Silver ran in the same run on the traces of those hours.
    (trace,) = open_table(PG_TRACES, Settings(lake=lake)).read().to_pylist()
    assert trace["event_count"] == 5
