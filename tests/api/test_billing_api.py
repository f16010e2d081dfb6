"""Metering and billing over real HTTP: a scripted session reconciles exactly with `billing_usage_hourly`, a
restart loses nothing that was flushed, and the deficit guard answers 402 until a grant lifts it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2 as httpx
import orjson
from typer.testing import CliRunner

from clawtrace_api.accounts import Accounts
from clawtrace_api.db.engine import make_engine
from clawtrace_pipelines.cli import app as cli
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import BILLING_USAGE_HOURLY
from clawtrace_pipelines.lib.billing import run_billing
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.graph_update import run_graph_update
from clawtrace_pipelines.lib.silver import run_silver
from tests.api.ingest_factories import envelope, plugin_headers, post_batch, raw_files
from tests.api_server import ApiProcess, serve_app


def _usage_by_category(settings: Settings, tenant: str) -> dict[str, tuple[Decimal, int, Decimal]]:
    rows = open_table(BILLING_USAGE_HOURLY, settings).read(filters=[("tenant_id", "=", tenant)]).to_pylist()
    out: dict[str, tuple[Decimal, int, Decimal]] = {}
    for r in rows:
        q, n, c = out.get(r["category"], (Decimal(0), 0, Decimal(0)))
        out[r["category"]] = (q + r["quantity"], n + r["events"], c + r["credits"])
    return out


def _metered(settings: Settings, category: str) -> int:
    """Records of `category` in the metering files on disk (what the API has flushed)."""
    root = Path(settings.lake_root) / "raw" / "metering"
    lines = [line for p in root.rglob("*.ndjson") for line in p.read_bytes().splitlines()] if root.exists() else []
    return sum(orjson.loads(line)["category"] == category for line in lines)


def _grant(settings: Settings, tenant: str, amount: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli,
        [
            "credits",
            "grant",
            "--tenant",
            tenant,
            "--amount",
            amount,
            "--reason",
            "test",
            "--lake",
            settings.lake,
            "--db",
            str(settings.db),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_a_scripted_session_reconciles_exactly_with_billing_usage_hourly(api_settings: Settings, accounts: Accounts):
    tenant = accounts.create_tenant("acme")["tenant_id"]
    agent = accounts.create_agent(tenant, "bot")
    read_key = accounts.create_key(tenant, "read")["key"]
    with serve_app(api_settings) as api:
        with api.client(agent["api_key"]) as c:
            for i in range(3):  # the plugin's one-event POSTs (the ingest fast path)
                env = envelope(agent["agent_id"], trace_id=f"t-{i}")
                assert c.post("/v1/traces/events", json=env, headers=plugin_headers(env, tenant)).status_code == 202
            batch = [envelope(agent["agent_id"], trace_id="t-9", spanId=f"s{i}") for i in range(4)]
            assert post_batch(c, batch, ndjson=True).status_code == 202
            bad = envelope(agent["agent_id"], eventType="no_such_type")
            assert post_batch(c, [bad]).status_code == 422  # nothing accepted, nothing metered
        api.flush()
        run_bronze(api_settings)
        run_silver(api_settings)
        run_graph_update(api_settings)
        with api.client(read_key) as c:
            for _ in range(4):
                assert c.get("/v1/traces", params={"from_ms": 0}).status_code == 200
            for trace in ("t-0", "t-9"):
                assert c.get(f"/v1/traces/{trace}").status_code == 200
            assert c.get("/v1/traces/no-such-trace").status_code == 404  # a failed read is not charged
    # The server stopped cleanly: every metered action is in the raw zone. Billed as of an hour later, so the
    # hour the data arrived in is complete and its storage is billed too, wherever the wall clock stands.
    run_billing(api_settings, now=datetime.now(UTC) + timedelta(hours=1))
    raw_bytes = sum(p.stat().st_size for p in raw_files(api_settings))
    usage = _usage_by_category(api_settings, tenant)
    # Storage is metered by the pipeline (tests/integration test its amounts); here it adds its credits.
    storage = usage.pop("storage_mb_days")[2]
    assert storage > 0
    assert usage == {
        "ingest_events": (Decimal(7), 4, Decimal(0)),  # 7 events in 4 accepted requests
        "ingest_bytes": (Decimal(raw_bytes), 4, Decimal(0)),  # exactly what ingest stored
        "trace_list_query": (Decimal(4), 4, Decimal("2.0")),
        "trace_detail_query": (Decimal(2), 2, Decimal("0.4")),
    }
    with serve_app(api_settings) as api, api.client(read_key) as c:
        for granularity in ("hour", "day"):
            report = c.get("/v1/billing/usage", params={"granularity": granularity}).json()
            assert {t["category"]: Decimal(t["credits"]) for t in report["totals"]}["trace_list_query"] == 2
            assert Decimal(report["total_credits"]) == Decimal("2.4") + storage
            assert sum(Decimal(b["credits"]) for b in report["buckets"]) == Decimal("2.4") + storage
        balance = c.get("/v1/billing/balance").json()
        assert (Decimal(balance["used"]), Decimal(balance["balance"]), balance["in_deficit"]) == (
            Decimal("2.4") + storage,
            -(Decimal("2.4") + storage),
            True,
        )
        # The guard is off by default: a tenant in deficit is still served.
        assert c.get("/v1/traces").status_code == 200
        assert c.get("/v1/billing/usage", params={"from": "2026-01-02", "to": "2026-01-01"}).status_code == 422
        assert c.get("/v1/billing/usage", params={"from": "2020-01-01", "to": "2026-01-01"}).status_code == 422
    # Another tenant's key sees none of it: the tenant is the key's.
    other = accounts.create_tenant("other")["tenant_id"]
    other_key = accounts.create_key(other, "read")["key"]
    with serve_app(api_settings) as api, api.client(other_key) as c:
        assert c.get("/v1/billing/usage").json()["totals"] == []
        assert Decimal(c.get("/v1/billing/balance").json()["used"]) == 0


def test_a_restart_mid_session_loses_no_metered_action_that_was_flushed(api_settings: Settings, accounts: Accounts):
    tenant = accounts.create_tenant("acme")["tenant_id"]
    agent = accounts.create_agent(tenant, "bot")
    env = {"CLAWTRACE_METERING_FLUSH_SECONDS": "0.1", "CLAWTRACE_KEY_CACHE_SECONDS": "0"}
    headers = {"authorization": f"Bearer {agent['api_key']}"}

    def ingest(url: str, events: int) -> None:
        body = [envelope(agent["agent_id"], spanId=f"s{i}") for i in range(events)]
        assert httpx.post(f"{url}/v1/traces/events/batch", json=body, headers=headers).status_code == 202

    with ApiProcess(api_settings, env) as first:
        for _ in range(5):
            ingest(first.url, 2)
        deadline = time.monotonic() + 30
        while _metered(api_settings, "ingest_events") < 5:  # the periodic flush, not a guess at its timing
            assert time.monotonic() < deadline, "the meter never flushed"
            time.sleep(0.05)
        first.kill()  # a crash: what was flushed is durable, whatever else was in memory
    with ApiProcess(api_settings, env) as second:
        for _ in range(3):
            ingest(second.url, 1)
        second.stop()  # a clean stop writes the rest
    run_billing(api_settings)
    assert _usage_by_category(api_settings, tenant)["ingest_events"][:2] == (Decimal(13), 8)


def test_a_grant_and_enough_usage_flip_the_guard_to_402_and_a_new_grant_lifts_it(tmp_path):
    settings = Settings(
        lake=str(tmp_path / "lake"),
        db=f"sqlite:///{tmp_path}/api.db",
        key_cache_seconds=0,
        billing_guard=True,
        billing_guard_cache_seconds=0,
    )
    accounts = Accounts(make_engine(settings))
    tenant = accounts.create_tenant("acme")["tenant_id"]
    agent = accounts.create_agent(tenant, "bot")
    read_key = accounts.create_key(tenant, "read")["key"]
    _grant(settings, tenant, "1")
    with serve_app(settings) as api, api.client(read_key) as reads, api.client(agent["api_key"]) as ingest:
        meter = api.app.state.services.meter

        def tick() -> None:
            meter.flush()
            run_billing(settings)

        env = envelope(agent["agent_id"])
        assert ingest.post("/v1/traces/events", json=env, headers=plugin_headers(env, tenant)).status_code == 202
        api.flush()
        run_bronze(settings)
        run_silver(settings)
        run_graph_update(settings)
        tick()
        for _ in range(3):  # 3 x 0.5 credits against the 1 granted
            assert reads.get("/v1/traces").status_code == 200
        tick()
        refused = reads.get("/v1/traces")
        assert refused.status_code == 402
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "below zero" in refused.json()["detail"]
        assert ingest.post("/v1/traces/events", json=env, headers=plugin_headers(env, tenant)).status_code == 402
        assert post_batch(ingest, [envelope(agent["agent_id"])]).status_code == 402
        # Billing stays readable in deficit.
        assert Decimal(reads.get("/v1/billing/balance").json()["balance"]) == Decimal("-0.5")

        _grant(settings, tenant, "0.25")  # smaller than the deficit: reduces it, does not erase it
        tick()
        assert Decimal(reads.get("/v1/billing/balance").json()["balance"]) == Decimal("-0.25")
        assert reads.get("/v1/traces").status_code == 402

        _grant(settings, tenant, "1")
        tick()
        assert Decimal(reads.get("/v1/billing/balance").json()["balance"]) == Decimal("0.75")
        assert reads.get("/v1/traces").status_code == 200
        assert ingest.post("/v1/traces/events", json=env, headers=plugin_headers(env, tenant)).status_code == 202


def test_credits_grant_refuses_a_bad_amount_or_an_unknown_tenant(api_settings: Settings, accounts: Accounts):
    tenant = accounts.create_tenant("acme")["tenant_id"]
    base = ["credits", "grant", "--reason", "r", "--lake", api_settings.lake, "--db", str(api_settings.db)]
    for amount in ("0", "-5", "1e400000", "nan", "0.0000000001", "ten"):
        assert CliRunner().invoke(cli, [*base, "--tenant", tenant, "--amount", amount]).exit_code != 0, amount
    unknown = CliRunner().invoke(cli, [*base, "--tenant", "00000000-0000-4000-8000-000000000000", "--amount", "1"])
    assert unknown.exit_code == 2 and "no tenant" in unknown.output
    granted = _grant(api_settings, tenant, "12.5")
    assert granted["path"].startswith(f"raw/credits/v1/tenant={tenant}/")
    run_billing(api_settings)
    with serve_app(api_settings) as api, api.client(accounts.create_key(tenant, "read")["key"]) as c:
        assert Decimal(c.get("/v1/billing/balance").json()["balance"]) == Decimal("12.5")
