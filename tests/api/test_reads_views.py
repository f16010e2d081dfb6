"""The pure views behind the trace endpoints: lanes, critical path, idle gaps, tree nesting with bad parent
links, trace status, payload truncation and cursors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clawtrace_api.errors import Problem
from clawtrace_api.schemas import SpanRow, TraceStatus
from clawtrace_api.views import cursors
from clawtrace_api.views.payloads import truncate
from clawtrace_api.views.rows import IN_PROGRESS_WINDOW_MS, trace_status
from clawtrace_api.views.timeline import assign_lanes, critical_path, idle_gaps
from clawtrace_api.views.tree import build_tree


def span(span_id: str, parent: str | None, start: int, end: int, kind: str = "tool_call", **kw: Any) -> SpanRow:
    values: dict[str, Any] = {
        "span_id": span_id,
        "parent_span_id": parent,
        "actor_type": kind,
        "actor_label": kind,
        "provider": None,
        "model": None,
        "tool_name": None,
        "span_start_ts_ms": start,
        "span_end_ts_ms": end,
        "duration_ms": end - start,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cache_write_tokens": 0,
        "total_tokens": 0,
        "cost_usd": 0.0,
        "cost_known": True,
        "has_error": 0,
        "error_message": None,
        "event_count": 2,
    }
    return SpanRow.model_validate({**values, **kw})


intervals = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 20)), min_size=1, max_size=40)


# No deadline: the property is about lanes, not speed, and a loaded machine (parallel suites) overran 200 ms.
@settings(max_examples=200, derandomize=True, deadline=None)
@given(intervals)
def test_lanes_never_hold_two_bars_that_share_an_instant_and_are_as_few_as_the_peak(bars):
    spans = [span(f"s{i}", None, lo, lo + length) for i, (lo, length) in enumerate(bars)]
    lanes = assign_lanes(spans)
    for a in spans:
        for b in spans:
            if a.span_id < b.span_id and lanes[a.span_id] == lanes[b.span_id]:
                assert a.span_end_ts_ms < b.span_start_ts_ms or b.span_end_ts_ms < a.span_start_ts_ms
    # Closed intervals: the largest number containing one instant is the fewest lanes possible.
    peak = max(sum(1 for s in spans if s.span_start_ts_ms <= t <= s.span_end_ts_ms) for t in range(0, 71))
    assert len(set(lanes.values())) == peak


def test_critical_path_follows_the_child_that_finished_last():
    spans = [
        span("root", None, 0, 100, "session"),
        span("a", "root", 0, 40, "llm_call"),
        span("b", "root", 10, 90, "subagent"),
        span("b1", "b", 20, 50),
        span("b2", "b", 30, 85),
    ]
    assert critical_path(spans) == ["root", "b", "b2"]


def test_idle_gaps_are_stretches_without_llm_or_tool_calls_over_the_threshold():
    spans = [
        span("root", None, 0, 100, "session"),
        span("a", "root", 5, 20, "llm_call"),
        span("b", "root", 15, 30),
        span("c", "root", 70, 80),
    ]
    gaps = [(g.start_offset_ms, g.duration_ms) for g in idle_gaps(spans, 0, 100, threshold_ms=10)]
    assert gaps == [(30, 40), (80, 20)]
    assert [g.duration_ms for g in idle_gaps(spans, 0, 100, threshold_ms=30)] == [40]


def test_tree_keeps_every_span_once_when_parents_are_missing_or_form_a_cycle():
    spans = [
        span("root", None, 0, 100, "session"),
        span("x", "root", 1, 5, "llm_call", cost_usd=0.5),
        span("y", "x", 2, 3, cost_usd=0.25),
        span("lost", "gone", 10, 20),
        span("c1", "c2", 30, 40),
        span("c2", "c1", 31, 41),
        span("self", "self", 50, 60),
    ]
    roots = build_tree(spans)
    seen: list[str] = []

    def walk(node: Any) -> None:
        seen.append(node.span_id)
        for child in node.children:
            walk(child)

    for r in roots:
        walk(r)
    assert sorted(seen) == sorted(s.span_id for s in spans)
    assert roots[0].span_id == "root" and roots[0].subtree_cost_usd == pytest.approx(0.75)


def test_an_unpriced_call_is_counted_apart_not_priced_at_zero():
    spans = [
        span("root", None, 0, 100, "session"),
        span("x", "root", 1, 5, "llm_call", cost_usd=None, cost_known=False),
        span("y", "root", 6, 9, "llm_call", cost_usd=0.1),
    ]
    (root,) = build_tree(spans)
    assert root.subtree_unpriced_calls == 1 and root.subtree_cost_usd == pytest.approx(0.1)
    assert root.children[0].cost_usd is None


def test_status_tells_running_finished_abandoned_and_orphan_traces_apart():
    now = 10_000_000
    closed = [span("root", None, 0, 100, "session", event_count=2)]
    open_ = [span("root", None, 0, 100, "session", event_count=1)]
    row = {"is_orphan": False, "trace_end_ts_ms": now - 1000}
    assert trace_status(row, closed, now) is TraceStatus.COMPLETE
    assert trace_status(row, open_, now) is TraceStatus.IN_PROGRESS
    stale = {**row, "trace_end_ts_ms": now - IN_PROGRESS_WINDOW_MS - 1}
    assert trace_status(stale, open_, now) is TraceStatus.INCOMPLETE
    assert trace_status({**row, "is_orphan": True}, [], now) is TraceStatus.ORPHAN


def test_truncation_cuts_at_a_character_boundary_and_says_the_full_size():
    text = "é" * 100  # 200 bytes
    cut = truncate(text, 51)
    assert cut.truncated and cut.bytes == 200
    assert cut.text == "é" * 25 + "…[truncated: 200 bytes]"
    assert truncate(text, 200).text == text and not truncate(text, 200).truncated
    assert truncate(None, 10).text is None


def test_cursors_round_trip_and_refuse_tampering_or_another_listing():
    c = cursors.encode("traces:cost", 0.125, "trace-9")
    assert cursors.decode(c, "traces:cost") == (0.125, "trace-9")
    for bad, kind in ((c, "traces:start"), ("not-base64!", "traces:cost"), ("W10", "traces:cost"), ("", "x")):
        with pytest.raises(Problem) as err:
            cursors.decode(bad, kind)
        assert err.value.status == 422
    forged = cursors.encode("traces:cost", 1.0, "a/b")
    with pytest.raises(Problem):
        cursors.decode(forged, "traces:cost")


def test_a_cursor_whose_key_overflows_a_float_is_a_422_not_a_500():
    import base64
    import json

    raw = json.dumps([1, "traces:start", 10**400, "x"]).encode()
    crafted = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    with pytest.raises(Problem) as refused:
        cursors.decode(crafted, "traces:start")
    assert refused.value.status == 422
