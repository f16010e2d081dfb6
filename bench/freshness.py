"""Freshness: seconds from an accepted ingest POST to the trace being readable through the API.

    .venv/bin/python bench/freshness.py [--samples 5] [--idle-s 30] [--workdir bench/out] [--keep]

1. A fresh lake and Dagster home; a tenant, an agent (its ingest key) and a read key in the API database.
2. `clawtrace serve` and `dagster-daemon run` (the sensor `lakehouse_tick_on_arrival` and the schedules, as
   `make demo`'s `dagster dev` runs them) as child processes on 127.0.0.1.
3. A warm-up trace (the daemon's first evaluation, the first run's imports), then `--samples` traces, one
   after the other: each is a session of four events POSTed one per request the way the plugin sends them;
   the clock starts when the last POST is answered and stops when `GET /v1/traces/{id}` answers 200 with
   every event counted.
4. Idle: `--idle-s` seconds with no traffic; the runs the daemon launched in that window are counted (the
   sensor must launch none, so an idle lake costs no tick beyond the 3-minute schedule's).

Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from clawtrace_api.accounts import Accounts  # noqa: E402
from clawtrace_api.db.engine import make_engine  # noqa: E402
from clawtrace_pipelines.core.settings import Settings  # noqa: E402
from tests.api_server import free_port  # noqa: E402

BIN = Path(sys.executable).parent
POLL_S = 0.25
TIMEOUT_S = 240.0


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


def _send(client: httpx.Client, key: str, tenant: str, envelope: dict[str, Any]) -> None:
    headers = {
        "authorization": f"Bearer {key}",
        "x-clawtrace-event-id": envelope["event"]["eventId"],
        "x-clawtrace-tenant-id": tenant,
        "x-clawtrace-agent-id": envelope["agentId"],
    }
    for attempt in range(20):
        r = client.post("/v1/traces/events", json=envelope, headers=headers)
        if r.status_code < 300:
            return
        if r.status_code != 429 and r.status_code < 500:
            raise RuntimeError(f"ingest refused an event: {r.status_code} {r.text}")
        time.sleep(0.1 * (attempt + 1))
    raise RuntimeError("ingest kept failing")


def _one(client: httpx.Client, ingest_key: str, read_key: str, tenant: str, agent: str) -> float:
    trace_id = f"fresh-{uuid.uuid4().hex[:12]}"
    events = _events(agent, trace_id, int(time.time() * 1000))
    for envelope in events:
        _send(client, ingest_key, tenant, envelope)
    started = time.monotonic()
    while time.monotonic() - started < TIMEOUT_S:
        r = client.get(f"/v1/traces/{trace_id}", headers={"authorization": f"Bearer {read_key}"})
        if r.status_code == 200 and r.json()["meta"].get("event_count") == len(events):
            return time.monotonic() - started
        time.sleep(POLL_S)
    raise RuntimeError(f"trace {trace_id} not readable after {TIMEOUT_S:.0f}s")


def _runs(dagster_home: Path) -> int:
    import dagster as dg

    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        # Only the sensor's runs: the 3-minute schedule may fire inside the window too.
        return len(instance.get_run_records(filters=dg.RunsFilter(tags={"clawtrace/trigger": "arrival"})))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--workdir", default=str(ROOT / "bench" / "out"))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="freshness-", dir=args.workdir))
    lake, home = work / "lake", work / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster-instance.yaml", home / "dagster.yaml")
    settings = Settings(lake=str(lake))
    accounts = Accounts(make_engine(settings))
    tenant = accounts.create_tenant("bench")["tenant_id"]
    agent = accounts.create_agent(tenant, "bench-agent")
    read_key = accounts.create_key(tenant, "read")["key"]
    accounts.engine.dispose()

    env = {**os.environ, "CLAWTRACE_LAKE": str(lake), "DAGSTER_HOME": str(home), "DO_NOT_TRACK": "1"}
    port = free_port()
    procs = [
        subprocess.Popen(
            [str(BIN / "clawtrace"), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0) as client:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get("/healthz").status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError("the API did not start")
                time.sleep(0.1)
            warmup = _one(client, agent["api_key"], read_key, tenant, agent["agent_id"])
            print(f"warm-up trace readable after {warmup:.1f}s", flush=True)
            samples = []
            for i in range(args.samples):
                samples.append(_one(client, agent["api_key"], read_key, tenant, agent["agent_id"]))
                print(f"sample {i + 1}: {samples[-1]:.1f}s", flush=True)
            # Let the last tick finish before the idle window opens.
            time.sleep(10)
            before = _runs(home)
            time.sleep(args.idle_s)
            idle_runs = _runs(home) - before
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "bench": "freshness",
        "samples": args.samples,
        "warmup_s": round(warmup, 2),
        "freshness_median_s": round(statistics.median(samples), 2),
        "freshness_max_s": round(max(samples), 2),
        "freshness_s": [round(s, 2) for s in samples],
        "idle_window_s": args.idle_s,
        "idle_runs_launched": idle_runs,
        "sensor_interval_s": 5,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
