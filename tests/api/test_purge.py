"""Purging an agent removes its raw files, its rows from every lake table and its part of the graph, and
leaves every other agent's data as it was."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow.compute as pc
from typer.testing import CliRunner

from clawtrace_api.accounts import Accounts
from clawtrace_pipelines.cli import app as cli
from clawtrace_pipelines.core.graph.embedded_client import EmbeddedClient
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import RAW_PREFIX, LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import ALL_TABLES
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.graph_update import run_graph_update
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.simulator import SimulationConfig, simulate

START = datetime(2026, 3, 1, 10, tzinfo=UTC)
NOW = datetime(2026, 3, 2, tzinfo=UTC)


def _rows_by_agent(settings: Settings) -> dict[str, dict[str, int]]:
    """Per table with an agent_id column: rows per agent."""
    out: dict[str, dict[str, int]] = {}
    for name, spec in ALL_TABLES.items():
        table = open_table(spec, settings)
        if "agent_id" not in spec.schema.names or not table.exists():
            continue
        counts = pc.value_counts(table.read(columns=["agent_id"]).column("agent_id")).to_pylist()
        out[name] = {c["values"]: c["counts"] for c in counts if c["values"] is not None}
    return out


def test_purge_removes_exactly_one_agents_files_rows_and_graph(api_settings: Settings, accounts: Accounts):
    settings = api_settings
    manifest = simulate(
        settings, SimulationConfig(start=START, hours=4, tenants=1, agents_per_tenant=2, traces=4, seed=5), now=NOW
    )
    tenant = manifest.tenant_ids[0]
    run_bronze(settings, now=NOW)
    run_silver(settings)
    run_graph_update(settings)
    before = _rows_by_agent(settings)
    agents = sorted(before["pg_traces"])
    assert len(agents) == 2
    gone, kept = agents
    accounts.create_tenant("acme", tenant_id=tenant)
    accounts.create_agent(tenant, "doomed", agent_id=gone)
    storage = LakeStorage(settings)
    kept_files = [f.path for f in storage.walk_files(f"{RAW_PREFIX}/tenant={tenant}/agent={kept}")]
    assert list(storage.walk_files(f"{RAW_PREFIX}/tenant={tenant}/agent={gone}"))

    result = CliRunner().invoke(
        cli, ["agents", "purge", gone, "--tenant", tenant, "--lake", settings.lake, "--db", str(settings.db), "--json"]
    )
    assert result.exit_code == 0, result.output
    after = _rows_by_agent(settings)
    for table, counts in before.items():
        assert gone not in after[table], table
        assert after[table].get(kept) == counts.get(kept), table
    assert list(storage.walk_files(f"{RAW_PREFIX}/tenant={tenant}/agent={gone}")) == []
    assert [f.path for f in storage.walk_files(f"{RAW_PREFIX}/tenant={tenant}/agent={kept}")] == kept_files

    graph = EmbeddedClient(settings)
    owners = graph.run("MATCH (t:Trace {tenant_id: $tenant_id}) RETURN DISTINCT t.agent_id AS a", {"tenant_id": tenant})
    assert [r["a"] for r in owners] == [kept]
    assert accounts.list_agents(tenant) == []  # deleted with the purge

    # A tick after the purge brings nothing back.
    run_bronze(settings, now=NOW, reconcile=True)
    run_silver(settings)
    assert _rows_by_agent(settings) == after
