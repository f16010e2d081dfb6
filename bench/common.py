"""Shared helpers of the benchmarks: sized simulated lakes, child-process measurement, JSON output."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import resource
import tempfile
from collections.abc import Callable
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
