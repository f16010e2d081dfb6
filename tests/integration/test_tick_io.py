"""A tick's I/O is flat as the lake grows: the same new traffic on a lake with 10x more history lists the same
folders and reads the same data files and bytes of every table (counts, not timings)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.discovery import ACTIVE_AGENTS_PATH
from clawtrace_pipelines.lib.graph_update import run_graph_update
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.simulator import SimulationConfig, simulate
from tests.factories import batch_path, ndjson, record, write_raw

T = datetime(2026, 6, 1, tzinfo=UTC)
RECENT_DAYS = 3


def _lake(root: Path, history_days: int) -> Settings:
    """History at one constant rate: the last RECENT_DAYS identical in every lake, older days before them."""
    settings = Settings(lake=str(root), trace_max_days=1, event_id_horizon_days=1)
    old_days = history_days - RECENT_DAYS - 1
    if old_days > 0:
        # Ends a day before the recent window, so no old trace runs into it.
        old = SimulationConfig(
            start=T - timedelta(days=history_days),
            hours=24 * old_days,
            tenants=2,
            agents_per_tenant=1,
            traces=old_days,
            seed=6,
        )
        simulate(settings, old, now=T - timedelta(days=RECENT_DAYS + 1))
    recent = SimulationConfig(
        start=T - timedelta(days=RECENT_DAYS),
        hours=24 * RECENT_DAYS,
        tenants=2,
        agents_per_tenant=1,
        traces=RECENT_DAYS,
        seed=5,
    )
    simulate(settings, recent, now=T)
    run_bronze(settings, now=T)
    run_silver(settings)
    run_graph_update(settings)
    return settings


def _measured_tick(settings: Settings) -> dict[str, dict[str, int]]:
    new = SimulationConfig(start=T, hours=1, tenants=2, agents_per_tenant=1, traces=2, seed=5, traffic_seed=7)
    simulate(settings, new, now=T + timedelta(hours=1))
    # And a tenant's very first traffic: its graph is built whole, from its own days only.
    first = SimulationConfig(start=T, hours=1, tenants=1, agents_per_tenant=1, traces=1, seed=9)
    simulate(settings, first, now=T + timedelta(hours=1))
    now = T + timedelta(hours=1, minutes=5)
    bronze = run_bronze(settings, now=now)
    silver = run_silver(settings)
    graph = run_graph_update(settings)
    assert bronze.accepted and silver.traces and graph.traces
    return {"bronze": bronze.io, "silver": silver.io, "graph": graph.io}


@pytest.mark.slow
def test_a_tick_on_ten_times_the_history_lists_and_reads_the_same(tmp_path: Path) -> None:
    short = _measured_tick(_lake(tmp_path / "short", history_days=RECENT_DAYS + 2))
    long = _measured_tick(_lake(tmp_path / "long", history_days=10 * (RECENT_DAYS + 2)))
    for step in ("bronze", "silver", "graph"):
        counts = {k: v for k, v in long[step].items() if not k.startswith("read_bytes_")}
        assert counts == {k: v for k, v in short[step].items() if not k.startswith("read_bytes_")}, step
        # Bytes may differ by what the rows hold (pg_agents and pg_tenants keep each agent's first-seen time,
        # which is older in the long lake), never by history read: within 1% per table.
        for key, value in short[step].items():
            if key.startswith("read_bytes_"):
                assert abs(long[step][key] - value) <= value / 100, (step, key, long[step][key], value)
    # The counts are there to compare: every table a tick reads, and its listings.
    assert {"read_files_events_all", "read_files_pg_traces", "read_files_pg_spans"} <= set(short["silver"])
    assert short["bronze"]["listings"] > 0 and short["silver"]["read_bytes_events_all"] > 0


def test_the_lateness_window_lists_only_recently_active_agents(tmp_path: Path) -> None:
    settings = Settings(lake=str(tmp_path / "lake"), listing_active_days=2)
    storage = LakeStorage(settings)
    tenant = "0b7c3d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
    active, silent = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f", "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a"
    now = datetime(2026, 6, 10, 12, 30, tzinfo=UTC)

    def send(agent: str, when: datetime, name: str, *, arrival: bool) -> None:
        ts = int(when.timestamp() * 1000)
        path = batch_path(tenant, agent, ts, name=f"batch-{name}.ndjson")
        write_raw(
            storage, path, ndjson([record(tenant, agent, event_id=name, ts_ms=ts)]), arrival=arrival, arrived=when
        )

    send(silent, now - timedelta(days=5), "old", arrival=True)
    run_bronze(settings, now=now - timedelta(days=5))
    send(active, now - timedelta(hours=2), "recent", arrival=True)
    run_bronze(settings, now=now - timedelta(hours=1))
    assert set(storage.read_json(ACTIVE_AGENTS_PATH)) == {f"tenant={tenant}/agent={active}"}

    # A foreign writer (no arrival record) drops a file for each agent in the last hour.
    send(active, now - timedelta(minutes=20), "foreign-a", arrival=False)
    send(silent, now - timedelta(minutes=20), "foreign-s", arrival=False)
    tick = run_bronze(settings, now=now)
    assert tick.accepted == 1 and [p.rsplit("/", 1)[1] for p in tick.processed_paths] == ["batch-foreign-a.ndjson"]
    # Listed: the arrival days, the cursor's day and its hour (3), then the active agent's 4 window hours by
    # name (a 3-hour window); the silent agent's would be 4 more.
    assert tick.listings == 3 + 4
    # The daily sweep finds what the window skipped.
    assert run_bronze(settings, now=now + timedelta(minutes=3), reconcile=True).accepted == 1

    # 0 lists every agent again, as the original did.
    every = settings.model_copy(update={"listing_active_days": 0})
    send(silent, now - timedelta(minutes=10), "foreign-s2", arrival=False)
    assert run_bronze(every, now=now + timedelta(minutes=6)).accepted == 1
    shutil.rmtree(tmp_path / "lake")
