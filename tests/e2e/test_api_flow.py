"""The whole path a user takes, over real HTTP: accounts from the CLI, the plugin's traffic through ingest (one
event per request for one agent, batches for the other), a tick, and every read answering silver's numbers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pyarrow.compute as pc
from typer.testing import CliRunner

from clawtrace_pipelines.cli import app as cli
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL, PG_SPANS, PG_TRACES
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.graph_update import run_graph_update
from clawtrace_pipelines.lib.silver import run_silver
from tests.api_server import serve_app


def _cli(settings: Settings, *args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "--lake", settings.lake, "--db", str(settings.db), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_accounts_plugin_ingest_tick_and_every_read_agree_with_silver(tmp_path):
    settings = Settings(lake=str(tmp_path / "lake"), db=f"sqlite:///{tmp_path}/api.db", key_cache_seconds=0)
    tenant = _cli(settings, "tenants", "create", "--name", "acme")["tenant_id"]
    agents = [_cli(settings, "agents", "create", "--tenant", tenant, "--name", f"bot-{i}") for i in range(2)]
    read_key = _cli(settings, "keys", "create", "--tenant", tenant, "--scopes", "read")["key"]
    start = (datetime.now(UTC) - timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)

    with serve_app(settings) as api:
        # Seeds differ: the simulator's event ids come from its seed, and one tenant's ids are unique.
        for seed, (agent, batch) in enumerate(zip(agents, ("0", "50"), strict=True)):
            sent = CliRunner().invoke(
                cli,
                [
                    "simulate",
                    "--ingest-url",
                    api.url,
                    "--observe-key",
                    agent["observe_key"],
                    "--traces",
                    "3",
                    "--hours",
                    "4",
                    "--start",
                    start.isoformat(),
                    "--seed",
                    str(seed + 3),
                    "--batch",
                    batch,
                ],
            )
            assert sent.exit_code == 0, sent.output
            assert json.loads(sent.stdout)["accepted"] > 0
        api.flush()
        run_bronze(settings)
        run_silver(settings)
        run_graph_update(settings)

        events = open_table(EVENTS_ALL, settings).read()
        assert set(events.column("agent_id").to_pylist()) == {a["agent_id"] for a in agents}
        traces = open_table(PG_TRACES, settings).read().to_pylist()
        spans = open_table(PG_SPANS, settings).read()
        window = {
            "from_ms": int(start.timestamp() * 1000) - 3_600_000,
            "to_ms": int(datetime.now(UTC).timestamp() * 1000) + 3_600_000,
        }

        with api.client(read_key) as c:
            listed = c.get("/v1/agents").json()["agents"]
            assert {a["agent_id"]: a["traces"] for a in listed} == {
                a["agent_id"]: sum(t["agent_id"] == a["agent_id"] for t in traces) for a in agents
            }

            page = c.get("/v1/traces", params={**window, "limit": 500}).json()
            assert sorted(t["trace_id"] for t in page["traces"]) == sorted(t["trace_id"] for t in traces)
            assert page["metrics"]["traces"] == len(traces)
            silver_cost = sum((t["cost_usd"] or Decimal(0)) for t in traces)
            assert silver_cost > 0
            assert abs(Decimal(str(page["metrics"]["cost_usd"])) - silver_cost) < Decimal("1e-9")
            assert page["metrics"]["total_tokens"] == sum(t["total_tokens"] for t in traces)

            for trace in traces:
                tid = trace["trace_id"]
                mine = spans.filter(pc.equal(spans.column("trace_id"), tid))
                detail = c.get(f"/v1/traces/{tid}").json()
                assert len(detail["spans"]) == mine.num_rows
                assert detail["meta"]["total_tokens"] == trace["total_tokens"]
                tree = c.get(f"/v1/traces/{tid}/tree").json()
                assert _count_nodes(tree["roots"]) == mine.num_rows
                timeline = c.get(f"/v1/traces/{tid}/timeline").json()
                assert len(timeline["bars"]) == mine.num_rows
                graph = c.get(f"/v1/traces/{tid}/graph").json()
                assert sum(n["invocations"] for n in graph["nodes"]) == mine.num_rows
                span_id = mine.column("span_id")[0].as_py()
                assert c.get(f"/v1/spans/{span_id}", params={"trace_id": tid}).status_code == 200

            costs = c.get("/v1/costs", params={**window, "group_by": "agent"}).json()
            assert {g["key"] for g in costs["groups"]} <= {a["agent_id"] for a in agents}
            assert c.get("/v1/sessions").status_code == 200


def _count_nodes(nodes: list[dict]) -> int:
    return sum(1 + _count_nodes(n.get("children", [])) for n in nodes)
