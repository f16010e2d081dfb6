"""Freshness: seconds from a run's last accepted ingest POST to the trace being complete through the API, and what
an idle hour costs.

    .venv/bin/python bench/freshness.py [--samples 20] [--rate-s 6] [--idle-s 120] [--dagster dev|daemon]
                                        [--workdir bench/out] [--keep]

1. A fresh lake and Dagster home; a tenant, an agent (its ingest key) and a read key in the API database.
2. `clawtrace serve` and Dagster as child processes on 127.0.0.1: `dagster dev` as `make demo` runs it (`--dagster
   dev`, the default: the webserver, the daemon with the sensor `lakehouse_tick_on_arrival` and the schedules, and
   one code server they share), or `dagster-daemon run` alone (`--dagster daemon`: the daemon starts its own code
   server, and replaces it each time it reloads the workspace, every 60 s).
3. A warm-up trace (the daemon's first evaluation, the first run's imports), then a steady stream: a new run every
   `--rate-s` seconds whatever the pipeline is doing, `--samples` runs in all. Each is a session of four events
   POSTed one per request the way the plugin sends them (`--event-gap-s` apart). A run's clock starts when its last
   POST is answered and stops when `GET /v1/traces/{id}` answers 200 with every event counted. Runs that arrive
   while a tick works wait for the next one: the sensor coalesces them.
4. Idle: once no tick is queued or running, `--idle-s` seconds with no traffic. It counts the runs the sensor
   launched (it must launch none) and the CPU time of Dagster's process tree (its code servers and any run they
   start included), scaled to an hour, and by process. Then one `clawtrace tick` on the idle lake, as the 3-minute
   schedule runs 20 times an hour: its CPU time and the work its steps report. An idle hour = Dagster's idle CPU +
   20 idle ticks.

Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2 as httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import emit, serve_api  # noqa: E402
from clawtrace_api.accounts import Accounts  # noqa: E402
from clawtrace_api.db.engine import make_engine  # noqa: E402
from clawtrace_pipelines.core.settings import Settings  # noqa: E402
from clawtrace_pipelines.sensors import SENSOR_INTERVAL_SECONDS  # noqa: E402
from tests.api_server import free_port  # noqa: E402

BIN = Path(sys.executable).parent
POLL_S = 0.25
TIMEOUT_S = 240.0
SCHEDULED_TICKS_PER_HOUR = 20  # the `*/3 * * * *` safety net


def _events(agent_id: str, trace_id: str, now_ms: int) -> list[dict[str, Any]]:
    root, llm = f"{trace_id}-root", f"{trace_id}-llm"
    session = "agent:bench:main"
    usage = {"input": 1200, "output": 300, "cacheRead": 0, "cacheWrite": 0, "total": 1500}
    rows = [
        ("session_start", root, None, {"sessionKey": session, "agentName": "bench"}),
        ("llm_before_call", llm, root, {"sessionKey": session, "provider": "anthropic", "model": "claude-sonnet-4-5"}),
        ("llm_after_call", llm, root, {"provider": "anthropic", "model": "claude-sonnet-4-5", "usage": usage}),
        ("session_end", root, None, {"sessionKey": session, "messageCount": 2, "durationMs": 40}),
    ]
    return [
        {
            "schemaVersion": 1,
            "agentId": agent_id,
            "event": {
                "eventId": f"{trace_id}-{i}",
                "eventType": kind,
                "traceId": trace_id,
                "spanId": span,
                "parentSpanId": parent,
                "tsMs": now_ms + 10 * i,
                "payload": {**payload, "hook": kind, "pluginId": "clawtrace"},
            },
        }
        for i, (kind, span, parent, payload) in enumerate(rows)
    ]


class Agent:
    """The plugin's side: one agent's ingest key, and a read key to poll the API with."""

    def __init__(self, client: httpx.Client, tenant: str, agent: dict[str, str], read_key: str) -> None:
        self.client, self.tenant, self.agent, self.read_key = client, tenant, agent, read_key

    def send(self, envelope: dict[str, Any]) -> None:
        headers = {
            "authorization": f"Bearer {self.agent['api_key']}",
            "x-clawtrace-event-id": envelope["event"]["eventId"],
            "x-clawtrace-tenant-id": self.tenant,
            "x-clawtrace-agent-id": envelope["agentId"],
        }
        for attempt in range(20):
            r = self.client.post("/v1/traces/events", json=envelope, headers=headers)
            if r.status_code < 300:
                return
            if r.status_code != 429 and r.status_code < 500:
                raise RuntimeError(f"ingest refused an event: {r.status_code} {r.text}")
            time.sleep(0.1 * (attempt + 1))
        raise RuntimeError("ingest kept failing")

    def complete(self, trace_id: str, events: int) -> bool:
        r = self.client.get(f"/v1/traces/{trace_id}", headers={"authorization": f"Bearer {self.read_key}"})
        return r.status_code == 200 and r.json()["meta"].get("event_count") == events


def stream(agent: Agent, samples: int, rate_s: float, gap_s: float) -> list[float]:
    """`samples` runs, one starting every `rate_s` seconds; returns each run's seconds from its last answered POST
    to complete through the API, in the order the runs were sent."""
    started_at = time.monotonic()
    pending: dict[str, tuple[int, float]] = {}  # trace id -> (sample index, clock start)
    results: list[float | None] = [None] * samples
    queue: list[tuple[float, str, dict[str, Any], int, bool]] = []  # (due, trace id, envelope, index, last)
    for i in range(samples):
        trace_id = f"fresh-{uuid.uuid4().hex[:12]}"
        events = _events(agent.agent["agent_id"], trace_id, int(time.time() * 1000 + 1000 * i * rate_s))
        for k, envelope in enumerate(events):
            queue.append((started_at + i * rate_s + k * gap_s, trace_id, envelope, i, k == len(events) - 1))
    queue.sort(key=lambda item: item[0])
    deadline = started_at + samples * rate_s + TIMEOUT_S
    next_poll = 0.0
    while queue or pending:
        now = time.monotonic()
        if now > deadline:
            raise RuntimeError(f"{len(pending)} run(s) not complete after {TIMEOUT_S:.0f}s: {sorted(pending)}")
        while queue and queue[0][0] <= now:
            _, trace_id, envelope, i, last = queue.pop(0)
            agent.send(envelope)
            if last:
                pending[trace_id] = (i, time.monotonic())
        if pending and now >= next_poll:
            for trace_id, (i, clock) in list(pending.items()):
                if agent.complete(trace_id, 4):
                    results[i] = time.monotonic() - clock
                    del pending[trace_id]
                    print(f"run {i + 1}: complete {results[i]:.1f}s after its last event", flush=True)
            next_poll = time.monotonic() + POLL_S
        waits = [queue[0][0] - time.monotonic()] if queue else []
        time.sleep(max(0.0, min([POLL_S, *waits])))
    return [r for r in results if r is not None]


def _tree_cpu_s(root: psutil.Process) -> dict[int, tuple[str, float]]:
    """CPU seconds of a process and each live descendant, with the children each of them has reaped, by pid (with
    a label from its command line: the daemon, a code server, a run worker)."""
    cpu: dict[int, tuple[str, float]] = {}
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = proc.cpu_times()
            words = [Path(w).name for w in proc.cmdline()[1:] if not w.startswith("-")][:3]
            cpu[proc.pid] = (" ".join(words), t.user + t.system + t.children_user + t.children_system)
    return cpu


def _cpu_spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds each process of the tree spent between two readings, by "label (pid)"."""
    return {
        f"{label} ({pid})": round(cpu - before.get(pid, (label, 0.0))[1], 2)
        for pid, (label, cpu) in after.items()
        if cpu - before.get(pid, (label, 0.0))[1] > 0.005
    }


def _runs(dagster_home: Path, **tags: str) -> list[Any]:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        return list(instance.get_run_records(filters=dg.RunsFilter(job_name="lakehouse_tick", tags=tags)))


def _wait_idle(dagster_home: Path, timeout_s: float = 120.0) -> None:
    """Until no tick is queued or running."""
    deadline = time.monotonic() + timeout_s
    while any(not r.dagster_run.is_finished for r in _runs(dagster_home)):
        if time.monotonic() > deadline:
            raise RuntimeError("a tick is still running")
        time.sleep(1)


def _between_schedule_ticks(dagster_home: Path, window_s: float) -> None:
    """Return when `window_s` seconds fit before the 3-minute schedule's next fire, waiting for its tick to finish
    when they do not: the idle window measures the sensor and the daemon, not a scheduled tick."""
    period = 180.0
    next_fire = (time.time() // period + 1) * period
    if time.time() + window_s + 5 < next_fire:
        return
    deadline = next_fire + 120
    while time.time() < deadline:
        scheduled = [
            r
            for r in _runs(dagster_home)
            if "dagster/schedule_name" in r.dagster_run.tags and r.create_timestamp.timestamp() >= next_fire - 1
        ]
        if scheduled and all(r.dagster_run.is_finished for r in scheduled):
            return
        time.sleep(1)
    raise RuntimeError("the scheduled tick did not finish")


def idle_tick(env: dict[str, str]) -> dict[str, float]:
    """One `clawtrace tick` with nothing new: its wall and CPU time, and the work its steps report."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([str(BIN / "clawtrace"), "tick"], env=env, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"idle tick failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout[proc.stdout.index("{") :])
    work = sum(float(summary.get(asset, {}).get("seconds", 0)) for asset in ("events_all", "pg_traces"))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "work_s": work}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=20, help="Runs in the stream")
    parser.add_argument("--rate-s", type=float, default=6.0, help="Seconds between the starts of two runs")
    parser.add_argument("--event-gap-s", type=float, default=0.2, help="Seconds between a run's POSTs")
    parser.add_argument(
        "--idle-s",
        type=float,
        default=120.0,
        help="The idle window (at most 170 s: it fits between two scheduled ticks)",
    )
    parser.add_argument(
        "--dagster",
        choices=("dev", "daemon"),
        default="dev",
        help="`dagster dev` as `make demo` runs it, or `dagster-daemon run` alone",
    )
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if not 0 < args.idle_s <= 170:
        parser.error("--idle-s must be in (0, 170]: the window fits between two of the schedule's ticks")

    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="freshness-", dir=args.workdir))
    lake, home = work / "lake", work / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster-instance.yaml", home / "dagster.yaml")
    # The shipped instance finds its storage through DAGSTER_HOME, here as in the daemon and its runs.
    os.environ["DAGSTER_HOME"] = str(home)
    settings = Settings(lake=str(lake))
    accounts = Accounts(make_engine(settings))
    tenant = accounts.create_tenant("bench")["tenant_id"]
    agent_row = accounts.create_agent(tenant, "bench-agent")
    read_key = accounts.create_key(tenant, "read")["key"]
    accounts.engine.dispose()

    env = {**os.environ, "CLAWTRACE_LAKE": str(lake), "DAGSTER_HOME": str(home), "DO_NOT_TRACK": "1"}
    port = free_port()
    workspace = str(ROOT / "workspace.yaml")
    if args.dagster == "dev":
        command = [str(BIN / "dagster"), "dev", "-w", workspace, "-h", "127.0.0.1", "-p", str(free_port())]
    else:
        command = [str(BIN / "dagster-daemon"), "run", "-w", workspace]
    daemon = subprocess.Popen(
        command,
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with serve_api(env, port), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
            agent = Agent(client, tenant, agent_row, read_key)
            warmup = stream(agent, 1, 0.0, args.event_gap_s)[0]
            print(f"warm-up run complete after {warmup:.1f}s", flush=True)
            load_before = os.getloadavg()[0]
            samples = stream(agent, args.samples, args.rate_s, args.event_gap_s)
            load_after = os.getloadavg()[0]
            ticks = _runs(home, **{"clawtrace/trigger": "arrival"})
            _wait_idle(home)
            _between_schedule_ticks(home, args.idle_s)
            tree = psutil.Process(daemon.pid)
            sensor_before = len(_runs(home, **{"clawtrace/trigger": "arrival"}))
            runs_before, cpu_before, clock = len(_runs(home)), _tree_cpu_s(tree), time.monotonic()
            time.sleep(args.idle_s)
            idle_by_process = _cpu_spent(cpu_before, _tree_cpu_s(tree))
            idle_cpu = sum(idle_by_process.values())
            idle_elapsed = time.monotonic() - clock
            idle_runs = len(_runs(home)) - runs_before
            idle_sensor_runs = len(_runs(home, **{"clawtrace/trigger": "arrival"})) - sensor_before
    finally:
        daemon.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=30)
    try:
        _wait_idle(home)
        tick = idle_tick(env)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    daemon_hour = idle_cpu / idle_elapsed * 3600
    emit(
        {
            "bench": "freshness",
            "samples": len(samples),
            "rate_s": args.rate_s,
            "dagster": args.dagster,
            "load_avg_before_after": [round(load_before, 1), round(load_after, 1)],
            "warmup_s": round(warmup, 2),
            "freshness_p50_s": round(statistics.median(samples), 2),
            "freshness_p95_s": round(_pct(samples, 0.95), 2),
            "freshness_max_s": round(max(samples), 2),
            "freshness_s": [round(s, 2) for s in samples],
            "arrival_ticks": len(ticks),
            "sensor_interval_s": SENSOR_INTERVAL_SECONDS,
            "idle_window_s": round(idle_elapsed, 1),
            "idle_sensor_runs": idle_sensor_runs,
            "idle_runs_in_window": idle_runs,
            "idle_daemon_cpu_s": round(idle_cpu, 2),
            "idle_daemon_cpu_s_per_hour": round(daemon_hour, 1),
            "idle_daemon_cpu_s_by_process": idle_by_process,
            "idle_tick_wall_s": round(tick["wall_s"], 2),
            "idle_tick_cpu_s": round(tick["cpu_s"], 2),
            "idle_tick_work_s": round(tick["work_s"], 3),
            "idle_hour_cpu_s": round(daemon_hour + SCHEDULED_TICKS_PER_HOUR * tick["cpu_s"], 1),
        }
    )


if __name__ == "__main__":
    main()
