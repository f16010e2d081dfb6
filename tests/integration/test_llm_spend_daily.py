"""Gold `llm_spend_daily` against a direct aggregation of the published `pg_spans`, on both table formats:
priced calls summed exactly, unpriced calls counted apart (never priced as 0)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import duckdb
import pyarrow as pa

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import LLM_SPEND_DAILY, PG_SPANS, PG_TRACES
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.simulator import SimulationConfig, simulate
from tests.factories import batch_path, ndjson, record, write_raw

START = datetime(2026, 3, 1, 22, tzinfo=UTC)  # crosses midnight: two days of traces
NOW = datetime(2026, 3, 3, tzinfo=UTC)
TENANT = "0b7c3d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
AGENT = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"

# Written independently of the dbt model: same grain, straight from the lake's spans.
DIRECT = """
    select
        tenant_id, agent_id, trace_date as day, coalesce(provider, '') as provider, coalesce(model, '') as model,
        count(*) as llm_calls,
        sum(input_tokens) as input_tokens,
        sum(cache_read_tokens) as cache_read_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens,
        sum(total_tokens) as total_tokens,
        sum(case when cost_known then cost_usd else 0 end) as cost_usd,
        sum(case when cost_known then 0 else 1 end) as unpriced_calls
    from spans
    where actor_type = 'llm_call'
    group by all
    order by day, tenant_id, agent_id, provider, model
"""


def _spend(settings: Settings) -> list[dict]:
    table = open_table(LLM_SPEND_DAILY, settings).read()
    return table.sort_by([(k, "ascending") for k in ("day", "tenant_id", "agent_id", "provider", "model")]).to_pylist()


def _direct(spans: pa.Table) -> list[dict]:
    with duckdb.connect() as con:
        con.register("spans", spans)
        rows = con.execute(DIRECT).fetch_arrow_table().to_pylist()
    # DuckDB widens the sums (int128, decimal(38, 10)); the values are what is compared.
    return [{k: int(v) if k not in ("cost_usd",) and isinstance(v, int) else v for k, v in r.items()} for r in rows]


def _unpriced_and_unnamed_calls(settings: Settings) -> None:
    """One trace with a priced call, a call of a model no price book knows, and a call naming no provider."""
    ts = int(START.timestamp() * 1000) + 60_000
    usage = {"input": 100, "output": 20, "cacheRead": 50}
    calls = [
        ("priced", {"model": "claude-sonnet-4-5", "provider": "anthropic", "usage": usage}),
        ("unpriced", {"model": "glm-4.6-air-preview", "provider": "zhipu", "usage": usage}),
        ("unnamed", {"model": "claude-sonnet-4-5", "usage": usage}),
    ]
    records = [
        record(TENANT, AGENT, event_id=f"e-{span}", trace_id="t-spend", span_id=span, ts_ms=ts + i, payload=payload)
        for i, (span, payload) in enumerate(calls)
    ]
    write_raw(LakeStorage(settings), batch_path(TENANT, AGENT, ts, name="batch-spend.ndjson"), ndjson(records))


def test_spend_equals_a_direct_aggregation_of_pg_spans(lake_settings: Settings) -> None:
    simulate(
        lake_settings,
        SimulationConfig(start=START, hours=4, tenants=2, agents_per_tenant=2, traces=6, seed=3, layout="batched"),
        now=NOW,
    )
    _unpriced_and_unnamed_calls(lake_settings)
    run_bronze(lake_settings, now=NOW)
    run_silver(lake_settings)

    spend = _spend(lake_settings)
    expected = _direct(open_table(PG_SPANS, lake_settings).read())
    assert spend and len({r["day"] for r in spend}) == 2
    assert spend == expected
    # The simulator's unpriced model shows up as counted calls, not as cost.
    assert sum(r["unpriced_calls"] for r in spend) > 0
    assert all(isinstance(r["cost_usd"], Decimal) for r in spend)
    # And the gold totals agree with the per-trace totals of silver.
    traces = open_table(PG_TRACES, lake_settings).read(columns=["cost_usd", "unpriced_llm_calls", "llm_calls"])
    assert sum(r["cost_usd"] for r in spend) == sum(traces.column("cost_usd").to_pylist())
    assert sum(r["unpriced_calls"] for r in spend) == sum(traces.column("unpriced_llm_calls").to_pylist())
    assert sum(r["llm_calls"] for r in spend) == sum(traces.column("llm_calls").to_pylist())
    # The hand-built trace: one row per (provider, model); the unknown model is counted, not priced as 0.
    mine = {(r["provider"], r["model"]): r for r in spend if r["tenant_id"] == TENANT}
    assert set(mine) == {
        ("anthropic", "claude-sonnet-4-5"),
        ("zhipu", "glm-4.6-air-preview"),
        ("", "claude-sonnet-4-5"),
    }
    glm = mine["zhipu", "glm-4.6-air-preview"]
    assert (glm["llm_calls"], glm["unpriced_calls"], glm["cost_usd"]) == (1, 1, 0)
    assert (glm["input_tokens"], glm["cache_read_tokens"], glm["output_tokens"]) == (100, 50, 20)
    priced = mine["anthropic", "claude-sonnet-4-5"]
    assert priced["unpriced_calls"] == 0 and priced["cost_usd"] > 0
