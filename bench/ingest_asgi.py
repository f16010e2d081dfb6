"""The ingest handler's own cost: the plugin's one-event request driven straight into the ASGI app, no HTTP.

    .venv/bin/python bench/ingest_asgi.py [--clients 16] [--requests 200]

`--clients` coroutines each send `--requests` one-event POSTs (`/v1/traces/events`, the fast path) to the app
built by `create_app`, on a fresh lake, with the real group-commit writer (files fsync'd). CPU time covers every
thread of the process (the writer's fsync threads too). Next to `bench/api_ingest.py`, the difference is what
uvicorn, the sockets and the clients cost. Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clawtrace_api.main import create_app  # noqa: E402
from clawtrace_pipelines.core.settings import Settings  # noqa: E402
from tests.api.ingest_factories import envelope, plugin_headers  # noqa: E402


async def _post(app: Any, key: str, tenant: str, agent: str, event_id: str) -> None:
    env = envelope(agent, event_id)
    body = orjson.dumps(env)
    headers = [(b"authorization", f"Bearer {key}".encode()), (b"content-type", b"application/json")]
    headers += [(b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in plugin_headers(env, tenant).items()]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/traces/events",
        "raw_path": b"/v1/traces/events",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "app": app,
    }
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [202]:
        raise RuntimeError(f"ingest answered {status}")


async def _run(clients: int, requests: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-asgi-"))
    app = create_app(Settings(lake=str(work / "lake"), db=f"sqlite:///{work}/api.db"))
    accounts = app.state.services.accounts
    tenant = accounts.create_tenant("bench")["tenant_id"]
    agent = accounts.create_agent(tenant, "bench")

    async def client(k: int, n: int, tag: str) -> None:
        for j in range(n):
            await _post(app, agent["api_key"], tenant, agent["agent_id"], f"{tag}-{k}-{j}")

    await asyncio.gather(*(client(k, 20, "warm") for k in range(clients)))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(client(k, requests, "timed") for k in range(clients)))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    total = clients * requests
    return {
        "bench": "ingest_asgi",
        "clients": clients,
        "requests": total,
        "cpu_us_per_request": round(cpu / total * 1e6, 1),
        "requests_per_s": round(total / wall),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_run(args.clients, args.requests))))


if __name__ == "__main__":
    main()
