"""A crash between the durable write and the answer: the collector never hears back and retries; after a restart
and a tick, `events_all` holds every event once."""

from __future__ import annotations

import threading
import time

import httpx2 as httpx

from clawtrace_api.accounts import Accounts
from clawtrace_pipelines.core.settings import Settings
from tests.api.ingest_factories import envelope, plugin_headers, raw_event_ids, tick_event_ids
from tests.api_server import ApiProcess


def test_a_request_retried_after_a_crash_leaves_no_duplicate(api_settings: Settings, accounts: Accounts) -> None:
    agent = accounts.create_agent(accounts.create_tenant("crashy")["tenant_id"], "scout")
    auth = {"authorization": f"Bearer {agent['api_key']}"}
    batch = [envelope(agent["agent_id"]) for _ in range(20)]
    single = envelope(agent["agent_id"])
    wanted = {e["event"]["eventId"] for e in [*batch, single]}
    outcomes: dict[str, object] = {}

    def send(name: str, url: str, path: str, body: object, headers: dict[str, str]) -> None:
        try:
            outcomes[name] = httpx.post(url + path, json=body, headers={**auth, **headers}, timeout=60).status_code
        except httpx.HTTPError as exc:
            outcomes[name] = exc

    # The server waits a minute between making a write durable and answering: the crash happens in that gap.
    paused = ApiProcess(api_settings, extra_env={"CLAWTRACE_INGEST_DEBUG_PAUSE_AFTER_WRITE_MS": "60000"})
    try:
        senders = [
            threading.Thread(target=send, args=("batch", paused.url, "/v1/traces/events/batch", batch, {})),
            threading.Thread(
                target=send,
                args=("single", paused.url, "/v1/traces/events", single, plugin_headers(single, agent["tenant_id"])),
            ),
        ]
        for t in senders:
            t.start()
        deadline = time.monotonic() + 30
        while set(raw_event_ids(api_settings)) != wanted:
            assert time.monotonic() < deadline, "the writes never landed"
            time.sleep(0.02)
        assert not outcomes, "nothing may have been answered yet"
    finally:
        paused.kill()
    for t in senders:
        t.join(timeout=30)
    assert all(isinstance(o, httpx.HTTPError) for o in outcomes.values()), outcomes

    # The collector retries the same requests against the restarted server.
    restarted = ApiProcess(api_settings)
    try:
        send("batch", restarted.url, "/v1/traces/events/batch", batch, {})
        send("single", restarted.url, "/v1/traces/events", single, plugin_headers(single, agent["tenant_id"]))
    finally:
        restarted.stop()  # a clean stop: what its spool holds is moved into raw files
    assert outcomes == {"batch": 202, "single": 202}

    assert raw_event_ids(api_settings) == dict.fromkeys(wanted, 2)  # each event is in the raw zone twice...
    assert tick_event_ids(api_settings) == dict.fromkeys(wanted, 1)  # ...and in events_all once
