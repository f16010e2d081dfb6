"""`clawtrace demo` (what `make demo` runs): the whole product on one machine, through its front door.

1. The API (`clawtrace serve`) starts on 127.0.0.1.
2. A demo tenant with two agents exists in the API database (created on the first run; their ids are kept in
   `<lake>/state/demo.json`, never their keys). Each run makes fresh keys: an ingest key per agent (with the
   plugin's observe key) and a read key.
3. Simulated OpenClaw traffic for each agent goes through `POST /v1/traces/events`, the way the plugin sends
   it. The simulator is deterministic, so a second run sends the same event ids and the lake does not grow.
4. One tick (bronze, silver, graph) runs in-process.
5. It prints the keys, curl commands for the traces and for Tracy (with how to enable it), the web UI's
   address with the read key to sign in with, then serves
   the Dagster UI (`dagster dev`, whose daemon runs the arrival sensor and the schedules) until Ctrl-C, with the
   API beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx

from clawtrace_pipelines.core.settings import Settings

DEMO_STATE = "state/demo.json"
AGENT_NAMES = ("support-bot", "research-bot")


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the API exited at start; see its log above")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the API did not answer /healthz within 60 s")


def _wait_spool_moved(settings: Settings, timeout_s: float = 30.0) -> None:
    """Wait until the API has moved every accepted event from its spool into raw files (it does so each
    `ingest_spool_flush_ms`), so the tick below sees all of the traffic just sent."""
    from clawtrace_api.ingest.spool import SUFFIX, spool_dir

    folder = spool_dir(settings.lake_root)
    deadline = time.monotonic() + timeout_s
    while folder.is_dir() and any(folder.glob(f"*{SUFFIX}")) and time.monotonic() < deadline:
        time.sleep(0.1)


def _tracy_status(settings: Settings) -> str:
    if settings.anthropic_api_key is not None and settings.anthropic_api_key.get_secret_value():
        return f"enabled ({settings.tracy_model}); ask it:"
    return "not enabled (the curl below answers 503): export ANTHROPIC_API_KEY=... and run make demo again"


def _accounts(settings: Settings) -> dict[str, Any]:
    """The demo tenant and agents (made once) and this run's keys."""
    from clawtrace_api.accounts import Accounts
    from clawtrace_api.db.engine import make_engine
    from clawtrace_api.keys import ObserveKey
    from clawtrace_pipelines.core.lake.storage import LakeStorage

    storage = LakeStorage(settings)
    accounts = Accounts(make_engine(settings))
    state = storage.read_json(DEMO_STATE) if storage.exists(DEMO_STATE) else None
    if state is None or not accounts.tenant_exists(state["tenant_id"]):
        tenant = accounts.create_tenant("demo")["tenant_id"]
        agents = [accounts.create_agent(tenant, name)["agent_id"] for name in AGENT_NAMES]
        state = {"tenant_id": tenant, "agent_ids": agents}
        storage.write_json(DEMO_STATE, state)
    tenant = state["tenant_id"]
    ingest = []
    for agent_id in state["agent_ids"]:
        key = accounts.create_key(tenant, "ingest", agent_id=agent_id, name="demo ingest")["key"]
        ingest.append(ObserveKey(api_key=key, tenant_id=tenant, agent_id=agent_id).encode())
    read = accounts.create_key(tenant, "read,admin", name="demo read")["key"]
    accounts.engine.dispose()
    return {"tenant_id": tenant, "observe_keys": ingest, "read_key": read}


def run_demo(settings: Settings, *, api_port: int, ui_port: int, traces: int, hours: int, seed: int) -> None:
    env = {**os.environ, "CLAWTRACE_LAKE": settings.lake}
    api_url = f"http://127.0.0.1:{api_port}"
    api = subprocess.Popen([_bin("clawtrace"), "serve", "--port", str(api_port), "--log-level", "warning"], env=env)
    log_path = Path(settings.lake_path("state", "demo.log"))
    try:
        _wait_healthy(api_url, api)
        keys = _accounts(settings)
        for i, observe in enumerate(keys["observe_keys"]):
            sent_out = subprocess.run(
                [
                    _bin("clawtrace"),
                    "simulate",
                    "--ingest-url",
                    api_url,
                    "--observe-key",
                    observe,
                    "--traces",
                    str(traces),
                    "--hours",
                    str(hours),
                    "--seed",
                    str(seed + i),
                    "--batch",
                    "200",
                ],
                env=env,
                check=True,
                stdout=subprocess.PIPE,
            )
            sent = json.loads(sent_out.stdout)
            print(f"  sent agent {i + 1}'s traffic through {api_url}: {sent['accepted']} events accepted", flush=True)
        _wait_spool_moved(settings)
        print(f"  running one tick (its log: {log_path}) ...", flush=True)
        with log_path.open("ab") as log:
            subprocess.run([_bin("clawtrace"), "tick"], env=env, check=True, stdout=log, stderr=log)
        listing = httpx.get(
            f"{api_url}/v1/traces",
            params={"limit": 1, "sort": "cost"},
            headers={"authorization": f"Bearer {keys['read_key']}"},
            timeout=30.0,
        ).json()
        trace_id = listing["traces"][0]["trace_id"] if listing.get("traces") else "<trace id>"
        auth = f'-H "Authorization: Bearer {keys["read_key"]}"'
        print(
            f"""
  Lake:        {settings.lake_root}
  API:         {api_url}   (OpenAPI UI: {api_url}/docs)
  Dagster UI:  http://127.0.0.1:{ui_port}   (lineage raw_events -> events_all -> silver -> graph; Ctrl-C stops)
  Tenant:      {keys["tenant_id"]}
  Read key:    {keys["read_key"]}
  Observe key (paste into the ClawTrace plugin; it sends to {api_url}):
               {keys["observe_keys"][0]}

  curl {auth} "{api_url}/v1/traces?limit=5&sort=cost"
  curl {auth} "{api_url}/v1/traces/{trace_id}/tree"

  Tracy:       {_tracy_status(settings)}
  curl -N {auth} -H "Content-Type: application/json" "{api_url}/v1/tracy/chat" \\
       -d '{{"question": "Why did my most expensive run cost so much?"}}'
  MCP:         {api_url}/v1/tracy/mcp   (streamable HTTP; the same header)

  Web UI:      {api_url}/   (sign in by pasting the read key: {keys["read_key"]})
""",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            subprocess.run(
                [_bin("dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(ui_port)], env=env
            )
    finally:
        api.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            api.wait(timeout=20)
