"""The simulated traffic has the shape of real OpenClaw agent loops, and every quirk of real collectors."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from typing import Any

import orjson
import pytest

from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.simulator import Manifest, simulate
from tests.unit.simulated_lake import (
    NOW,
    Delivered,
    by_trace,
    distinct_events,
    is_shadow,
    payload,
    read_deliveries,
    small_config,
)

Event = dict[str, Any]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Delivered], Manifest]:
    root = tmp_path_factory.mktemp("traffic")
    manifest = simulate(Settings(lake=str(root)), small_config(), now=NOW)
    return read_deliveries(root), manifest


@pytest.fixture(scope="module")
def events(lake: tuple[list[Delivered], Manifest]) -> dict[str, Event]:
    return distinct_events(lake[0])


@pytest.fixture(scope="module")
def traces(events: dict[str, Event]) -> dict[str, list[Event]]:
    return by_trace(events)


def _of(trace: list[Event], event_type: str) -> list[Event]:
    return [e for e in trace if e["eventType"] == event_type]


def _roots(trace: list[Event]) -> list[Event]:
    return [e for e in _of(trace, "session_start") if e["parentSpanId"] is None]


def test_sessions_open_and_close_the_root_span(traces: dict[str, list[Event]]) -> None:
    agent_names = set()
    for trace in traces.values():
        if len(trace) == 1:
            continue
        (root,) = _roots(trace)
        body = payload(root)
        assert re.fullmatch(r"agent:[a-z-]+:(main|[a-z]+:\d+)", body["sessionKey"])
        assert body["sessionKey"].split(":")[1] == body["agentName"] and body["isSubAgent"] is False
        assert body["runId"] == root["traceId"]
        ends = [e for e in _of(trace, "session_end") if e["spanId"] == root["spanId"]]
        assert len(ends) == 1 and payload(ends[0])["durationMs"] == ends[0]["tsMs"] - root["tsMs"]
        agent_names.add(body["agentName"])
    assert len(agent_names) >= 3


def test_llm_and_tool_spans_hang_under_the_right_parents(traces: dict[str, list[Event]]) -> None:
    for trace in traces.values():
        spans = {e["spanId"]: e for e in trace}
        roots = {e["spanId"] for e in _of(trace, "session_start")}
        llm_spans = {e["spanId"] for e in _of(trace, "llm_before_call")}
        for before in _of(trace, "llm_before_call"):
            assert before["parentSpanId"] in roots
            (after,) = [e for e in _of(trace, "llm_after_call") if e["spanId"] == before["spanId"]]
            assert after["tsMs"] > before["tsMs"]
        for tool in _of(trace, "tool_before_call"):
            assert tool["parentSpanId"] in llm_spans
            assert re.fullmatch(r"(toolu_01|call_)[0-9A-Za-z]{22,24}", payload(tool)["toolCallId"])
        if len(trace) > 1:
            assert all(e["parentSpanId"] is None or e["parentSpanId"] in spans for e in trace)


def test_usage_is_realistic_and_adds_up(events: dict[str, Event]) -> None:
    calls = [payload(e) for e in events.values() if e["eventType"] == "llm_after_call"]
    providers = Counter(c["provider"] for c in calls)
    assert {"anthropic", "openai", "google"} <= set(providers) and len(providers) >= 5
    for call in calls:
        usage = call["usage"]
        assert usage["total"] == usage["input"] + usage["output"] + usage["cacheRead"] + usage["cacheWrite"]
        assert 0 < usage["input"] + usage["cacheRead"] + usage["cacheWrite"] < 500_000 and usage["output"] > 0
    anthropic = [c["usage"] for c in calls if c["provider"] == "anthropic"]
    # Anthropic-style sessions re-read their growing prompt from cache: reads dominate the bill's token count.
    assert sum(u["cacheRead"] for u in anthropic) > 2 * sum(u["input"] + u["cacheWrite"] for u in anthropic)
    assert all(u["input"] <= 40 for u in anthropic)


def test_shadow_duplicates_follow_a_real_after_call_by_a_few_ms(events: dict[str, Event]) -> None:
    real = defaultdict(list)
    for e in events.values():
        if e["eventType"] == "tool_after_call" and not is_shadow(e):
            real[e["traceId"]].append(e)
    shadows = [e for e in events.values() if is_shadow(e)]
    assert {payload(s)["toolName"] for s in shadows} >= {"exec", "write"}
    for shadow in shadows:
        body = payload(shadow)
        assert "toolCallId" not in body and body["sessionKey"] == "unknown"
        twins = [
            r
            for r in real[shadow["traceId"]]
            if 3 <= shadow["tsMs"] - r["tsMs"] <= 5 and payload(r)["params"] == body["params"]
        ]
        assert twins and all(payload(t)["toolName"] == body["toolName"] for t in twins)


def test_exact_duplicates_resend_the_same_event_in_another_batch_file(lake: tuple[list[Delivered], Manifest]) -> None:
    deliveries, _ = lake
    by_id: dict[str, list[Delivered]] = defaultdict(list)
    for d in deliveries:
        by_id[d.event["eventId"]].append(d)
    repeated = [ds for ds in by_id.values() if len(ds) > 1]
    assert repeated
    for ds in repeated:
        assert len({orjson.dumps(d.event) for d in ds}) == 1
        # Retries go out in later requests: never in the batch file of the first delivery.
        assert len({d.path for d in ds}) >= 2
        assert len({d.record["receivedAt"] for d in ds}) == len(ds)


def test_payloads_sometimes_arrive_as_json_strings(events: dict[str, Event]) -> None:
    strings = [e["payload"] for e in events.values() if isinstance(e["payload"], str)]
    assert strings and all(isinstance(orjson.loads(s), dict) for s in strings)
    assert any(e.get("sdkVersion") == "1.4.2" for e in events.values())


def test_orphans_are_single_tool_calls_under_a_missing_span(
    traces: dict[str, list[Event]], events: dict[str, Event], lake: tuple[list[Delivered], Manifest]
) -> None:
    spans = {e["spanId"] for e in events.values()}
    orphans = [t for t in traces.values() if not _of(t, "session_start")]
    assert len(orphans) == lake[1].orphan_traces > 0
    for (event,) in orphans:
        assert event["eventType"] == "tool_after_call" and event["parentSpanId"] not in spans
        assert payload(event)["toolCallId"] and payload(event)["sessionKey"] != "unknown"


def test_sub_agents_run_inside_the_parent_trace(
    traces: dict[str, list[Event]], lake: tuple[list[Delivered], Manifest]
) -> None:
    with_children = 0
    for trace in traces.values():
        spawns = _of(trace, "subagent_spawn")
        with_children += bool(spawns)
        for spawn in spawns:
            body = payload(spawn)
            (root,) = _roots(trace)
            assert spawn["parentSpanId"] == root["spanId"]
            assert body["requesterSessionKey"] == payload(root)["sessionKey"]
            assert re.fullmatch(r"agent:[a-z-]+:subagent:[0-9a-f-]{36}", body["childSessionKey"])
            (child,) = [e for e in _of(trace, "session_start") if e["parentSpanId"] == spawn["spanId"]]
            assert payload(child)["isSubAgent"] is True
            assert payload(child)["sessionKey"] == body["childSessionKey"]
            (join,) = [e for e in _of(trace, "subagent_join") if e["spanId"] == spawn["spanId"]]
            assert payload(join)["outcome"] in {"ok", "error", "timeout"}
            assert (
                payload(join)["endedAt"] == join["tsMs"]
                and payload(join)["targetSessionKey"] == body["childSessionKey"]
            )
            errors = [e for e in _of(trace, "error") if e["parentSpanId"] == spawn["spanId"]]
            assert len(errors) == (payload(join)["outcome"] != "ok")
    assert with_children == lake[1].subagent_traces > 0


def test_heartbeat_and_compaction_prompts_name_their_category(
    traces: dict[str, list[Event]], lake: tuple[list[Delivered], Manifest]
) -> None:
    categories: Counter[str] = Counter()
    for trace in traces.values():
        heads = [
            orjson.dumps(payload(e)).decode()[:2000].lower()
            for e in trace
            if e["eventType"] in {"session_start", "llm_before_call"}
        ]
        if any("heartbeat" in h for h in heads):
            categories["heartbeat"] += 1
            cheap = {"claude-haiku-4-5", "gpt-4.1-mini", "gemini-2.5-flash", "deepseek-chat"}
            assert {payload(e)["model"] for e in _of(trace, "llm_before_call")} <= cheap
        elif any("pre-compaction" in h or "memory flush" in h for h in heads):
            categories["compaction"] += 1
    assert categories["heartbeat"] == lake[1].heartbeat_traces > 0
    assert categories["compaction"] == lake[1].compaction_traces > 0


def _tool_runs(trace: list[Event]) -> list[list[Event]]:
    """Runs of consecutive identical tool calls (same tool, same params) in time order."""
    afters = {e["spanId"]: e for e in _of(trace, "tool_after_call")}
    runs: list[list[Event]] = []
    for tool in _of(trace, "tool_before_call"):
        key = (payload(tool)["toolName"], orjson.dumps(payload(tool)["params"], option=orjson.OPT_SORT_KEYS))
        if runs and runs[-1][0]["key"] == key:
            runs[-1].append({"key": key, "after": afters[tool["spanId"]]})
        else:
            runs.append([{"key": key, "after": afters[tool["spanId"]]}])
    return runs


def test_retry_loops_repeat_identical_params_after_errors(
    traces: dict[str, list[Event]], lake: tuple[list[Delivered], Manifest]
) -> None:
    loops = 0
    for trace in traces.values():
        for run in _tool_runs(trace):
            failed = sum("error" in payload(r["after"]) for r in run)
            if len(run) >= 3 and failed >= len(run) - 1:
                assert 3 <= len(run) <= 6
                loops += 1
    assert loops == lake[1].retry_loops > 0


def test_tool_errors_get_an_error_event_on_their_own_span(traces: dict[str, list[Event]]) -> None:
    for trace in traces.values():
        errors = {e["parentSpanId"]: e for e in _of(trace, "error")}
        for after in _of(trace, "tool_after_call"):
            if "error" in payload(after):
                error = errors[after["spanId"]]
                assert error["spanId"] != after["spanId"]
                assert payload(error)["source"] == "tool"
                assert payload(error)["toolCallId"] == payload(after)["toolCallId"]


def test_runaway_context_grows_call_after_call(
    traces: dict[str, list[Event]], lake: tuple[list[Delivered], Manifest]
) -> None:
    runaways = [t for t in traces.values() if len(_of(t, "llm_before_call")) >= 20]
    assert len(runaways) == lake[1].runaway_traces > 0
    for trace in runaways:
        assert 20 <= len(_of(trace, "llm_before_call")) <= 40
        history = [payload(e)["historyMessagesCount"] for e in _of(trace, "llm_before_call")]
        usage = [payload(e)["usage"] for e in _of(trace, "llm_after_call")]
        prompt = [u["input"] + u["cacheRead"] + u["cacheWrite"] for u in usage]
        assert history == sorted(set(history))
        assert prompt == sorted(set(prompt))
        assert [u["input"] + u["cacheRead"] for u in usage] == sorted(u["input"] + u["cacheRead"] for u in usage)
        assert prompt[-1] > 3 * prompt[0]
