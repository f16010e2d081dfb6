"""Every read endpoint over real HTTP (uvicorn on 127.0.0.1) after simulate + tick, its numbers checked
against the silver tables read directly."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from clawtrace_api.accounts import Accounts
from clawtrace_api.db.engine import make_engine
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.tables import TRACE_CARDS
from clawtrace_pipelines.core.trace_cards import read_card
from tests.api.reads_lake import (
    LIVE_TRACE,
    PAYLOAD_MAX_BYTES,
    TENANT_B,
    UNPRICED_MODEL,
    WINDOW,
    ReadsLake,
    build,
    silver_spans,
    silver_traces,
)
from tests.api_server import serve_app


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> ReadsLake:
    return build(tmp_path_factory.mktemp("reads"))


@pytest.fixture(scope="module")
def client(lake: ReadsLake) -> Iterator[Any]:
    engine = make_engine(lake.settings)
    accounts = Accounts(engine)
    accounts.create_tenant("a", tenant_id=lake.tenant_a)
    accounts.create_agent(lake.tenant_a, "registered-name", agent_id=lake.agent_a)
    key = accounts.create_key(lake.tenant_a, "read")["key"]
    with serve_app(lake.settings) as api, api.client(key) as http:
        yield http
    engine.dispose()


def _close(a: float, b: Any) -> bool:
    return math.isclose(a, float(b or 0), rel_tol=1e-9, abs_tol=1e-9)


def _ok(client: Any, path: str, **params: Any) -> Any:
    r = client.get(path, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _all_pages(client: Any, **params: Any) -> list[dict[str, Any]]:
    rows, cursor, pages = [], None, 0
    while True:
        body = _ok(client, "/v1/traces", **params, **({"cursor": cursor} if cursor else {}))
        rows += body["traces"]
        cursor, pages = body["next_cursor"], pages + 1
        if cursor is None:
            return rows
        assert pages < 100


def test_agents_have_the_trace_counts_errors_tokens_and_cost_of_silver(client, lake):
    traces = silver_traces(lake.settings, lake.tenant_a)
    agents = {a["agent_id"]: a for a in _ok(client, "/v1/agents")["agents"]}
    by_agent = defaultdict(list)
    for t in traces:
        by_agent[t["agent_id"]].append(t)
    assert set(agents) == set(by_agent)
    for agent_id, rows in by_agent.items():
        got = agents[agent_id]
        assert got["traces"] == len(rows)
        assert got["traces_with_errors"] == sum(t["has_error"] for t in rows)
        assert got["error_rate"] == pytest.approx(got["traces_with_errors"] / len(rows))
        assert got["total_tokens"] == sum(t["total_tokens"] for t in rows)
        assert _close(got["cost_usd"], sum(t["cost_usd"] for t in rows))
    assert agents[lake.agent_a]["registered"] and agents[lake.agent_a]["agent_name"] == "registered-name"


@pytest.mark.parametrize("sort", ["start", "cost", "duration"])
def test_paging_the_list_returns_every_trace_once_in_order(client, lake, sort):
    traces = silver_traces(lake.settings, lake.tenant_a)
    rows = _all_pages(client, sort=sort, limit=4, **WINDOW)
    assert sorted(r["trace_id"] for r in rows) == sorted(t["trace_id"] for t in traces)
    column = {"start": "trace_start_ts_ms", "cost": "cost_usd", "duration": "duration_ms"}[sort]
    keys = [(float(r[column]), r["trace_id"]) for r in rows]
    assert keys == sorted(keys, reverse=True)


def test_list_metrics_and_trends_sum_the_selected_traces(client, lake):
    traces = silver_traces(lake.settings, lake.tenant_a)
    body = _ok(client, "/v1/traces", **WINDOW)
    m = body["metrics"]
    assert m["traces"] == len(traces)
    assert m["total_tokens"] == sum(t["total_tokens"] for t in traces)
    assert m["cache_read_tokens"] == sum(t["total_cache_read_tokens"] for t in traces)
    assert _close(m["cost_usd"], sum(t["cost_usd"] for t in traces))
    assert m["unpriced_llm_calls"] == sum(t["unpriced_llm_calls"] for t in traces) >= 1
    assert m["avg_duration_ms"] == pytest.approx(sum(t["duration_ms"] for t in traces) / len(traces))
    per_day = Counter(t["trace_date"].isoformat() for t in traces)
    assert {d["day"]: d["traces"] for d in body["trends"]} == dict(per_day)


def test_each_filter_selects_what_silver_selects(client, lake):
    traces = silver_traces(lake.settings, lake.tenant_a)
    spans = silver_spans(lake.settings, lake.tenant_a)
    model = Counter(s["model"] for s in spans if s["model"]).most_common(1)[0][0]
    tool = Counter(s["tool_name"] for s in spans if s["actor_type"] == "tool_call").most_common(1)[0][0]
    with_model = {s["trace_id"] for s in spans if s["model"] == model}
    with_tool = {s["trace_id"] for s in spans if s["actor_type"] == "tool_call" and s["tool_name"] == tool}
    mid = sorted(t["trace_start_ts_ms"] for t in traces)[len(traces) // 2]
    cases = [
        ({"has_error": "true"}, {t["trace_id"] for t in traces if t["has_error"]}),
        ({"has_error": "false"}, {t["trace_id"] for t in traces if not t["has_error"]}),
        ({"category": "Work"}, {t["trace_id"] for t in traces if t["category"] == "Work"}),
        ({"agent_id": lake.agent_a}, {t["trace_id"] for t in traces if t["agent_id"] == lake.agent_a}),
        ({"min_cost_usd": 0.01}, {t["trace_id"] for t in traces if t["cost_usd"] >= 0.01}),
        ({"model": model}, with_model),
        ({"tool": tool}, with_tool),
        ({"model": model, "tool": tool}, with_model & with_tool),
        ({"from_ms": mid, "to_ms": 2**52}, {t["trace_id"] for t in traces if t["trace_start_ts_ms"] >= mid}),
    ]
    for params, expected in cases:
        query = {**WINDOW, **params}
        got = {r["trace_id"] for r in _all_pages(client, limit=5, **query)}
        assert got == expected and expected, params
        assert _ok(client, "/v1/traces", **query)["metrics"]["traces"] == len(expected), params


def test_trace_detail_is_the_silver_row_and_its_spans_with_a_status(client, lake):
    traces = {t["trace_id"]: t for t in silver_traces(lake.settings, lake.tenant_a)}
    spans = defaultdict(list)
    for s in silver_spans(lake.settings, lake.tenant_a):
        spans[s["trace_id"]].append(s)
    statuses = Counter()
    for trace_id, row in traces.items():
        body = _ok(client, f"/v1/traces/{trace_id}")
        meta = body["meta"]
        assert meta["total_tokens"] == row["total_tokens"] and _close(meta["cost_usd"], row["cost_usd"])
        assert meta["event_count"] == row["event_count"] and meta["is_orphan"] == row["is_orphan"]
        assert sorted(s["span_id"] for s in body["spans"]) == sorted(s["span_id"] for s in spans[trace_id])
        assert sum(s["total_tokens"] for s in body["spans"]) == sum(s["total_tokens"] for s in spans[trace_id])
        statuses[meta["status"]] += 1
        if trace_id == LIVE_TRACE:
            assert meta["status"] == "in_progress"
        elif row["is_orphan"]:
            assert meta["status"] == "orphan"
    assert statuses["complete"] >= len(traces) // 2


def _walk(node: dict[str, Any], up: str | None, parent: dict[str, Any], seen: list[str]) -> float:
    """Checks a node and its subtree (parent links, cost sums); returns its subtree cost."""
    seen.append(node["span_id"])
    if up is not None:
        assert parent[node["span_id"]] == up
    below = sum(_walk(c, node["span_id"], parent, seen) for c in node["children"])
    assert _close(node["subtree_cost_usd"], (node["cost_usd"] or 0.0) + below)
    return float(node["subtree_cost_usd"])


def test_tree_nests_every_span_once_with_subtree_costs_that_add_up(client, lake):
    spans = defaultdict(list)
    for s in silver_spans(lake.settings, lake.tenant_a):
        spans[s["trace_id"]].append(s)
    for trace_id, rows in spans.items():
        body = _ok(client, f"/v1/traces/{trace_id}/tree")
        parent = {s["span_id"]: s["parent_span_id"] for s in rows}
        seen: list[str] = []
        total = sum(_walk(r, None, parent, seen) for r in body["roots"])
        assert sorted(seen) == sorted(parent)
        assert _close(total, sum(s["cost_usd"] or 0 for s in rows if s["cost_known"]))


def test_timeline_lanes_never_overlap_and_the_critical_path_descends(client, lake):
    spans = defaultdict(list)
    for s in silver_spans(lake.settings, lake.tenant_a):
        spans[s["trace_id"]].append(s)
    for trace_id, rows in spans.items():
        body = _ok(client, f"/v1/traces/{trace_id}/timeline", idle_threshold_ms=500)
        lanes = defaultdict(list)
        for bar in body["bars"]:
            lanes[bar["lane"]].append((bar["start_offset_ms"], bar["start_offset_ms"] + bar["duration_ms"]))
        for bars in lanes.values():
            bars.sort()
            assert all(a[1] < b[0] for a, b in zip(bars, bars[1:], strict=False)), (trace_id, bars)
        parent = {s["span_id"]: s["parent_span_id"] for s in rows}
        path = body["critical_path"]
        assert path and all(parent[b] == a for a, b in zip(path, path[1:], strict=False))
        assert all(g["duration_ms"] > 500 for g in body["idle_gaps"])
        assert len(body["bars"]) == len(rows) and body["lanes"] == len(lanes)


def test_call_graph_counts_invocations_tokens_and_calls_per_actor(client, lake):
    spans = defaultdict(list)
    for s in silver_spans(lake.settings, lake.tenant_a):
        spans[s["trace_id"]].append(s)
    for trace_id, rows in spans.items():
        body = _ok(client, f"/v1/traces/{trace_id}/graph")
        nodes = {n["id"]: n for n in body["nodes"]}
        expected = Counter(f"{s['actor_type']}:{s['actor_label']}" for s in rows)
        assert {k: n["invocations"] for k, n in nodes.items()} == dict(expected)
        for key, node in nodes.items():
            mine = [s for s in rows if f"{s['actor_type']}:{s['actor_label']}" == key]
            assert node["tokens"]["total"] == sum(s["total_tokens"] for s in mine)
        ids = {s["span_id"] for s in rows}
        assert sum(e["calls"] for e in body["edges"]) == sum(1 for s in rows if s["parent_span_id"] in ids)


def test_span_detail_reads_payloads_from_the_lake_and_cuts_large_ones(client, lake):
    rows = silver_spans(lake.settings, lake.tenant_a)
    cut = 0
    for s in rows[:40] + [r for r in rows if r["trace_id"] == LIVE_TRACE]:
        body = _ok(client, f"/v1/spans/{s['span_id']}", trace_id=s["trace_id"])
        assert body["total_tokens"] == s["total_tokens"] and body["cost_known"] == s["cost_known"]
        for name in ("input_payload", "output_payload"):
            text, got = s[name], body[name]
            if text is None:
                assert got["text"] is None
                continue
            assert got["bytes"] == len(text.encode())
            if got["bytes"] <= PAYLOAD_MAX_BYTES:
                assert got["text"] == text and not got["truncated"]
            else:
                cut += 1
                assert got["truncated"] and got["text"].endswith(f"[truncated: {got['bytes']} bytes]")
                assert text.startswith(got["text"].split("…[truncated")[0])
    assert cut
    live = next(r for r in rows if r["trace_id"] == LIVE_TRACE and r["model"] == UNPRICED_MODEL)
    body = _ok(client, f"/v1/spans/{live['span_id']}", trace_id=LIVE_TRACE)
    assert body["cost_known"] is False and body["cost_usd"] is None


def test_sessions_group_traces_by_session_key_with_context_growth(client, lake):
    traces = [t for t in silver_traces(lake.settings, lake.tenant_a) if t["session_key"]]
    spans = silver_spans(lake.settings, lake.tenant_a)
    by_key = defaultdict(list)
    for t in traces:
        by_key[t["session_key"]].append(t)
    listed, cursor = [], None
    while True:
        body = _ok(client, "/v1/sessions", limit=2, **WINDOW, **({"cursor": cursor} if cursor else {}))
        listed += body["sessions"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert {s["session_key"]: s["traces"] for s in listed} == {k: len(v) for k, v in by_key.items()}
    key = max(by_key, key=lambda k: len(by_key[k]))
    detail = _ok(client, f"/v1/sessions/{key}")
    ids = {t["trace_id"] for t in by_key[key]}
    assert {t["trace_id"] for t in detail["traces"]} == ids
    calls = [s for s in spans if s["trace_id"] in ids and s["actor_type"] == "llm_call"]
    assert len(detail["calls"]) == len(calls) == detail["growth"]["calls"]
    sizes = [c["context_tokens"] for c in detail["calls"]]
    assert detail["growth"]["peak_context_tokens"] == max(sizes)
    assert sum(sizes) == sum(s["input_tokens"] + s["cache_read_tokens"] + s["cache_write_tokens"] for s in calls)


@pytest.mark.parametrize("group_by", ["model", "tool", "agent", "session", "day", "category"])
def test_costs_by_each_grouping_match_silver_with_unpriced_calls_apart(client, lake, group_by):
    traces = silver_traces(lake.settings, lake.tenant_a)
    spans = silver_spans(lake.settings, lake.tenant_a)
    cost: dict[str, float] = defaultdict(float)
    calls: Counter = Counter()
    unpriced: Counter = Counter()
    if group_by in ("model", "tool"):
        actor = {"model": "llm_call", "tool": "tool_call"}[group_by]
        column = {"model": "model", "tool": "tool_name"}[group_by]
        for s in spans:
            if s["actor_type"] == actor:
                cost[s[column] or ""] += float(s["cost_usd"] or 0)
                calls[s[column] or ""] += 1
                unpriced[s[column] or ""] += not s["cost_known"]
    else:
        column = {"agent": "agent_id", "session": "session_key", "day": "trace_date", "category": "category"}[group_by]
        for t in traces:
            key = t[column].isoformat() if group_by == "day" else (t[column] or "")
            cost[key] += float(t["cost_usd"])
            calls[key] += t["llm_calls"]
            unpriced[key] += t["unpriced_llm_calls"]
    body = _ok(client, "/v1/costs", group_by=group_by, **WINDOW)
    groups = {g["key"]: g for g in body["groups"]}
    assert set(groups) == set(cost) and body["other"] is None
    for key, g in groups.items():
        assert _close(g["cost_usd"], cost[key]) and g["calls"] == calls[key], key
        assert g["unpriced_calls"] == unpriced[key] and g["priced_calls"] == calls[key] - unpriced[key]
    if group_by == "model":
        assert groups[UNPRICED_MODEL]["unpriced_calls"] == 1 and groups[UNPRICED_MODEL]["cost_usd"] == 0
    small = _ok(client, "/v1/costs", group_by=group_by, limit=1, **WINDOW)
    if len(groups) > 1:
        rest = small["other"]
        assert rest is not None and rest["calls"] == body["totals"]["calls"] - small["groups"][0]["calls"]


def _lake_card(lake: ReadsLake, tenant: str, trace_id: str) -> dict[str, Any]:
    return read_card(open_table(TRACE_CARDS, lake.settings), tenant, trace_id)


def test_the_card_is_the_callers_lake_card_as_json_or_yaml(client, lake):
    traces = silver_traces(lake.settings, lake.tenant_a)
    twin_ids = {t["trace_id"] for t in silver_traces(lake.settings, TENANT_B)}
    # Traces tenant B holds too, with other data: the key's tenant decides whose card is read.
    shared = [t["trace_id"] for t in traces if t["trace_id"] in twin_ids]
    assert shared
    differs = 0
    for trace_id in shared[:8]:
        mine, twin = _lake_card(lake, lake.tenant_a, trace_id), _lake_card(lake, TENANT_B, trace_id)
        assert _ok(client, f"/v1/traces/{trace_id}/card") == mine
        r = client.get(f"/v1/traces/{trace_id}/card", headers={"accept": "application/yaml"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/yaml")
        assert yaml.safe_load(r.text) == mine
        assert len(r.content) < 4096
        differs += mine != twin
    assert differs


def test_an_unknown_trace_has_no_card(client):
    r = client.get("/v1/traces/no-such-trace/card")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["detail"] == "trace card not found"
