"""Shared helpers of the benchmarks: sized simulated lakes, child-process measurement, JSON output."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.simulator import SimulationConfig, simulate

START = datetime(2026, 11, 1, tzinfo=UTC)
TENANTS, AGENTS = 4, 5


def simulate_events(lake: str, events: int, layout: str, *, seed: int = 11, hours: int = 48) -> dict[str, Any]:
    """Simulate about `events` deliveries into `lake` (traces per agent sized from a small probe)."""
    with tempfile.TemporaryDirectory(dir=str(Path(lake).parent)) as probe_dir:
        probe = simulate(
            Settings(lake=probe_dir),
            SimulationConfig(tenants=TENANTS, agents_per_tenant=AGENTS, traces=3, seed=seed, start=START, hours=hours),
        )
    per_trace = probe.deliveries / (TENANTS * AGENTS * 3)
    traces = max(1, math.ceil(events / (TENANTS * AGENTS * per_trace)))
    config = SimulationConfig(
        tenants=TENANTS,
        agents_per_tenant=AGENTS,
        traces=traces,
        seed=seed,
        start=START,
        hours=hours,
        layout=layout,
        progress=False,  # type: ignore[arg-type]
    )
    return simulate(Settings(lake=lake), config).to_dict()


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM).

    Not `getrusage().ru_maxrss`: Linux carries the parent's peak across fork and exec into it, so a child
    spawned by a big parent would report the parent's memory.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _child(fn: Callable[..., dict[str, Any]], args: tuple, queue: mp.Queue) -> None:
    out = fn(*args)
    out["peak_rss_mb"] = peak_rss_mb()
    queue.put(out)


def in_child(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run `fn(*args)` in a fresh process, so its peak memory is its own; adds `peak_rss_mb`."""
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def emit(figures: dict[str, Any]) -> None:
    """Print the figures as one JSON object on the last line (the benchmarks' common contract)."""
    print(json.dumps(figures, sort_keys=False))


def lake_dir(root: str, name: str) -> str:
    path = Path(root) / name
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


# --- Helpers of bench/tick.py: lakes placed anywhere in time, and new traffic from the same agents. ---

EVENTS_PER_HOUR = 100_000 / 48
"""The constant traffic rate of bench/tick.py's lakes: a 10x bigger lake covers 10x more hours."""


def events_per_trace(lake_parent: str, *, seed: int = 11) -> float:
    """Deliveries per trace of the simulator's traffic (a small probe lake, deleted afterwards)."""
    with tempfile.TemporaryDirectory(dir=lake_parent) as probe_dir:
        probe = simulate(
            Settings(lake=probe_dir),
            SimulationConfig(tenants=TENANTS, agents_per_tenant=AGENTS, traces=3, seed=seed, start=START, hours=48),
        )
    return probe.deliveries / (TENANTS * AGENTS * 3)


def traces_per_agent(events: int, per_trace: float) -> int:
    return max(1, math.ceil(events / (TENANTS * AGENTS * per_trace)))


def simulate_lake(
    lake: str,
    events: int,
    *,
    start: datetime,
    hours: int,
    now: datetime,
    per_trace: float,
    seed: int = 11,
    layout: str = "batched",
    late: int = 0,
) -> dict[str, Any]:
    """The normal run (or, with `late`, the late run) of about `events` deliveries in [start, start + hours),
    with its arrival record dated `now`. The same arguments give the same config, so a late run matches it."""
    config = SimulationConfig(
        tenants=TENANTS,
        agents_per_tenant=AGENTS,
        traces=traces_per_agent(events, per_trace),
        seed=seed,
        start=start,
        hours=hours,
        layout=layout,  # type: ignore[arg-type]
        late=late,
    )
    return simulate(Settings(lake=lake), config, now=now).to_dict()


def simulate_traffic(
    lake: str,
    events: int,
    *,
    start: datetime,
    hours: int,
    now: datetime,
    per_trace: float,
    traffic_seed: int,
    seed: int = 11,
    layout: str = "batched",
) -> dict[str, Any]:
    """About `events` more deliveries of normal traffic in [start, start + hours) from the same tenants and
    agents as `simulate_lake(seed=seed)` (agents come from `seed`), new traces drawn from `traffic_seed`, with
    an arrival record dated `now` (as `simulate` writes it)."""
    from clawtrace_pipelines.core.lake.storage import LakeStorage, write_arrival_record
    from clawtrace_pipelines.simulator.agents import build_agents, seeded
    from clawtrace_pipelines.simulator.config import ARRIVAL_MAX_FILES
    from clawtrace_pipelines.simulator.ids import uuid4
    from clawtrace_pipelines.simulator.manifest import Manifest
    from clawtrace_pipelines.simulator.traffic import AgentTraffic
    from clawtrace_pipelines.simulator.writer import RawWriter

    config = SimulationConfig(
        tenants=TENANTS,
        agents_per_tenant=AGENTS,
        traces=traces_per_agent(events, per_trace),
        seed=seed,
        start=start,
        hours=hours,
        layout=layout,  # type: ignore[arg-type]
    )
    storage = LakeStorage(Settings(lake=lake))
    agents = build_agents(seed, TENANTS, AGENTS)
    manifest = Manifest(
        run_label=f"seed-{seed}-traffic-{traffic_seed}",
        seed=seed,
        layout=layout,
        start=start.isoformat(),
        hours=hours,
        late=0,
        tenants=TENANTS,
        agents=len(agents),
    )
    with RawWriter(storage, config.layout, seeded(traffic_seed, "batches")) as writer:
        for agent in agents:
            rng = seeded(traffic_seed, "traffic", *agent.position)
            traffic = AgentTraffic(agent, rng, config.start_ms, config.end_ms, force_specials=False)
            for trace in traffic.traces(config.traces):
                manifest.count_trace(trace)
                writer.write(agent, trace.deliveries)
                if trace.retries:
                    writer.write(agent, trace.retries, retry=True)
            writer.flush()
    files = writer.files()
    manifest.finish(writer.deliveries, len(files))
    ids = seeded(traffic_seed, "arrivals")
    for i in range(0, len(files), ARRIVAL_MAX_FILES):
        manifest.arrival_records.append(
            write_arrival_record(
                storage, files[i : i + ARRIVAL_MAX_FILES], writer="simulator", arrived=now, record_id=uuid4(ids)
            )
        )
    return manifest.to_dict()


# --- Helpers of bench/graph.py. ---


def in_child_checked(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """`in_child`, but a child that dies without a result (killed, out of memory, a crash in native code)
    raises instead of leaving the parent blocked on the queue forever."""
    import queue as queue_module

    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=2)
            break
        except queue_module.Empty:
            if not proc.is_alive():
                try:
                    result = queue.get(timeout=5)  # a result sent just before exiting
                    break
                except queue_module.Empty:
                    raise RuntimeError(
                        f"{getattr(fn, '__name__', fn)} child died without a result (exit code {proc.exitcode})"
                    ) from None
    proc.join()
    return result


@contextmanager
def serve_api(env: dict[str, str], port: int, timeout_s: float = 60.0) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m clawtrace_api.serve` (one uvicorn worker, what `clawtrace serve` runs) on 127.0.0.1:`port`
    with `env`, once it answers /healthz; terminated when the block ends."""
    import httpx2 as httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "clawtrace_api.serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the API did not start")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
