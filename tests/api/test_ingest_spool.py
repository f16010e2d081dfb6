"""The ingest spool (local lakes): a 202 is durable in the spool; a crash, a clean stop, a torn line and a
second live process each leave the raw zone holding every answered event, once, and nothing unanswered."""

from __future__ import annotations

import orjson

from clawtrace_api.accounts import Accounts
from clawtrace_api.ingest.spool import SUFFIX, encode, spool_dir
from clawtrace_pipelines.core.settings import Settings
from tests.api.ingest_factories import envelope, plugin_headers, raw_event_ids, tick_event_ids
from tests.api_server import ApiProcess, serve_app

# Long enough that no timer moves anything during a test: what moves, moves on start, stop or flush.
NEVER = {"CLAWTRACE_INGEST_SPOOL_FLUSH_MS": "600000"}


def _segments(settings: Settings) -> list:
    folder = spool_dir(settings.lake_root)
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.exists() else []


def _post_singles(url: str, agent: dict, count: int) -> list[str]:
    import httpx2 as httpx

    envs = [envelope(agent["agent_id"]) for _ in range(count)]
    with httpx.Client(base_url=url, headers={"authorization": f"Bearer {agent['api_key']}"}, timeout=30) as client:
        for env in envs:
            r = client.post("/v1/traces/events", json=env, headers=plugin_headers(env, agent["tenant_id"]))
            assert r.status_code == 202, r.text
    return [e["event"]["eventId"] for e in envs]


def test_events_answered_before_a_crash_are_moved_by_the_next_start(api_settings: Settings, accounts: Accounts) -> None:
    agent = accounts.create_agent(accounts.create_tenant("crash")["tenant_id"], "scout")
    crashed = ApiProcess(api_settings, extra_env=NEVER)
    try:
        ids = _post_singles(crashed.url, agent, 12)
    finally:
        crashed.kill()
    # Answered, so durable; but only in the spool: no raw file yet.
    assert raw_event_ids(api_settings) == {}
    assert len(_segments(api_settings)) == 1
    with ApiProcess(api_settings, extra_env=NEVER):
        # The start moved the dead process's segment before serving (healthy means it is done).
        assert raw_event_ids(api_settings) == dict.fromkeys(ids, 1)
        assert _segments(api_settings) == []
    assert tick_event_ids(api_settings) == dict.fromkeys(ids, 1)


def test_a_clean_stop_moves_everything_answered(api_settings: Settings, accounts: Accounts) -> None:
    agent = accounts.create_agent(accounts.create_tenant("stop")["tenant_id"], "scout")
    server = ApiProcess(api_settings, extra_env=NEVER)
    try:
        ids = _post_singles(server.url, agent, 7)
        assert raw_event_ids(api_settings) == {}
    finally:
        server.stop()
    assert raw_event_ids(api_settings) == dict.fromkeys(ids, 1)
    assert _segments(api_settings) == []


def test_a_torn_last_line_is_dropped_and_the_complete_ones_are_moved(
    api_settings: Settings, accounts: Accounts
) -> None:
    agent = accounts.create_agent(accounts.create_tenant("torn")["tenant_id"], "scout")
    folder = f"raw/v1/tenant={agent['tenant_id']}/agent={agent['agent_id']}/dt=2026-12-01/hr=10"
    lines = [orjson.dumps({**envelope(agent["agent_id"]), "accountId": agent["tenant_id"]}) for _ in range(3)]
    data = encode([(folder, line) for line in lines])
    torn = data[: len(data) - len(lines[-1]) // 2]  # a crash in the middle of the last line's write
    spool = spool_dir(api_settings.lake_root)
    spool.mkdir(parents=True)
    (spool / f"left-by-a-crash{SUFFIX}").write_bytes(torn)
    with serve_app(api_settings):
        moved = raw_event_ids(api_settings)
    assert moved == {orjson.loads(line)["event"]["eventId"]: 1 for line in lines[:2]}
    assert _segments(api_settings) == []


def test_a_second_process_never_moves_a_live_processs_segment(api_settings: Settings, accounts: Accounts) -> None:
    agent = accounts.create_agent(accounts.create_tenant("two")["tenant_id"], "scout")
    first = ApiProcess(api_settings, extra_env=NEVER)
    try:
        ids = _post_singles(first.url, agent, 5)
        with serve_app(api_settings.model_copy(update={"ingest_spool_flush_ms": 600_000})) as second:
            second.flush()
            # The first process holds its segment: the second one's start and flush leave it alone.
            assert raw_event_ids(api_settings) == {}
            assert len(_segments(api_settings)) == 1
    finally:
        first.stop()
    assert raw_event_ids(api_settings) == dict.fromkeys(ids, 1)


def test_a_restart_drops_what_a_dead_process_spooled_for_an_agent_deleted_meanwhile(
    api_settings: Settings, accounts: Accounts
) -> None:
    tenant = accounts.create_tenant("purged")["tenant_id"]
    kept, gone = accounts.create_agent(tenant, "kept"), accounts.create_agent(tenant, "gone")
    crashed = ApiProcess(api_settings, extra_env=NEVER)
    try:
        kept_ids = _post_singles(crashed.url, kept, 3)
        _post_singles(crashed.url, gone, 4)
    finally:
        crashed.kill()
    assert len(_segments(api_settings)) == 1  # both agents' events wait in the one segment
    accounts.delete_agent(tenant, gone["agent_id"])  # and a purge, which finds nothing of them in raw yet
    with ApiProcess(api_settings, extra_env=NEVER):
        assert raw_event_ids(api_settings) == dict.fromkeys(kept_ids, 1)
        assert _segments(api_settings) == []


def test_a_segment_moved_again_after_a_crash_rewrites_its_files_instead_of_copying(api_settings: Settings):
    # A crash after a segment's raw files are durable but before the segment is deleted: the next start moves
    # the same segment again, which must land on the same files.
    from clawtrace_api.ingest.durable import DurableStorage
    from clawtrace_api.ingest.spool_mover import move

    agent = "5da5a307-d5a8-4279-ab5d-277757183bba"
    folders = [f"raw/v1/tenant={agent}/agent={agent}/dt=2026-12-01/hr={h:02d}" for h in (1, 2)]
    records = [(folders[i % 2], orjson.dumps(envelope(agent))) for i in range(6)]
    storage = DurableStorage(api_settings)
    assert move(storage, records, "segment-a.spool") == 2
    assert move(storage, records, "segment-a.spool") == 2
    assert set(raw_event_ids(api_settings).values()) == {1}
    # Another segment's files are its own.
    move(storage, records[:1], "segment-b.spool")
    assert sorted(raw_event_ids(api_settings).values()) == [1] * 5 + [2]
