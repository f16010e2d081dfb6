"""Ingest throughput: 16 concurrent clients against `clawtrace serve` (a child process) on 127.0.0.1.

Phases, each `--seconds` long:
- single: the plugin's way, one envelope per `POST /v1/traces/events` with its headers;
- batch: `--batch` envelopes per `POST /v1/traces/events/batch` (NDJSON);
- limit: the same number of threads writing and fsyncing NDJSON files straight into the raw zone
  (one event per file for the single-event limit, `--batch` per file for the batch limit).
Every API write is durable before its answer (fsync'd files and arrival record). Traffic is the simulator's,
one agent per client. Prints one JSON object on its last line.

    .venv/bin/python bench/api_ingest.py [--seconds 8] [--workers 1] [--batch 500]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from random import Random
from typing import Any

import httpx2 as httpx
import psutil

from clawtrace_api.accounts import Accounts
from clawtrace_api.db.engine import make_engine
from clawtrace_api.ingest.durable import DurableStorage
from clawtrace_pipelines.core.lake.storage import batch_file_name
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.simulator.http_sender import (
    BATCH_PATH,
    SINGLE_PATH,
    Envelope,
    IngestClient,
    plugin_envelopes,
)

CLIENTS = 16
START = datetime(2026, 11, 1, tzinfo=UTC)


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)


def _run_clients(seconds: float, work: list[Any]) -> dict[str, Any]:
    """Run one callable per client for `seconds`; each returns (events done, latency) per call."""
    stop = time.perf_counter() + seconds
    events = [0] * len(work)
    latencies: list[list[float]] = [[] for _ in work]
    errors: list[str] = []

    def loop(i: int) -> None:
        step = work[i]
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                events[i] += step()
            except Exception as exc:  # noqa: BLE001 - a benchmark reports errors, it does not hide them
                errors.append(repr(exc))
                return
            latencies[i].append(time.perf_counter() - t0)

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    flat = [x for ls in latencies for x in ls]
    return {
        "events": sum(events),
        "requests": len(flat),
        "seconds": round(elapsed, 2),
        "events_per_s": round(sum(events) / elapsed),
        "p50_ms": _percentile(flat, 0.5),
        "p99_ms": _percentile(flat, 0.99),
        "errors": errors[:3],
    }


def _api_step(url: str, agent: dict[str, Any], envs: list[Envelope], batch: int) -> Any:
    client = IngestClient(url, agent["api_key"])
    rng = Random(agent["agent_id"])
    state = {"at": rng.randrange(len(envs))}

    def step() -> int:
        at = state["at"]
        if batch:
            chunk = [envs[(at + k) % len(envs)] for k in range(batch)]
            body = b"\n".join(e.body for e in chunk) + b"\n"
            headers = {"content-type": "application/x-ndjson", "x-clawtrace-tenant-id": agent["tenant_id"]}
            path = BATCH_PATH
        else:
            chunk = [envs[at % len(envs)]]
            body = chunk[0].body
            headers = {
                "content-type": "application/json",
                "x-clawtrace-event-id": chunk[0].event_id,
                "x-clawtrace-tenant-id": agent["tenant_id"],
                "x-clawtrace-agent-id": agent["agent_id"],
            }
            path = SINGLE_PATH
        state["at"] = at + len(chunk)
        status, _, data = client.post(path, body, headers)
        if status != 202:
            raise RuntimeError(f"{status}: {data[:200]!r}")
        return len(chunk)

    return step


def _limit_step(storage: DurableStorage, agent: dict[str, Any], envs: list[Envelope], batch: int) -> Any:
    folder = f"raw/v1/tenant={agent['tenant_id']}/agent={agent['agent_id']}/dt=2026-11-01/hr=00"
    state = {"at": 0}

    def step() -> int:
        at = state["at"]
        n = max(batch, 1)
        lines = [envs[(at + k) % len(envs)].body for k in range(n)]
        state["at"] = at + n
        storage.write_bytes(f"{folder}/{batch_file_name()}", b"\n".join(lines) + b"\n")
        return n

    return step


def _serve(settings: Settings, workers: int, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CLAWTRACE_LAKE": settings.lake, "CLAWTRACE_DB": settings.db or ""}
    cmd = [sys.executable, "-m", "clawtrace_api.serve", "--port", str(port), "--workers", str(workers)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the API did not start")


def _cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """CPU time of the server and its workers so far."""
    root = psutil.Process(proc.pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


def _with_cpu(proc: subprocess.Popen[bytes], run: Any) -> dict[str, Any]:
    """Run a phase and add the server's CPU per request: a figure less bent by a busy machine than events/s."""
    before = _cpu_seconds(proc)
    out: dict[str, Any] = run()
    spent = _cpu_seconds(proc) - before
    out["server_cpu_s"] = round(spent, 2)
    out["server_cpu_ms_per_request"] = round(spent * 1000 / max(out["requests"], 1), 3)
    out["server_cpu_us_per_event"] = round(spent * 1e6 / max(out["events"], 1), 1)
    return out


def _raw_lines(lake: Path) -> int:
    return sum(p.read_bytes().count(b"\n") for p in (lake / "raw" / "v1").rglob("*.ndjson"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        root = Path(tmp)
        settings = Settings(lake=str(root / "api-lake"), db=f"sqlite:///{root}/api.db")
        engine = make_engine(settings)
        accounts = Accounts(engine)
        tenant = accounts.create_tenant("bench")["tenant_id"]
        agents = [accounts.create_agent(tenant, f"agent-{i}") for i in range(args.clients)]
        engine.dispose()
        traffic = {
            a["agent_id"]: list(plugin_envelopes(tenant, a["agent_id"], traces=6, seed=i, start=START, hours=24))
            for i, a in enumerate(agents)
        }
        sizes = [len(e.body) for envs in traffic.values() for e in envs]

        proc = _serve(settings, args.workers, args.port)
        url = f"http://127.0.0.1:{args.port}"
        try:
            _run_clients(1.0, [_api_step(url, a, traffic[a["agent_id"]], 0) for a in agents])  # warm-up
            singles = [_api_step(url, a, traffic[a["agent_id"]], 0) for a in agents]
            single = _with_cpu(proc, lambda: _run_clients(args.seconds, singles))
            batches = [_api_step(url, a, traffic[a["agent_id"]], args.batch) for a in agents]
            batch = _with_cpu(proc, lambda: _run_clients(args.seconds, batches))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        written = _raw_lines(root / "api-lake")

        direct = DurableStorage(Settings(lake=str(root / "direct-lake")))
        limit_single = _run_clients(args.seconds, [_limit_step(direct, a, traffic[a["agent_id"]], 1) for a in agents])
        limit_batch = _run_clients(
            args.seconds, [_limit_step(direct, a, traffic[a["agent_id"]], args.batch) for a in agents]
        )

    out = {
        "bench": "api_ingest",
        "clients": args.clients,
        "workers": args.workers,
        "cores": os.cpu_count(),
        "batch_size": args.batch,
        "envelope_bytes_avg": round(sum(sizes) / len(sizes)),
        "group_commit_ms": settings.ingest_group_commit_ms,
        "single": single,
        "batch": batch,
        "limit_single": limit_single,
        "limit_batch": limit_batch,
        "single_events_per_s": single["events_per_s"],
        "batch_events_per_s": batch["events_per_s"],
        "single_vs_limit": round(single["events_per_s"] / max(limit_single["events_per_s"], 1), 2),
        "batch_vs_limit": round(batch["events_per_s"] / max(limit_batch["events_per_s"], 1), 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "raw_lines_written": written,
        # Every 202 was durable before it was sent: the raw zone holds at least the events the clients counted.
        "durable_check": written >= single["events"] + batch["events"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
