"""A trace as a Gantt chart: bars in lanes that never overlap, the critical path, and idle gaps."""

from __future__ import annotations

import heapq

from clawtrace_api.schemas import SpanRow
from clawtrace_api.schemas_views import IdleGap, Timeline, TimelineBar
from clawtrace_api.views.tree import children_of

# Kinds that are work rather than containers of work: time with none of them running is idle.
WORK_KINDS = frozenset({"llm_call", "tool_call"})


def assign_lanes(spans: list[SpanRow]) -> dict[str, int]:
    """Lane per span: greedy interval partitioning in start order, lowest free lane first, so the number
    of lanes is the largest number of spans running at one instant. A lane is free only after its last
    bar ended strictly before the next starts: bars that touch get different lanes."""
    order = sorted(spans, key=lambda s: (s.span_start_ts_ms, -s.span_end_ts_ms, s.span_id))
    busy: list[tuple[int, int]] = []  # (end, lane)
    free: list[int] = []
    lanes: dict[str, int] = {}
    count = 0
    for s in order:
        while busy and busy[0][0] < s.span_start_ts_ms:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        else:
            lane, count = count, count + 1
        lanes[s.span_id] = lane
        heapq.heappush(busy, (s.span_end_ts_ms, lane))
    return lanes


def critical_path(spans: list[SpanRow]) -> list[str]:
    """From the first root down: at each span the child that finished last (then the longest, then the
    smallest id), i.e. the chain the trace's end waited on."""
    by_id = {s.span_id: s for s in spans}
    roots, kids = children_of(spans)
    if not roots:
        return []
    path = [roots[0]]
    while kids.get(path[-1]):
        path.append(
            min(
                kids[path[-1]],
                key=lambda i: (-by_id[i].span_end_ts_ms, -by_id[i].duration_ms, i),
            )
        )
    return path


def idle_gaps(spans: list[SpanRow], start: int, end: int, threshold_ms: int) -> list[IdleGap]:
    """Stretches of [start, end] longer than `threshold_ms` in which no LLM or tool call ran."""
    busy = sorted((s.span_start_ts_ms, s.span_end_ts_ms) for s in spans if s.actor_type in WORK_KINDS)
    gaps: list[IdleGap] = []
    cursor = start
    for lo, hi in busy:
        if lo - cursor > threshold_ms:
            gaps.append(IdleGap(start_offset_ms=cursor - start, duration_ms=lo - cursor))
        cursor = max(cursor, hi)
    if end - cursor > threshold_ms:
        gaps.append(IdleGap(start_offset_ms=cursor - start, duration_ms=end - cursor))
    return gaps


def build_timeline(
    trace_id: str, trace_start: int, trace_end: int, spans: list[SpanRow], threshold_ms: int
) -> Timeline:
    start = min([trace_start, *(s.span_start_ts_ms for s in spans)])
    end = max([trace_end, *(s.span_end_ts_ms for s in spans)])
    lanes = assign_lanes(spans)
    path = critical_path(spans)
    on_path = set(path)
    bars = [
        TimelineBar(
            span_id=s.span_id,
            parent_span_id=s.parent_span_id,
            kind=s.actor_type,
            label=s.actor_label,
            start_offset_ms=s.span_start_ts_ms - start,
            duration_ms=s.span_end_ts_ms - s.span_start_ts_ms,
            lane=lanes[s.span_id],
            on_critical_path=s.span_id in on_path,
            has_error=s.has_error,
        )
        for s in sorted(spans, key=lambda s: (s.span_start_ts_ms, s.span_id))
    ]
    return Timeline(
        trace_id=trace_id,
        trace_start_ts_ms=start,
        duration_ms=end - start,
        lanes=len(set(lanes.values())),
        bars=bars,
        critical_path=path,
        idle_threshold_ms=threshold_ms,
        idle_gaps=idle_gaps(spans, start, end, threshold_ms),
    )
