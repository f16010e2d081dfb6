"""Incremental silver == full rebuild: the same raw files delivered in random ticks (late files, exact
re-deliveries, one tenant's ids reused by another) give exactly the tables one tick over everything gives."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import LLM_SPEND_DAILY, PG_SPANS, PG_TRACES, PUBLISHED_TABLES, TableSpec
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.simulator import SimulationConfig, simulate

START = datetime(2026, 3, 1, 22, tzinfo=UTC)  # crosses midnight, so traces span two dates
NOW = datetime(2026, 3, 3, tzinfo=UTC)


def _rows(settings: Settings, spec: TableSpec) -> list[dict]:
    table = open_table(spec, settings).read()
    order = [(k, "ascending") for k in spec.keys]
    return table.sort_by(order).to_pylist() if table.num_rows else []


def _raw_files(lake: Path) -> list[Path]:
    return sorted(p for p in (lake / "raw" / "v1").rglob("*") if p.is_file() and not p.name.startswith("."))


def _tick(settings: Settings) -> None:
    # reconcile: files copied into old hours are found without arrival records, like a foreign writer's.
    run_bronze(settings, now=NOW, reconcile=True)
    run_silver(settings)


@pytest.fixture
def simulated(tmp_path: Path) -> Path:
    source = Settings(lake=str(tmp_path / "source"), table_format="delta")
    for late in (0, 6):
        # The second pass adds late deliveries (new traces of offline agents, re-deliveries) to old hours.
        simulate(
            source,
            SimulationConfig(
                start=START, hours=4, tenants=2, agents_per_tenant=1, traces=5, seed=11, layout="per-event", late=late
            ),
        )
    return tmp_path / "source"


def test_random_ticks_equal_one_full_tick(simulated: Path, tmp_path: Path, table_format: str) -> None:
    files = _raw_files(simulated)
    rng = random.Random(5)

    full = Settings(lake=str(tmp_path / "full"), table_format=table_format)
    for f in files:
        target = tmp_path / "full" / f.relative_to(simulated)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    _tick(full)

    incremental = Settings(lake=str(tmp_path / "incremental"), table_format=table_format)
    shuffled = files[:]
    rng.shuffle(shuffled)
    cuts = sorted(rng.sample(range(1, len(shuffled)), 4))
    batches = [shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(shuffled)], strict=True)]
    for i, batch in enumerate(batches):
        for f in batch:
            target = tmp_path / "incremental" / f.relative_to(simulated)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
            if rng.random() < 0.1:
                # An exact re-delivery under another name, possibly in a later tick.
                shutil.copyfile(f, target.with_name(f"event-redelivered-{i}-{target.name.removeprefix('event-')}"))
        _tick(incremental)

    for spec in PUBLISHED_TABLES:
        expected = _rows(full, spec)
        assert expected, f"{spec.name} is empty"
        assert _rows(incremental, spec) == expected, spec.name
    # A second tick with nothing new changes nothing.
    versions = {s.name: open_table(s, incremental).version() for s in PUBLISHED_TABLES}
    _tick(incremental)
    assert {s.name: open_table(s, incremental).version() for s in PUBLISHED_TABLES} == versions


def test_late_event_before_a_trace_start_moves_it_to_the_earlier_day(tmp_path: Path) -> None:
    from tests.factories import batch_path, ndjson, record, write_raw

    settings = Settings(lake=str(tmp_path / "lake"), table_format="delta")
    storage = LakeStorage(settings)
    tenant, agent = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    day2 = 1_772_409_600_000  # 2026-03-02T00:00:00Z
    first = [
        record(
            tenant,
            agent,
            event_id="e2",
            event_type="session_start",
            span_id="root",
            parent_span_id=None,
            ts_ms=day2 + 60_000,
            payload={"sessionKey": "agent:ops:slack"},
        ),
        record(tenant, agent, event_id="e3", span_id="llm", parent_span_id="root", ts_ms=day2 + 120_000),
    ]
    write_raw(storage, batch_path(tenant, agent, day2 + 60_000), ndjson(first))
    _tick_now(settings)
    assert [r["trace_date"].isoformat() for r in _rows(settings, PG_TRACES)] == ["2026-03-02"]

    late = [
        record(
            tenant,
            agent,
            event_id="e1",
            event_type="tool_after_call",
            span_id="early",
            parent_span_id="root",
            ts_ms=day2 - 60_000,
            payload={"toolName": "exec", "toolCallId": "c1", "sessionKey": "agent:ops:slack"},
        )
    ]
    write_raw(storage, batch_path(tenant, agent, day2 - 60_000, "batch-late.ndjson"), ndjson(late))
    _tick_now(settings)
    traces = _rows(settings, PG_TRACES)
    assert [(r["trace_date"].isoformat(), r["event_count"]) for r in traces] == [("2026-03-01", 3)]
    spans = _rows(settings, PG_SPANS)
    assert {r["trace_date"].isoformat() for r in spans} == {"2026-03-01"}
    assert len(spans) == 3
    # The day's LLM spend moved with it: the old day's group is replaced (now empty), not left behind.
    spend = _rows(settings, LLM_SPEND_DAILY)
    assert [(r["day"].isoformat(), r["model"], r["llm_calls"]) for r in spend] == [
        ("2026-03-01", "claude-sonnet-4-5", 1)
    ]


def _tick_now(settings: Settings) -> None:
    run_bronze(settings, now=datetime(2026, 3, 2, 1, tzinfo=UTC))
    run_silver(settings)


def test_two_tenants_with_the_same_trace_and_span_ids_stay_apart(lake_settings: Settings) -> None:
    from tests.factories import batch_path, ndjson, record, write_raw

    storage = LakeStorage(lake_settings)
    t0 = 1_772_409_600_000
    tenants = ["11111111-1111-4111-8111-111111111111", "33333333-3333-4333-8333-333333333333"]
    agents = ["22222222-2222-4222-8222-222222222222", "44444444-4444-4444-8444-444444444444"]
    for n, (tenant, agent) in enumerate(zip(tenants, agents, strict=True)):
        records = [
            record(
                tenant,
                agent,
                event_id="e1",
                event_type="session_start",
                trace_id="same",
                span_id="root",
                parent_span_id=None,
                ts_ms=t0,
                payload={"sessionKey": f"agent:bot{n}:slack"},
            ),
            record(
                tenant,
                agent,
                event_id="e2",
                event_type="llm_after_call",
                trace_id="same",
                span_id="llm",
                parent_span_id="root",
                ts_ms=t0 + 1000 * (n + 1),
                payload={"model": "gpt-4o", "provider": "openai", "usage": {"input": 100 * (n + 1), "output": 10}},
            ),
        ]
        write_raw(storage, batch_path(tenant, agent, t0), ndjson(records))
    run_bronze(lake_settings, now=datetime(2026, 3, 2, 1, tzinfo=UTC))
    run_silver(lake_settings)

    traces = {r["tenant_id"]: r for r in _rows(lake_settings, PG_TRACES)}
    assert set(traces) == set(tenants)
    assert [traces[t]["total_input_tokens"] for t in tenants] == [100, 200]
    assert [traces[t]["agent_name"] for t in tenants] == ["bot0", "bot1"]
    spans = _rows(lake_settings, PG_SPANS)
    assert sorted((r["tenant_id"], r["span_id"]) for r in spans) == sorted(
        (t, s) for t in tenants for s in ("llm", "root")
    )
    assert pa.array([r["duration_ms"] for r in traces.values()]).to_pylist() == [1000, 2000]
    # PuppyGraph's row-level security: one graph user per tenant, entitled to that tenant only.
    from clawtrace_pipelines.core.graph.puppygraph import ENTITLEMENTS, puppygraph_user

    entitled = open_table(ENTITLEMENTS, lake_settings).read(columns=["puppygraph_user", "tenant_id"]).to_pylist()
    assert sorted((r["puppygraph_user"], r["tenant_id"]) for r in entitled) == [
        (puppygraph_user(t), t) for t in tenants
    ]


def test_backfill_of_a_past_hour_recomputes_its_traces(lake_settings: Settings, tmp_path: Path) -> None:
    """Re-running an event hour queues every trace with events in it, whether or not bronze finds new rows, so a
    damaged (or re-defined) silver row is rebuilt; traces of other hours are left alone."""
    simulate(
        lake_settings,
        SimulationConfig(start=START, hours=3, tenants=1, agents_per_tenant=1, traces=4, seed=2, layout="batched"),
    )
    run_bronze(lake_settings, now=NOW)
    run_silver(lake_settings)
    traces = open_table(PG_TRACES, lake_settings)
    before = _rows(lake_settings, PG_TRACES)
    hour = START.replace(minute=0)
    in_hour = [r for r in before if hour.timestamp() * 1000 <= r["trace_start_ts_ms"] < hour.timestamp() * 1000 + 3.6e6]
    assert in_hour and len(in_hour) < len(before)
    damaged = in_hour[0]
    traces.delete([("trace_date", "=", damaged["trace_date"]), ("trace_id", "=", damaged["trace_id"])])
    assert len(_rows(lake_settings, PG_TRACES)) == len(before) - 1
    versions = {s.name: open_table(s, lake_settings).version() for s in PUBLISHED_TABLES}

    report = run_bronze(lake_settings, now=NOW, hours=[hour])
    assert report.accepted == 0  # nothing new in bronze...
    silver = run_silver(lake_settings)
    assert silver.traces >= len(in_hour)  # ...but every trace of the hour was recomputed
    assert _rows(lake_settings, PG_TRACES) == before
    assert open_table(PG_SPANS, lake_settings).version() == versions[PG_SPANS.name]  # spans were unchanged


def test_silver_on_an_s3_lake(s3_settings: Settings) -> None:
    """Silver reads and publishes through the object store (moto on 127.0.0.1); dbt works on a local file."""
    simulate(
        s3_settings,
        SimulationConfig(start=START, hours=2, tenants=1, agents_per_tenant=2, traces=2, seed=9, layout="batched"),
        now=NOW,
    )
    run_bronze(s3_settings, now=NOW)
    report = run_silver(s3_settings)
    assert report.traces == 4 and report.rows_written["pg_traces"] == 4
    traces = open_table(PG_TRACES, s3_settings).read()
    spans = open_table(PG_SPANS, s3_settings).read(columns=["trace_id"])
    assert traces.num_rows == 4 and spans.num_rows > 4
    assert run_silver(s3_settings).traces == 0  # the queue was emptied
