"""`clawtrace simulate --ingest-url --observe-key` sends an agent's traffic through the API like the plugin."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from clawtrace_api.accounts import Accounts
from clawtrace_pipelines.cli import app
from clawtrace_pipelines.core.settings import Settings
from tests.api.ingest_factories import raw_event_ids, tick_event_ids
from tests.api_server import Running


@pytest.mark.parametrize("batch", [0, 40], ids=["one-per-request", "batched"])
def test_simulated_traffic_through_the_api_lands_in_events_all(
    api: Running, accounts: Accounts, api_settings: Settings, batch: int
) -> None:
    agent = accounts.create_agent(accounts.create_tenant("sim")["tenant_id"], "scout")
    args = ["simulate", "--ingest-url", api.url, "--observe-key", agent["observe_key"], "--traces", "3"]
    result = CliRunner().invoke(app, [*args, "--batch", str(batch), "--seed", "5"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["agent_id"] == agent["agent_id"] and report["envelopes"] > 20
    assert report["accepted"] == report["envelopes"] and report["rejected"] == report["failed"] == 0
    assert report["requests"] == (report["envelopes"] if batch == 0 else -(-report["envelopes"] // batch))
    api.flush()
    sent = raw_event_ids(api_settings)
    assert sum(sent.values()) == report["envelopes"]  # retried deliveries included
    rows = tick_event_ids(api_settings)
    # Every row is a sent event, once; only the simulator's shadow duplicates are dropped.
    assert set(rows) <= set(sent) and max(rows.values()) == 1
    assert len(rows) >= 0.9 * len(sent)


def test_an_observe_key_of_a_revoked_agent_is_dropped_not_retried(
    api: Running, accounts: Accounts, api_settings: Settings
) -> None:
    agent = accounts.create_agent(accounts.create_tenant("gone")["tenant_id"], "old")
    accounts.delete_agent(agent["tenant_id"], agent["agent_id"])
    args = ["simulate", "--ingest-url", api.url, "--observe-key", agent["observe_key"], "--traces", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["dropped"] == report["envelopes"] and report["retries"] == 0
    assert report["statuses"] == {"401": report["requests"]}
    api.flush()
    assert raw_event_ids(api_settings) == {}
