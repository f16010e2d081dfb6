"""What a simulation run generates: `SimulationConfig` and the constants that shape the traffic."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from clawtrace_pipelines.core.errors import ConfigError

Layout = Literal["per-event", "batched"]
LAYOUTS: tuple[str, ...] = ("per-event", "batched")

BATCH_MAX_LINES = 5_000
"""Lines per `batch-<uuid>.ndjson` at most: big enough for throughput, small enough to re-read cheaply."""

ARRIVAL_MAX_FILES = 50_000
"""Files named per arrival record; a huge per-event run writes a few records instead of one giant one."""

HOUR_MS = 3_600_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SimulationConfig:
    """One simulator run.

    Args:
        start: UTC start of the simulated traffic (timezone-aware).
        tenants: tenants to simulate.
        agents_per_tenant: agents of each tenant.
        traces: traces (agent loops) per agent.
        seed: the only source of randomness; the same config writes byte-identical raw files.
        hours: traffic is spread over `[start, start + hours)`.
        layout: `per-event` (one `event-<eventId>.json` per delivery, like the original ingest service)
            or `batched` (`batch-<uuid>.ndjson`).
        late: 0 for a normal run; N > 0 writes N late deliveries into the hours of the normal run with the
            same seed, start, hours, tenants and agents (new traces of offline agents plus re-deliveries).
        traffic_seed: draws the traffic (traces, files, arrival records) apart from `seed`, which still
            makes the tenants and agents: more traffic from the same agents, as a later day brings.
        progress: show a tqdm progress bar on stderr.
    """

    start: datetime
    tenants: int = 2
    agents_per_tenant: int = 2
    traces: int = 10
    seed: int = 7
    hours: int = 24
    layout: Layout = "batched"
    late: int = 0
    traffic_seed: int | None = None
    progress: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ConfigError("SimulationConfig.start must be timezone-aware (UTC)")
        if self.tenants < 1 or self.agents_per_tenant < 1:
            raise ConfigError("a simulation needs at least one tenant and one agent per tenant")
        if self.traces < 0 or self.late < 0:
            raise ConfigError("traces and late must not be negative")
        if self.hours < 1:
            raise ConfigError("hours must be at least 1")
        if self.layout not in LAYOUTS:
            raise ConfigError(f"layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")

    @property
    def start_ms(self) -> int:
        """Start of the window, epoch milliseconds."""
        return (self.start.astimezone(UTC) - _EPOCH) // timedelta(milliseconds=1)

    @property
    def end_ms(self) -> int:
        """End (exclusive) of the window, epoch milliseconds."""
        return self.start_ms + self.hours * HOUR_MS

    @property
    def run_label(self) -> str:
        """Names the manifest: the same seed and late count always land on the same file."""
        traffic = f"-traffic-{self.traffic_seed}" if self.traffic_seed is not None else ""
        return f"seed-{self.seed}{traffic}" + (f"-late-{self.late}" if self.late else "")

    @property
    def traffic(self) -> int:
        """The seed the traffic is drawn from."""
        return self.seed if self.traffic_seed is None else self.traffic_seed
