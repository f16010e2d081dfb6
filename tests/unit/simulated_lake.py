"""Reading a simulated lake back, independently of the simulator's own code, for the simulator tests."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from clawtrace_pipelines.core.events import is_shadow_duplicate
from clawtrace_pipelines.simulator import SimulationConfig

START = datetime(2025, 6, 1, tzinfo=UTC)
NOW = datetime(2025, 6, 2, 3, 15, tzinfo=UTC)


def small_config(**overrides: Any) -> SimulationConfig:
    """A modest dataset that still holds every trace kind and quirk (about 1,500 events)."""
    values: dict[str, Any] = {"start": START, "tenants": 2, "agents_per_tenant": 2, "traces": 12, "seed": 11}
    return SimulationConfig(**(values | overrides))


@dataclass(frozen=True)
class Delivered:
    """One record as found on disk."""

    path: str
    record: dict[str, Any]

    @property
    def event(self) -> dict[str, Any]:
        return self.record["event"]


def raw_files(lake: Path) -> dict[str, bytes]:
    """Every file under raw/v1 by lake-relative path."""
    root = lake / "raw" / "v1"
    return {str(p.relative_to(lake)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def read_deliveries(lake: Path, only: set[str] | None = None) -> list[Delivered]:
    """Every record of every raw file (optionally only the given paths)."""
    out = []
    for path, data in raw_files(lake).items():
        if only is not None and path not in only:
            continue
        lines = data.splitlines() if path.endswith(".ndjson") else [data]
        out.extend(Delivered(path, orjson.loads(line)) for line in lines if line)
    return out


def payload(event: dict[str, Any]) -> dict[str, Any]:
    """The payload as an object, decoding the payload-as-string quirk."""
    value = event["payload"]
    return orjson.loads(value) if isinstance(value, str) else value


def distinct_events(deliveries: list[Delivered]) -> dict[str, dict[str, Any]]:
    """One event per eventId (every delivery of an id carries the same event)."""
    return {d.event["eventId"]: d.event for d in deliveries}


def is_shadow(event: dict[str, Any]) -> bool:
    return is_shadow_duplicate(event["eventType"], payload(event))


def by_trace(events: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Non-shadow events grouped by traceId, in time order."""
    traces: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in events.values():
        if not is_shadow(event):
            traces[event["traceId"]].append(event)
    for events_of_trace in traces.values():
        events_of_trace.sort(key=lambda e: (e["tsMs"], e["eventType"]))
    return dict(traces)


def arrival_records(lake: Path) -> list[dict[str, Any]]:
    return [orjson.loads(p.read_bytes()) for p in sorted((lake / "raw" / "_arrivals").rglob("*.json"))]
