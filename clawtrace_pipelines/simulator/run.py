"""`simulate`: generate traffic, write it to the raw zone, drop the arrival record and the manifest."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from random import Random

from tqdm import tqdm  # type: ignore[import-untyped]

from clawtrace_pipelines.core.errors import ConfigError
from clawtrace_pipelines.core.lake.storage import LakeStorage, write_arrival_record
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.simulator.agents import Agent, build_agents, seeded
from clawtrace_pipelines.simulator.config import ARRIVAL_MAX_FILES, SimulationConfig
from clawtrace_pipelines.simulator.ids import uuid4
from clawtrace_pipelines.simulator.manifest import Manifest
from clawtrace_pipelines.simulator.traffic import AgentTraffic, Delivery, TraceOutput
from clawtrace_pipelines.simulator.writer import RawWriter

logger = logging.getLogger(__name__)

_MAX_MISSES = 20
"""Late runs draw traces until the budget is met; give up after this many traces too big for what is left."""


def simulate(settings: Settings, config: SimulationConfig, *, now: datetime | None = None) -> Manifest:
    """Write simulated OpenClaw traffic into the lake's raw zone.

    Raw files depend only on `config`; `now` (default: the wall clock) names the arrival record alone.

    Args:
        settings: the lake to write to (local folder or s3://).
        config: what to generate; `config.late > 0` adds late traffic to the normal run of the same config.
        now: arrival time, for the arrival record's folder and contents.

    Returns:
        The manifest of this call, also stored at `state/simulator/manifest-<run label>.json`.

    Raises:
        ConfigError: `now` is not timezone-aware.
    """
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ConfigError("simulate(now=...) must be timezone-aware")
    storage = LakeStorage(settings)
    agents = build_agents(config.seed, config.tenants, config.agents_per_tenant)
    manifest = Manifest(
        run_label=config.run_label,
        seed=config.seed,
        layout=config.layout,
        start=config.start.astimezone(UTC).isoformat(),
        hours=config.hours,
        late=config.late,
        tenants=config.tenants,
        agents=len(agents),
        tenant_ids=list(dict.fromkeys(a.tenant_id for a in agents)),
        agent_ids=[a.agent_id for a in agents],
        agent_names={a.agent_id: a.name for a in agents},
    )
    with RawWriter(storage, config.layout, seeded(config.traffic, "batches", config.late)) as writer:
        if config.late:
            _write_late(config, agents, writer, manifest)
        else:
            _write_normal(config, agents, writer, manifest)
    files = writer.files()
    manifest.finish(writer.deliveries, len(files))
    # The record goes after the files: a tick that reads it must find every file it names.
    ids = seeded(config.traffic, "arrivals", config.late)
    for i in range(0, len(files), ARRIVAL_MAX_FILES):
        chunk = files[i : i + ARRIVAL_MAX_FILES]
        record = write_arrival_record(storage, chunk, writer="simulator", arrived=now, record_id=uuid4(ids))
        manifest.arrival_records.append(record)
    storage.write_json(manifest.path, manifest.to_dict())
    logger.info(
        "simulated %s: %d deliveries (%d expected events) in %d files",
        manifest.run_label,
        manifest.deliveries,
        manifest.expected_events,
        manifest.files,
    )
    return manifest


def normal_traffic(config: SimulationConfig, agent: Agent) -> AgentTraffic:
    """The traffic of one agent in the normal run of `config`."""
    rng = seeded(config.traffic, "traffic", *agent.position)
    return AgentTraffic(agent, rng, config.start_ms, config.end_ms, force_specials=True)


def _progress(config: SimulationConfig, total: int, unit: str) -> tqdm[None]:
    return tqdm(total=total, unit=unit, disable=not config.progress, file=sys.stderr, desc="simulate")


def _write(writer: RawWriter, manifest: Manifest, agent: Agent, trace: TraceOutput) -> None:
    manifest.count_trace(trace)
    writer.write(agent, trace.deliveries)
    if trace.retries:
        writer.write(agent, trace.retries, retry=True)


def _write_normal(config: SimulationConfig, agents: list[Agent], writer: RawWriter, manifest: Manifest) -> None:
    with _progress(config, len(agents) * config.traces, "trace") as bar:
        for agent in agents:
            for trace in normal_traffic(config, agent).traces(config.traces):
                _write(writer, manifest, agent, trace)
                bar.update()
            writer.flush()


def _write_late(config: SimulationConfig, agents: list[Agent], writer: RawWriter, manifest: Manifest) -> None:
    """New traces of offline agents (one per tenant), then re-deliveries of normal-run events, `late` in all."""
    rng = seeded(config.traffic, "late", config.late)
    by_tenant: dict[str, list[Agent]] = {}
    for agent in agents:
        by_tenant.setdefault(agent.tenant_id, []).append(agent)
    offline = [rng.choice(group) for group in by_tenant.values()]
    manifest.offline_agent_ids = [a.agent_id for a in offline]
    traffics = [
        AgentTraffic(
            agent,
            seeded(config.traffic, "late", config.late, "traffic", *agent.position),
            config.start_ms,
            config.end_ms,
            force_specials=False,
            arrival_ms=config.end_ms,
        )
        for agent in offline
    ]
    budget = config.late - config.late // 10
    written, misses, turn = 0, 0, 0
    with _progress(config, config.late, "delivery") as bar:
        while written < budget and misses < _MAX_MISSES:
            agent, traffic = offline[turn % len(offline)], traffics[turn % len(offline)]
            turn += 1
            trace = traffic.random_trace()
            size = len(trace.deliveries) + len(trace.retries)
            if written + size > budget:
                misses += 1
                continue
            _write(writer, manifest, agent, trace)
            written += size
            bar.update(size)
        for agent, delivery in _pick_redeliveries(config, offline, config.late - written, rng):
            writer.write(agent, [delivery], retry=True)
            manifest.count_redeliveries([delivery])
            bar.update()


def _pick_redeliveries(
    config: SimulationConfig, offline: list[Agent], count: int, rng: Random
) -> list[tuple[Agent, Delivery]]:
    """`count` events the normal run delivered, sampled uniformly (regenerated, not read back), re-sent when
    the agent came back online."""
    if count <= 0:
        return []
    sample: list[tuple[Agent, Delivery]] = []
    seen = 0
    for agent in offline:
        for trace in normal_traffic(config, agent).traces(config.traces):
            for delivery in trace.deliveries:
                if len(sample) < count:
                    sample.append((agent, delivery))
                else:
                    j = rng.randrange(seen + 1)
                    if j < count:
                        sample[j] = (agent, delivery)
                seen += 1
    if not sample:
        return []
    picked = [sample[i % len(sample)] for i in range(count)]
    return [(agent, d._replace(received_ms=config.end_ms + rng.randint(60_000, 10_800_000))) for agent, d in picked]
