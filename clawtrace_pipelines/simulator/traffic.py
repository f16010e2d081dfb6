"""An agent's traffic: traces placed in the time window, serialized, with the delivery quirks of real
collectors (payloads sent as strings, extra envelope fields, retried deliveries).

Everything here is a pure function of the agent's RNG, so a `--late` run can regenerate what the normal run
wrote without reading the lake.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from random import Random
from typing import NamedTuple

import orjson

from clawtrace_pipelines.simulator.agents import Agent
from clawtrace_pipelines.simulator.config import HOUR_MS
from clawtrace_pipelines.simulator.ids import between, iso_ms, uuid4_str
from clawtrace_pipelines.simulator.plans import KINDS, SPECIAL_KINDS, plan_session, tool_req
from clawtrace_pipelines.simulator.session import TraceBuilder
from clawtrace_pipelines.simulator.tools import TOOLS

STRING_PAYLOAD_RATE = 0.03
EXTRA_FIELD_RATE = 0.03
SDK_VERSION = "1.4.2"
DUPLICATE_RATE = 0.01

SHADOW = 1
STRING = 2
EXTRA = 4


class Delivery(NamedTuple):
    """One record to write: the serialized `event` object and when the ingest side received it."""

    hour: int  # event hour, epoch ms // HOUR_MS
    event_id: str
    event_type: str
    flags: int  # SHADOW | STRING | EXTRA
    event: bytes
    received_ms: int


@dataclass
class TraceOutput:
    """A generated trace: first deliveries of each event, then retried (exact duplicate) deliveries."""

    kind: str
    trace_id: str
    deliveries: list[Delivery]
    retries: list[Delivery]
    tool_errors: int


class AgentTraffic:
    """Generates one agent's traces inside `[start_ms, end_ms)`.

    Args:
        agent: the agent.
        rng: its traffic RNG; nothing else draws from it.
        start_ms, end_ms: the window every event time falls in.
        force_specials: make sure each special trace kind appears at least once when there are enough traces,
            so a small dataset still exercises every quirk.
        arrival_ms: for late traffic, when the offline agent comes back and uploads its queue; None means
            events are received a moment after they happen.
    """

    def __init__(
        self,
        agent: Agent,
        rng: Random,
        start_ms: int,
        end_ms: int,
        *,
        force_specials: bool = True,
        arrival_ms: int | None = None,
    ) -> None:
        self.agent = agent
        self.rng = rng
        self.start_ms = start_ms
        self.end_ms = end_ms
        self.force_specials = force_specials
        self.arrival_ms = arrival_ms

    def traces(self, n: int) -> Iterator[TraceOutput]:
        """`n` traces in time order of their start."""
        rng, window = self.rng, self.end_ms - self.start_ms
        starts = sorted(self.start_ms + int(rng.random() * window) for _ in range(n))
        kinds = [KINDS.pick(rng) for _ in range(n)]
        missing = [k for k in SPECIAL_KINDS if k not in kinds]
        work = [i for i, k in enumerate(kinds) if k == "work"]
        if self.force_specials and missing and len(work) > len(missing):
            for i, kind in zip(rng.sample(work, len(missing)), missing, strict=True):
                kinds[i] = kind
        for start, kind in zip(starts, kinds, strict=True):
            yield self.trace(start, kind)

    def random_trace(self) -> TraceOutput:
        """One trace of a random kind at a random time of the window."""
        start = self.start_ms + int(self.rng.random() * (self.end_ms - self.start_ms))
        return self.trace(start, KINDS.pick(self.rng))

    def trace(self, start: int, kind: str) -> TraceOutput:
        """One trace of `kind`, starting at `start` unless that would run past the window's end."""
        rng, agent = self.rng, self.agent
        trace_id = uuid4_str(rng)
        builder = TraceBuilder(rng, agent.agent_id, agent.name, trace_id)
        if kind == "orphan":
            spec = TOOLS["exec"] if rng.random() < 0.5 else TOOLS["read"]
            builder.orphan(agent.main_key, tool_req(rng, spec, fail=False), agent.primary.id_style)
        else:
            builder.session(plan_session(rng, agent, kind, iso_ms(start)[:10]), 0, None, trace_id)
        duration = max(e[3] for e in builder.events)
        window = self.end_ms - self.start_ms
        # Keep every event inside the window: late runs must land in hours the normal run already wrote.
        scale = 1.0 if duration < window else (window - 1) / duration
        start = min(start, self.end_ms - 1 - int(duration * scale))
        deliveries, retries = self._serialize(builder, trace_id, start, scale)
        return TraceOutput(kind, trace_id, deliveries, retries, builder.tool_errors)

    def _serialize(
        self, builder: TraceBuilder, trace_id: str, start: int, scale: float
    ) -> tuple[list[Delivery], list[Delivery]]:
        rng, dumps, arrival = self.rng, orjson.dumps, self.arrival_ms
        if arrival is not None:
            arrival += between(rng, 60_000, 3 * HOUR_MS)
        deliveries: list[Delivery] = []
        retries: list[Delivery] = []
        for etype, span, parent, rel, payload, shadow in builder.events:
            ts = start + (rel if scale == 1.0 else int(rel * scale))
            payload["collectedAtIso"] = iso_ms(ts)
            if etype == "subagent_join":
                payload["endedAt"] = ts
            event_id = uuid4_str(rng)
            flags = SHADOW if shadow else 0
            body: object = payload
            if rng.random() < STRING_PAYLOAD_RATE:
                body = dumps(payload).decode()
                flags |= STRING
            event = {
                "eventId": event_id,
                "eventType": etype,
                "traceId": trace_id,
                "spanId": span,
                "parentSpanId": parent,
                "tsMs": ts,
                "payload": body,
            }
            if rng.random() < EXTRA_FIELD_RATE:
                event["sdkVersion"] = SDK_VERSION
                flags |= EXTRA
            data = dumps(event)
            received = (ts if arrival is None else arrival + (ts - start) // 50) + between(rng, 15, 400)
            deliveries.append(Delivery(ts // HOUR_MS, event_id, etype, flags, data, received))
            if rng.random() < DUPLICATE_RATE:
                # A collector retry after a timeout: same event, received again a little later.
                for _ in range(1 if rng.random() < 0.8 else 3):
                    received += between(rng, 1_000, 60_000)
                    retries.append(Delivery(ts // HOUR_MS, event_id, etype, flags, data, received))
        return deliveries, retries
