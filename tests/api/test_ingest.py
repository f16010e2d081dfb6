"""Ingest over real HTTP: the plugin's request lands in `events_all` after a tick; batches; the answers."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from clawtrace_api.accounts import Accounts
from clawtrace_pipelines.core.settings import Settings
from tests.api.ingest_factories import (
    envelope,
    plugin_headers,
    post_batch,
    raw_event_ids,
    raw_files,
    tick_event_ids,
)
from tests.api_server import Running, serve_app


@pytest.fixture
def agent(accounts: Accounts) -> dict:
    tenant = accounts.create_tenant("acme")
    return accounts.create_agent(tenant["tenant_id"], "scout")


def test_plugin_posts_one_event_per_request_and_a_tick_loads_them(
    api: Running, agent: dict, api_settings: Settings
) -> None:
    envs = [envelope(agent["agent_id"], trace_id="run-1") for _ in range(5)]
    with api.client(agent["api_key"]) as client:
        for env in envs:
            r = client.post("/v1/traces/events", json=env, headers=plugin_headers(env, agent["tenant_id"]))
            assert r.status_code == 202, r.text
            assert r.json() == {"accepted": [env["event"]["eventId"]], "rejected": []}
    api.flush()
    rows = tick_event_ids(api_settings)
    assert rows == {e["event"]["eventId"]: 1 for e in envs}


def test_raw_records_carry_the_server_facts_and_keep_extra_fields(
    api: Running, agent: dict, api_settings: Settings
) -> None:
    env = envelope(agent["agent_id"], sdkVersion="1.4.2")
    env["collector"] = "openclaw"
    env["receivedAt"] = "1999-01-01T00:00:00Z"  # the server's fact wins
    with api.client(agent["api_key"]) as client:
        assert client.post("/v1/traces/events", json=env).status_code == 202
    api.flush()
    [path] = raw_files(api_settings)
    assert path.name.startswith("batch-") and path.suffix == ".ndjson"
    assert f"tenant={agent['tenant_id']}/agent={agent['agent_id']}/dt=" in str(path)
    [record] = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    assert record["accountId"] == agent["tenant_id"]
    assert record["apiKeyId"] == agent["key_id"]
    assert record["agentId"] == agent["agent_id"]
    assert record["receivedAt"].startswith("20") and record["receivedAt"] != "1999-01-01T00:00:00Z"
    assert record["collector"] == "openclaw" and record["event"]["sdkVersion"] == "1.4.2"
    arrivals = list((Path(api_settings.lake_root) / "raw" / "_arrivals").rglob("*.json"))
    assert len(arrivals) == 1
    arrival = orjson.loads(arrivals[0].read_bytes())
    assert arrival["writer"] == "api"
    assert [f["path"] for f in arrival["files"]] == [str(path.relative_to(api_settings.lake_root))]


@pytest.mark.parametrize("ndjson", [False, True], ids=["json-array", "ndjson"])
def test_a_batch_lands_whole(api: Running, agent: dict, api_settings: Settings, ndjson: bool) -> None:
    envs = [envelope(agent["agent_id"], trace_id=f"run-{i % 3}") for i in range(50)]
    with api.client(agent["api_key"]) as client:
        r = post_batch(client, envs, ndjson=ndjson)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == [e["event"]["eventId"] for e in envs]
    api.flush()
    assert tick_event_ids(api_settings) == {e["event"]["eventId"]: 1 for e in envs}


def test_a_mixed_batch_lands_the_good_events_and_lists_the_bad_ones(
    api: Running, agent: dict, api_settings: Settings
) -> None:
    good = [envelope(agent["agent_id"]) for _ in range(3)]
    bad_type = envelope(agent["agent_id"], eventType="llm_teleport")
    bad_version = {**envelope(agent["agent_id"]), "schemaVersion": 2}
    bad_usage = envelope(agent["agent_id"], payload={"usage": {"input": -1}})
    body = (
        orjson.dumps(good[0])
        + b"\n"
        + orjson.dumps(bad_type)
        + b"\n{not json\n"
        + orjson.dumps(good[1])
        + b"\n"
        + orjson.dumps(bad_version)
        + b"\n"
        + orjson.dumps(bad_usage)
        + b"\n[1]\n"
        + orjson.dumps(good[2])
        + b"\n"
    )
    with api.client(agent["api_key"]) as client:
        r = client.post("/v1/traces/events/batch", content=body, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 202, r.text
    result = r.json()
    assert result["accepted"] == [e["event"]["eventId"] for e in good]
    codes = {(x["index"], x["reason_code"]) for x in result["rejected"]}
    assert codes == {(1, "schema"), (2, "invalid_json"), (4, "unsupported_version"), (5, "schema"), (6, "not_object")}
    by_index = {x["index"]: x for x in result["rejected"]}
    assert by_index[1]["event_id"] == bad_type["event"]["eventId"]
    assert "usage" in by_index[5]["reason"]
    api.flush()
    assert tick_event_ids(api_settings) == {e["event"]["eventId"]: 1 for e in good}


def test_nothing_valid_is_a_422_listing_every_reason(api: Running, agent: dict, api_settings: Settings) -> None:
    envs = [envelope(agent["agent_id"], tsMs=-5), envelope(agent["agent_id"], payload="[1, 2]")]
    with api.client(agent["api_key"]) as client:
        batch = post_batch(client, envs)
        single = client.post("/v1/traces/events", json=envelope(agent["agent_id"], eventId=""))
        not_json = client.post("/v1/traces/events", content=b"{", headers={"content-type": "application/json"})
        mismatch_env = envelope(agent["agent_id"])
        mismatch = client.post("/v1/traces/events", json=mismatch_env, headers={"x-clawtrace-event-id": "other"})
    assert batch.status_code == 422
    assert batch.headers["content-type"].startswith("application/problem+json")
    assert [(e["index"], e["reason_code"]) for e in batch.json()["errors"]] == [(0, "schema"), (1, "schema")]
    assert single.status_code == 422 and single.json()["errors"][0]["reason_code"] == "schema"
    assert not_json.status_code == 422
    assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["reason_code"] == "event_id_mismatch"
    api.flush()
    assert raw_files(api_settings) == []


def test_limits_answer_413_and_write_nothing(api_settings: Settings, agent: dict) -> None:
    settings = api_settings.model_copy(update={"ingest_max_events": 10, "ingest_max_body_bytes": 20_000})
    with serve_app(settings) as api, api.client(agent["api_key"]) as client:
        too_many = post_batch(client, [envelope(agent["agent_id"]) for _ in range(11)])
        too_many_lines = post_batch(client, [envelope(agent["agent_id"]) for _ in range(11)], ndjson=True)
        big = envelope(agent["agent_id"], payload={"prompt": "x" * 30_000})
        too_big = client.post("/v1/traces/events", json=big)
        fits = post_batch(client, [envelope(agent["agent_id"]) for _ in range(10)])
    assert too_many.status_code == 413 and too_many.json()["type"].endswith("too-many-events")
    assert too_many_lines.status_code == 413
    assert too_big.status_code == 413 and too_big.json()["type"].endswith("payload-too-large")
    assert fits.status_code == 202
    assert sum(raw_event_ids(settings).values()) == 10


def test_a_record_larger_than_bronze_loads_is_rejected_at_the_door(api_settings: Settings, agent: dict) -> None:
    settings = api_settings.model_copy(update={"max_record_bytes": 2_000})
    envs = [envelope(agent["agent_id"]), envelope(agent["agent_id"], payload={"prompt": "y" * 3_000})]
    with serve_app(settings) as api, api.client(agent["api_key"]) as client:
        r = post_batch(client, envs)
    assert r.status_code == 202
    assert [x["reason_code"] for x in r.json()["rejected"]] == ["too_large"]


def test_unsupported_batch_content_type_is_415(api: Running, agent: dict) -> None:
    with api.client(agent["api_key"]) as client:
        r = client.post("/v1/traces/events/batch", content=b"a,b", headers={"content-type": "text/csv"})
    assert r.status_code == 415


def test_the_openapi_document_describes_both_routes(api: Running) -> None:
    with api.client() as client:
        doc = client.get("/openapi.json").json()
    for path in ("/v1/traces/events", "/v1/traces/events/batch"):
        op = doc["paths"][path]["post"]
        assert "202" in op["responses"] and "413" in op["responses"] and "503" in op["responses"]
        assert op["requestBody"]["content"]["application/json"]["example"]
    assert doc["components"]["schemas"]["IngestResult"]["examples"]


def test_the_plugins_request_is_served_by_the_fast_path_and_nothing_else_is(api: Running, agent: dict) -> None:
    from clawtrace_api.ingest.fast_path import IngestFastPath

    stack = [m.cls for m in api.app.user_middleware]
    assert IngestFastPath in stack
    routed: list[str] = []
    router = api.app.router
    original = router.middleware_stack

    async def spy(scope, receive, send):  # the router's entry: what the fast path must not reach
        routed.append(scope["path"])
        await original(scope, receive, send)

    router.middleware_stack = spy
    try:
        with api.client(agent["api_key"]) as c:
            env = envelope(agent["agent_id"])
            assert (
                c.post("/v1/traces/events", json=env, headers=plugin_headers(env, agent["tenant_id"])).status_code
                == 202
            )
            assert c.post("/v1/traces/events/batch", json=[envelope(agent["agent_id"])]).status_code == 202
    finally:
        router.middleware_stack = original
    assert routed == ["/v1/traces/events/batch"]


def test_the_fast_path_answers_carry_cors_headers_for_an_allowed_origin(
    api_settings: Settings, accounts: Accounts
) -> None:
    tenant = accounts.create_tenant("acme")["tenant_id"]
    agent = accounts.create_agent(tenant, "scout")
    settings = api_settings.model_copy(update={"cors_origins": ["http://ui.example"]})
    with serve_app(settings) as api, api.client(agent["api_key"]) as c:
        env = envelope(agent["agent_id"])
        headers = {**plugin_headers(env, tenant), "origin": "http://ui.example"}
        answer = c.post("/v1/traces/events", json=env, headers=headers)
        assert answer.status_code == 202
        assert answer.headers["access-control-allow-origin"] == "http://ui.example"
