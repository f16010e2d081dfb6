"""Gold `trace_cards` on hand-built traces and on the simulator's, through real ticks (bronze, dbt, publish) on
both table formats: redundant clusters, repaired steps, top-cost shares, stability, late events and size."""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from clawtrace_pipelines.cli import app
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import PG_TRACES, TRACE_CARDS
from clawtrace_pipelines.core.trace_cards import card_document, read_card, render_yaml
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.dbt_runner import DBT_PROJECT_DIR
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.lib.silver_chunk import dbt_vars
from clawtrace_pipelines.simulator import SimulationConfig, simulate
from tests.factories import T0_MS, batch_path, ndjson, record, write_raw

TENANT = "0b7c3d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
AGENT = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
NOW = datetime.fromtimestamp(T0_MS / 1000 + 86_400, tz=UTC)
EXEC = {"command": "npm test -- --runInBand", "workdir": "/home/node/.openclaw/workspace", "timeout": 120}


class TraceWriter:
    """Events of one hand-built trace: a root session, LLM calls and the tool calls they ask for."""

    def __init__(self, trace_id: str, t0: int = T0_MS + 60_000) -> None:
        self.trace_id = trace_id
        self.t = t0
        self.records: list[dict[str, Any]] = []
        self._event("session_start", "root", None, {"sessionKey": "agent:main:main"})

    def _event(self, kind: str, span: str, parent: str | None, payload: dict[str, Any]) -> None:
        self.t += 10
        event_id = f"{self.trace_id}-{span}-{kind}"
        self.records.append(
            record(
                TENANT,
                AGENT,
                event_id=event_id,
                event_type=kind,
                trace_id=self.trace_id,
                span_id=f"{self.trace_id}-{span}",
                parent_span_id=None if parent is None else f"{self.trace_id}-{parent}",
                ts_ms=self.t,
                payload=payload,
            )
        )

    def llm(self, span: str, prompt_tokens: int, output: int = 50) -> str:
        model = {"provider": "anthropic", "model": "claude-sonnet-4-5"}
        self._event("llm_before_call", span, "root", {**model, "prompt": "go"})
        usage = {"input": 10, "cacheRead": prompt_tokens - 10, "output": output}
        self._event("llm_after_call", span, "root", {**model, "usage": usage})
        return span

    def tool(self, span: str, llm: str, params: dict[str, Any], error: str | None = None) -> None:
        self._event("tool_before_call", span, llm, {"toolName": "exec", "toolCallId": span, "params": params})
        after: dict[str, Any] = {"toolName": "exec", "toolCallId": span, "params": params}
        after |= {"error": error} if error else {"result": {"ok": True}}
        self._event("tool_after_call", span, llm, after)
        if error:
            self._event("error", f"{span}-err", span, {"source": "tool", "toolName": "exec", "message": error})

    def write(self, settings: Settings, name: str) -> None:
        ts = self.records[0]["event"]["tsMs"]
        write_raw(LakeStorage(settings), batch_path(TENANT, AGENT, ts, name=name), ndjson(self.records))


def _tick(settings: Settings) -> None:
    run_bronze(settings, now=NOW)
    run_silver(settings)


def _card(settings: Settings, trace_id: str) -> dict[str, Any]:
    card = read_card(open_table(TRACE_CARDS, settings), TENANT, trace_id)
    assert card, f"no card for {trace_id}"
    return card


def _retry_loop(trace_id: str = "t-retry") -> TraceWriter:
    """Four near-identical exec calls (three failures, then a success), each asked for by its own LLM call,
    between two unrelated calls."""
    w = TraceWriter(trace_id)
    w.tool("ls", w.llm("l0", 1_000), {"command": "ls -la docs/"})
    for i in range(4):
        # The model nudges its arguments a little each time: similar, not equal.
        params = {**EXEC, "timeout": 120 + 10 * i}
        w.tool(
            f"x{i}", w.llm(f"l{i + 1}", 2_000 + 500 * i), params, error="Command exited with code 1" if i < 3 else None
        )
    w.tool("df", w.llm("l5", 9_000), {"command": "df -h /"})
    w.llm("l6", 9_500)
    return w


def test_a_retry_loop_is_one_redundant_cluster_and_its_failures_are_repaired(lake_settings: Settings) -> None:
    _retry_loop().write(lake_settings, "batch-retry.ndjson")
    _tick(lake_settings)

    card = _card(lake_settings, "t-retry")
    redundant = card["redundant_tool_calls"]
    assert (redundant["clusters"], redundant["extra_calls"]) == (1, 3)
    [cluster] = redundant["listed"]
    assert cluster["tool"] == "exec" and cluster["calls"] == 4
    assert cluster["args_sample"].startswith('{"command":"npm test -- --runInBand","timeout":120')
    # The three retries' LLM calls were the waste: each asked for one call, so its whole cost is attributed.
    spans = {s["span_id"]: s for s in card["top_cost_steps"]}
    assert cluster["wasted_cost_usd"] > 0
    assert card["failed_steps"]["count"] == 3
    assert card["repaired_steps"]["count"] == 3
    assert {r["repaired_by"] for r in card["repaired_steps"]["listed"]} == {"t-retry-x3"}
    assert card["context_growth"] == {
        "first_llm_input_tokens": 1_000,
        "last_llm_input_tokens": 9_500,
        "max_jump_tokens": 5_500,
        "max_jump_span_id": "t-retry-l5",
    }
    assert len(spans) == 5 and "t-retry-l6" in spans
    _the_cli_prints_the_card(lake_settings, card)


def _the_cli_prints_the_card(settings: Settings, card: dict[str, Any]) -> None:
    lake = ["--lake", settings.lake, "--table-format", settings.table_format]
    shown = CliRunner().invoke(app, ["card", "t-retry", "--tenant", TENANT, *lake])
    assert shown.exit_code == 0, shown.output
    assert yaml.safe_load(shown.stdout) == card
    shown = CliRunner().invoke(app, ["card", "t-retry", "--tenant", TENANT, "--format", "json", *lake])
    assert json.loads(shown.stdout) == card
    # Another tenant has no such trace: ids are unique per tenant only.
    other = CliRunner().invoke(app, ["card", "t-retry", "--tenant", AGENT, *lake])
    assert other.exit_code == 1 and "no card" in other.stderr


def test_the_number_of_top_cost_steps_follows_the_settings(lake_settings: Settings) -> None:
    settings = lake_settings.model_copy(update={"trace_card_top_k": 2})
    _retry_loop().write(settings, "batch-retry.ndjson")
    _tick(settings)
    steps = _card(settings, "t-retry")["top_cost_steps"]
    assert [s["span_id"] for s in steps] == ["t-retry-l6", "t-retry-l5"]


def test_the_default_top_k_is_the_dbt_projects() -> None:
    # A tick passes no dbt vars when the settings hold the defaults (partial parsing), so both must agree.
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert project["vars"]["trace_card_top_k"] == Settings().trace_card_top_k
    assert dbt_vars(Settings()) is None
    assert dbt_vars(Settings(trace_card_top_k=3)) == {"trace_card_top_k": 3}


def test_one_failure_then_a_similar_success_is_one_repaired_step(lake_settings: Settings) -> None:
    w = TraceWriter("t-repair")
    w.tool("a", w.llm("l1", 1_000), EXEC, error="Command timed out after 120 seconds")
    w.tool("b", w.llm("l2", 1_200), {**EXEC, "timeout": 300})
    # A different command that fails is no repair, and no cluster with the others.
    w.tool("c", w.llm("l3", 1_300), {"command": "gh pr create --fill --base main"}, error="exec denied")
    w.write(lake_settings, "batch-repair.ndjson")
    _tick(lake_settings)

    card = _card(lake_settings, "t-repair")
    assert card["repaired_steps"] == {
        "count": 1,
        "listed": [{"span_id": "t-repair-a", "tool": "exec", "repaired_by": "t-repair-b"}],
    }
    assert card["failed_steps"]["count"] == 2
    assert card["redundant_tool_calls"]["clusters"] == 1
    assert card["redundant_tool_calls"]["listed"][0]["calls"] == 2


def test_the_card_is_identical_after_a_no_op_tick_and_changes_when_a_late_event_lands(
    lake_settings: Settings,
) -> None:
    w = _retry_loop("t-late")
    w.write(lake_settings, "batch-late-1.ndjson")
    _tick(lake_settings)
    before = _card(lake_settings, "t-late")
    table = open_table(TRACE_CARDS, lake_settings)
    version = table.version()

    _tick(lake_settings)
    assert _card(lake_settings, "t-late") == before
    assert open_table(TRACE_CARDS, lake_settings).version() == version
    # Recomputing every trace builds the same card again: the merge finds the row equal and commits nothing.
    run_silver(lake_settings, full=True)
    assert _card(lake_settings, "t-late") == before
    assert open_table(TRACE_CARDS, lake_settings).version() == version

    # A late LLM call of the same trace, in an hour already processed: a new costliest step.
    late = TraceWriter("t-late", t0=w.t)
    late.records = []
    late.llm("l-late", 50_000, output=4_000)
    late.write(lake_settings, "batch-late-2.ndjson")
    _tick(lake_settings)
    after = _card(lake_settings, "t-late")
    assert after != before
    assert after["top_cost_steps"][0]["span_id"] == "t-late-l-late"
    assert after["totals"]["llm_calls"] == before["totals"]["llm_calls"] + 1
    assert after["totals"]["cost_usd"] > before["totals"]["cost_usd"]
    assert open_table(TRACE_CARDS, lake_settings).count() == 1


@pytest.fixture
def simulated(lake_settings: Settings) -> Settings:
    start = datetime(2026, 3, 1, 6, tzinfo=UTC)
    config = SimulationConfig(
        start=start, hours=6, tenants=2, agents_per_tenant=2, traces=25, seed=11, layout="batched"
    )
    simulate(lake_settings, config, now=datetime(2026, 3, 2, tzinfo=UTC))
    run_bronze(lake_settings, now=datetime(2026, 3, 2, tzinfo=UTC))
    run_silver(lake_settings)
    return lake_settings


def test_every_simulated_trace_has_a_small_card_whose_shares_sum_to_at_most_one(simulated: Settings) -> None:
    cards = open_table(TRACE_CARDS, simulated).read().to_pylist()
    traces = open_table(PG_TRACES, simulated).read(columns=["tenant_id", "trace_id", "cost_usd"]).to_pylist()
    assert {(c["tenant_id"], c["trace_id"]) for c in cards} == {(t["tenant_id"], t["trace_id"]) for t in traces}
    sizes = []
    for row in cards:
        card = card_document(row)
        shares = [s["share"] for s in card["top_cost_steps"]]
        assert sum(shares) <= 1 and all(0 <= s <= 1 for s in shares)
        assert len(card["top_cost_steps"]) <= 5
        costs = [s["cost_usd"] for s in card["top_cost_steps"]]
        assert costs == sorted(costs, reverse=True)
        sizes.append(len(render_yaml(card).encode()))
    # The simulator's retry loops and sub-agents show up.
    assert any(c["redundant_clusters"] for c in cards) and any(c["sub_agents"] != "[]" for c in cards)
    assert statistics.median(sizes) < 2048
    # Every part is capped, so no card is far off (bench/cards.py reports the p95 on a larger sample).
    assert max(sizes) < 3072


def test_a_late_event_before_the_start_moves_the_card_to_the_earlier_day(lake_settings: Settings) -> None:
    w = TraceWriter("t-moved")
    w.tool("a", w.llm("l1", 1_000), EXEC)
    w.write(lake_settings, "batch-moved-1.ndjson")
    _tick(lake_settings)
    assert _card(lake_settings, "t-moved")["trace_date"] == "2025-11-22"

    # An LLM call ten hours before the trace's first event: the trace now starts the day before.
    early = TraceWriter("t-moved", t0=T0_MS - 10 * 3_600_000)
    early.records = []
    early.llm("l0", 500)
    early.write(lake_settings, "batch-moved-2.ndjson")
    _tick(lake_settings)
    rows = open_table(TRACE_CARDS, lake_settings).read(columns=["trace_id", "trace_date", "llm_calls"]).to_pylist()
    assert [(r["trace_date"].isoformat(), r["llm_calls"]) for r in rows] == [("2025-11-21", 2)]
