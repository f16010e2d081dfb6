"""16 clients posting overlapping batches at once, retrying as the plugin does: after a tick every accepted
event is in `events_all` exactly once, no rejected one is, and every raw file is whole."""

from __future__ import annotations

import random
import threading
import time

import httpx2 as httpx
import orjson

from clawtrace_api.accounts import Accounts
from clawtrace_pipelines.core.settings import Settings
from tests.api.ingest_factories import envelope, raw_event_ids, raw_files, tick_event_ids
from tests.api_server import serve_app

CLIENTS = 16
BATCHES_PER_CLIENT = 12
MAX_ATTEMPTS = 50


def test_sixteen_clients_with_retries_land_every_accepted_event_once(api_settings: Settings, accounts: Accounts):
    tenant = accounts.create_tenant("busy")["tenant_id"]
    agents = [accounts.create_agent(tenant, f"agent-{i}") for i in range(4)]
    # A rate limit low enough that clients meet 429s and retry, as the plugin does.
    settings = api_settings.model_copy(update={"ingest_rate_limit_per_s": 400.0, "ingest_group_commit_ms": 2.0})
    # A shared pool of events per agent: clients draw overlapping samples, so the same event arrives many times.
    pools = {a["agent_id"]: [envelope(a["agent_id"], trace_id=f"t-{i % 7}") for i in range(300)] for a in agents}
    accepted: set[str] = set()
    rejected: set[str] = set()
    statuses: list[int] = []
    lock = threading.Lock()
    failures: list[str] = []

    def client_loop(n: int, url: str) -> None:
        rng = random.Random(n)
        agent = agents[n % len(agents)]
        pool = pools[agent["agent_id"]]
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {agent['api_key']}"}, timeout=30) as c:
            for b in range(BATCHES_PER_CLIENT):
                envs = rng.sample(pool, rng.randint(5, 60))
                bad = envelope(agent["agent_id"], f"bad-{n}-{b}", eventType="not_a_type")
                envs.insert(rng.randrange(len(envs) + 1), bad)
                ndjson = rng.random() < 0.5
                body = b"".join(orjson.dumps(e) + b"\n" for e in envs) if ndjson else orjson.dumps(envs)
                ctype = "application/x-ndjson" if ndjson else "application/json"
                for attempt in range(MAX_ATTEMPTS):
                    try:
                        r = c.post("/v1/traces/events/batch", content=body, headers={"content-type": ctype})
                    except httpx.HTTPError:
                        time.sleep(0.01 * (attempt + 1))
                        continue
                    with lock:
                        statuses.append(r.status_code)
                    if r.status_code == 429 or r.status_code >= 500:
                        time.sleep(min(float(r.headers.get("retry-after", "0.05")), 0.2) * rng.random())
                        continue
                    if r.status_code != 202:
                        failures.append(r.text)
                        return
                    result = r.json()
                    with lock:
                        accepted.update(result["accepted"])
                        rejected.update(x["event_id"] for x in result["rejected"])
                    break
                else:
                    failures.append(f"client {n} batch {b}: no success in {MAX_ATTEMPTS} attempts")

    with serve_app(settings) as api:
        threads = [threading.Thread(target=client_loop, args=(n, api.url)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        stats = api.app.state.services.extras["ingest"].writer.stats

    assert not failures, failures[:3]
    assert 429 in statuses, "the test is meant to exercise retries"
    assert len(rejected) == CLIENTS * BATCHES_PER_CLIENT and not accepted & rejected
    # Every raw file parses line by line (none half written) and holds no temporary leftovers.
    in_raw = raw_event_ids(settings)
    assert not [p for p in raw_files(settings) if p.name.startswith(".")]
    assert set(in_raw) == accepted
    rows = tick_event_ids(settings)
    assert set(rows) == accepted
    assert max(rows.values()) == 1
    # Group commit did group: fewer durable writes than successful requests.
    assert stats.groups < stats.requests
