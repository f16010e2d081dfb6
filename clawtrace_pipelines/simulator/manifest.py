"""What a simulator call wrote, counted exactly, so tests and benchmarks can reconcile bronze against it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from clawtrace_pipelines.core.events import EventType
from clawtrace_pipelines.simulator.traffic import EXTRA, SHADOW, STRING, Delivery, TraceOutput

MANIFEST_DIR = "state/simulator"


@dataclass
class Manifest:
    """Counts of one `simulate` call (a late run counts only what it wrote itself).

    Invariants: `sum(events_by_type) + exact_duplicate_deliveries == deliveries` and
    `expected_events == sum(events_by_type) - shadow_duplicates`.

    Attributes:
        events_by_type: distinct new events (eventIds not delivered before) by eventType, shadows included.
        shadow_duplicates: new events matching the shadow fingerprint (`is_shadow_duplicate`).
        exact_duplicate_deliveries: deliveries of an eventId already delivered, earlier in this call or, for a
            late run, by the normal run (`redeliveries` of them).
        payload_as_string, extra_event_fields: new events whose payload is a JSON string, or whose `event`
            carries an unknown field (`sdkVersion`).
        late_events: deliveries of a late run (all of them land in hours already written); 0 otherwise.
        expected_events: distinct non-shadow (tenant, eventId) this call adds to bronze.
        files: distinct raw files written (a rewritten per-event file counts once).
        traces and the `*_traces` counts: new traces by kind; `subagent_traces` contain sub-agents,
            `retry_loops` count loops of one tool called 3-6 times with identical params after errors.
        tool_errors: non-shadow `tool_after_call` events with an `error`, each followed by an `error` event.
    """

    run_label: str
    seed: int
    layout: str
    start: str
    hours: int
    late: int
    tenants: int = 0
    agents: int = 0
    traces: int = 0
    orphan_traces: int = 0
    subagent_traces: int = 0
    heartbeat_traces: int = 0
    compaction_traces: int = 0
    runaway_traces: int = 0
    retry_loops: int = 0
    tool_errors: int = 0
    files: int = 0
    deliveries: int = 0
    events_by_type: dict[str, int] = field(default_factory=lambda: {t.value: 0 for t in EventType})
    shadow_duplicates: int = 0
    exact_duplicate_deliveries: int = 0
    redeliveries: int = 0
    payload_as_string: int = 0
    extra_event_fields: int = 0
    late_events: int = 0
    expected_events: int = 0
    tenant_ids: list[str] = field(default_factory=list)
    agent_ids: list[str] = field(default_factory=list)
    agent_names: dict[str, str] = field(default_factory=dict)
    offline_agent_ids: list[str] = field(default_factory=list)
    arrival_records: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        """The manifest back from `to_dict` output (unknown keys ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def path(self) -> str:
        """Where `simulate` stores it, relative to the lake root."""
        return f"{MANIFEST_DIR}/manifest-{self.run_label}.json"

    def count_trace(self, trace: TraceOutput) -> None:
        """Count a new trace, its first deliveries and its retried ones."""
        self.traces += 1
        kind = trace.kind
        if kind == "orphan":
            self.orphan_traces += 1
        elif kind == "subagent":
            self.subagent_traces += 1
        elif kind == "heartbeat":
            self.heartbeat_traces += 1
        elif kind == "compaction":
            self.compaction_traces += 1
        elif kind == "runaway":
            self.runaway_traces += 1
        elif kind == "retry":
            self.retry_loops += 1
        self.tool_errors += trace.tool_errors
        by_type = self.events_by_type
        for d in trace.deliveries:
            by_type[d.event_type] += 1
            if d.flags:
                self.shadow_duplicates += d.flags & SHADOW
                self.payload_as_string += (d.flags & STRING) >> 1
                self.extra_event_fields += (d.flags & EXTRA) >> 2
        self.exact_duplicate_deliveries += len(trace.retries)

    def count_redeliveries(self, deliveries: list[Delivery]) -> None:
        """Count re-sent events that an earlier run delivered already."""
        self.redeliveries += len(deliveries)
        self.exact_duplicate_deliveries += len(deliveries)

    def finish(self, deliveries: int, files: int) -> None:
        """Fill the totals once everything is written."""
        self.deliveries = deliveries
        self.files = files
        self.expected_events = sum(self.events_by_type.values()) - self.shadow_duplicates
        self.late_events = deliveries if self.late else 0
