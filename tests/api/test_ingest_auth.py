"""Who may write what: the tenant and agent come from the key; forged ids, bad keys and limits write nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clawtrace_api.accounts import Accounts
from clawtrace_api.ingest.spool import spool_dir
from clawtrace_pipelines.core.settings import Settings
from tests.api.ingest_factories import envelope, plugin_headers, post_batch, raw_files, tick_event_ids
from tests.api_server import Running, serve_app


@pytest.fixture
def two_tenants(accounts: Accounts) -> tuple[dict, dict, dict]:
    """Agent A1 and A2 of tenant A, agent B1 of tenant B."""
    a = accounts.create_tenant("a")["tenant_id"]
    b = accounts.create_tenant("b")["tenant_id"]
    return accounts.create_agent(a, "a1"), accounts.create_agent(a, "a2"), accounts.create_agent(b, "b1")


def test_a_forged_tenant_header_is_refused(api: Running, two_tenants, api_settings: Settings) -> None:
    a1, _, b1 = two_tenants
    env = envelope(a1["agent_id"])
    headers = {**plugin_headers(env, a1["tenant_id"]), "x-clawtrace-tenant-id": b1["tenant_id"]}
    with api.client(a1["api_key"]) as client:
        single = client.post("/v1/traces/events", json=env, headers=headers)
        batch = client.post("/v1/traces/events/batch", json=[env], headers={"x-clawtrace-tenant-id": b1["tenant_id"]})
    assert single.status_code == 403 and batch.status_code == 403
    assert single.headers["content-type"].startswith("application/problem+json")
    api.flush()
    assert raw_files(api_settings) == []


def test_a_forged_body_agent_or_account_is_refused(api: Running, two_tenants, api_settings: Settings) -> None:
    a1, a2, b1 = two_tenants
    with api.client(a1["api_key"]) as client:
        other_tenant_agent = client.post("/v1/traces/events", json=envelope(b1["agent_id"]))
        sibling_agent = client.post("/v1/traces/events", json=envelope(a2["agent_id"]))
        account = client.post("/v1/traces/events", json={**envelope(a1["agent_id"]), "accountId": b1["tenant_id"]})
        # One forged envelope refuses the whole batch: nothing of it is written.
        batch = post_batch(client, [envelope(a1["agent_id"]), envelope(b1["agent_id"])], ndjson=True)
        header = client.post(
            "/v1/traces/events", json=envelope(a1["agent_id"]), headers={"x-clawtrace-agent-id": a2["agent_id"]}
        )
    for r in (other_tenant_agent, sibling_agent, account, batch, header):
        assert r.status_code == 403, r.text
    api.flush()
    assert raw_files(api_settings) == []


def test_keys_that_cannot_ingest(api: Running, two_tenants, accounts: Accounts, api_settings: Settings) -> None:
    a1, a2, _ = two_tenants
    read_key = accounts.create_key(a1["tenant_id"], "read")["key"]
    accounts.revoke_key(a2["key_id"])
    with api.client() as anonymous:
        missing = anonymous.post("/v1/traces/events", json=envelope(a1["agent_id"]))
    with api.client(read_key) as client:
        read_only = client.post("/v1/traces/events", json=envelope(a1["agent_id"]))
    with api.client(a2["api_key"]) as client:
        revoked = client.post("/v1/traces/events/batch", json=[envelope(a2["agent_id"])])
    with api.client("ct_live_" + "x" * 43) as client:
        unknown = client.post("/v1/traces/events", json=envelope(a1["agent_id"]))
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert read_only.status_code == 403
    assert revoked.status_code == 401 and unknown.status_code == 401
    api.flush()
    assert raw_files(api_settings) == []


def test_a_tenant_wide_ingest_key_writes_for_live_agents_of_its_tenant_only(
    api: Running, two_tenants, accounts: Accounts, api_settings: Settings
) -> None:
    a1, a2, b1 = two_tenants
    key = accounts.create_key(a1["tenant_id"], "ingest")["key"]
    mine = [envelope(a1["agent_id"]), envelope(a2["agent_id"])]
    with api.client(key) as client:
        ok = post_batch(client, mine)
        foreign = client.post("/v1/traces/events", json=envelope(b1["agent_id"]))
        unknown = client.post("/v1/traces/events", json=envelope("00000000-0000-4000-8000-000000000000"))
        accounts.delete_agent(a1["tenant_id"], a2["agent_id"])
        deleted = client.post("/v1/traces/events", json=envelope(a2["agent_id"]))
        pinned = post_batch(client, [envelope(a1["agent_id"])])
    assert ok.status_code == 202, ok.text
    assert foreign.status_code == 403 and unknown.status_code == 403
    # The fixture trusts no lookup for any time (key_cache_seconds=0), so the deletion counts at once.
    assert deleted.status_code == 403
    assert pinned.status_code == 202
    api.flush()
    assert set(tick_event_ids(api_settings)) == {e["event"]["eventId"] for e in mine} | set(pinned.json()["accepted"])


def test_over_the_rate_limit_is_a_429_with_retry_after(api_settings: Settings, two_tenants) -> None:
    a1, a2, _ = two_tenants
    settings = api_settings.model_copy(update={"ingest_rate_limit_per_s": 5.0})
    with serve_app(settings) as api, api.client(a1["api_key"]) as client, api.client(a2["api_key"]) as other:
        answers = [client.post("/v1/traces/events", json=envelope(a1["agent_id"])).status_code for _ in range(8)]
        limited = client.post("/v1/traces/events", json=envelope(a1["agent_id"]))
        other_key = other.post("/v1/traces/events", json=envelope(a2["agent_id"]))
    assert answers[:5] == [202] * 5 and 429 in answers[5:]
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert other_key.status_code == 202  # each key has its own budget


def test_a_failed_direct_write_is_a_503_for_the_whole_group_and_nothing_is_claimed(
    two_tenants, api_settings: Settings
) -> None:
    a1, _, _ = two_tenants
    raw = api_settings.lake_root + "/raw"
    os.makedirs(raw, exist_ok=True)
    # A file where the raw zone's folder should be: every write under it fails, as on a full or broken disk.
    with open(raw + "/v1", "wb") as fh:
        fh.write(b"not a folder")
    env = envelope(a1["agent_id"])
    # Without the spool (as on object storage) each group is written to raw files before the answer.
    direct = api_settings.model_copy(update={"ingest_spool_flush_ms": 0})
    with serve_app(direct) as api, api.client(a1["api_key"]) as client:
        failed = client.post("/v1/traces/events", json=env)
        assert failed.status_code == 503 and failed.headers["retry-after"] == "1"
        assert [p for p in Path(raw).rglob("*") if p.is_file()] == [Path(raw) / "v1"]  # no record, no temp file
        os.remove(raw + "/v1")
        retried = client.post("/v1/traces/events", json=env)
        assert retried.status_code == 202
        assert not spool_dir(api_settings.lake_root).exists()
        assert tick_event_ids(api_settings) == {env["event"]["eventId"]: 1}


def test_a_failed_spool_write_is_a_503_and_nothing_is_claimed(
    api: Running, two_tenants, api_settings: Settings
) -> None:
    a1, _, _ = two_tenants
    spool = spool_dir(api_settings.lake_root)
    spool.parent.mkdir(parents=True, exist_ok=True)
    spool.write_bytes(b"not a folder")  # a file where the spool's folder should be: its writes fail
    env = envelope(a1["agent_id"])
    with api.client(a1["api_key"]) as client:
        failed = client.post("/v1/traces/events", json=env)
        assert failed.status_code == 503 and failed.headers["retry-after"] == "1"
        api.flush()
        assert raw_files(api_settings) == []
        spool.unlink()
        retried = client.post("/v1/traces/events", json=env)
    assert retried.status_code == 202
    api.flush()
    assert tick_event_ids(api_settings) == {env["event"]["eventId"]: 1}


def test_events_the_spool_answered_wait_there_until_the_raw_zone_can_take_them(
    api: Running, two_tenants, api_settings: Settings
) -> None:
    a1, _, _ = two_tenants
    raw = Path(api_settings.lake_root) / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "v1").write_bytes(b"not a folder")  # the raw zone cannot be written
    envs = [envelope(a1["agent_id"]) for _ in range(3)]
    with api.client(a1["api_key"]) as client:
        assert all(client.post("/v1/traces/events", json=e).status_code == 202 for e in envs)  # durable in the spool
    api.flush()  # the move fails and is kept for the next flush
    assert [p.name for p in raw.rglob("*") if p.is_file()] == ["v1"]
    assert len(list(spool_dir(api_settings.lake_root).glob("*.spool"))) == 1
    (raw / "v1").unlink()
    api.flush()
    assert list(spool_dir(api_settings.lake_root).glob("*.spool")) == []
    assert tick_event_ids(api_settings) == {e["event"]["eventId"]: 1 for e in envs}
