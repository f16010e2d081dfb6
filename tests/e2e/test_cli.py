"""The `clawtrace` command line end to end: simulate -> tick -> tables reconcile with the manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL, PG_TRACES, PUBLISHED_TABLES

CLI = [sys.executable, "-m", "clawtrace_pipelines.cli"]


def run(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([*CLI, *args], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_simulate_then_tick_loads_exactly_the_expected_events_and_a_second_tick_adds_nothing(tmp_path: Path):
    lake = str(tmp_path / "lake")
    env = {**os.environ, "DO_NOT_TRACK": "1", "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()
    manifest = json.loads(
        run(
            "simulate",
            "--tenants",
            "2",
            "--agents-per-tenant",
            "2",
            "--traces",
            "6",
            "--seed",
            "3",
            "--hours",
            "6",
            "--lake",
            lake,
            env=env,
        )
    )
    first = json.loads(run("tick", "--lake", lake, env=env))
    assert first["success"] and first["check:event_id_unique"] == "passed"
    assert first["events_all"]["events_accepted"] == manifest["expected_events"]
    assert first["events_all"]["shadow_duplicates"] == manifest["shadow_duplicates"]
    assert first["pg_traces"]["rows_written"] == first["pg_traces"]["traces_touched"] > 0
    assert all(v == "passed" for k, v in first.items() if k.startswith("check:")), first
    table = open_table(EVENTS_ALL, Settings(lake=lake))
    versions = {spec.name: open_table(spec, Settings(lake=lake)).version() for spec in (EVENTS_ALL, *PUBLISHED_TABLES)}
    second = json.loads(run("tick", "--lake", lake, env=env))
    assert second["events_all"]["files"] == 0
    assert second["pg_traces"]["traces_touched"] == 0
    # Nothing new: no table got a new version.
    assert {
        spec.name: open_table(spec, Settings(lake=lake)).version() for spec in (EVENTS_ALL, *PUBLISHED_TABLES)
    } == versions
    assert table.count() == manifest["expected_events"]
    traces = open_table(PG_TRACES, Settings(lake=lake)).read(columns=["event_count"])
    assert sum(traces.column("event_count").to_pylist()) == manifest["expected_events"]


def test_late_simulation_lands_in_old_hours_and_the_next_tick_loads_it(tmp_path: Path):
    lake = str(tmp_path / "lake")
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    common = [
        "--tenants",
        "1",
        "--agents-per-tenant",
        "2",
        "--traces",
        "4",
        "--seed",
        "5",
        "--start",
        "2026-10-01T00:00:00Z",
        "--hours",
        "4",
        "--lake",
        lake,
    ]
    base = json.loads(run("simulate", *common, env=env))
    run("tick", "--lake", lake, env=env)
    late = json.loads(run("simulate", *common, "--late", "40", env=env))
    tick = json.loads(run("tick", "--lake", lake, env=env))
    assert tick["events_all"]["events_accepted"] == late["expected_events"]
    assert open_table(EVENTS_ALL, Settings(lake=lake)).count() == base["expected_events"] + late["expected_events"]


def test_backfill_command_reprocesses_an_hour_without_changing_the_table(tmp_path: Path):
    lake = str(tmp_path / "lake")
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    run(
        "simulate",
        "--tenants",
        "1",
        "--agents-per-tenant",
        "1",
        "--traces",
        "5",
        "--seed",
        "9",
        "--start",
        "2026-10-01T00:00:00Z",
        "--hours",
        "3",
        "--lake",
        lake,
        env=env,
    )
    run("tick", "--lake", lake, env=env)
    table = open_table(EVENTS_ALL, Settings(lake=lake))
    before = table.read().sort_by("event_id")
    out = json.loads(
        run("backfill", "--from", "2026-10-01T00:00:00Z", "--to", "2026-10-01T02:00:00Z", "--lake", lake, env=env)
    )
    assert out["success"] and out["events_all"]["mode"] == "backfill" and out["events_all"]["events_accepted"] == 0
    assert out["events_all"]["duplicates"] > 0
    assert table.read().sort_by("event_id").equals(before)


def test_cypher_for_a_tenant_returns_only_its_rows_and_all_tenants_is_explicit(tmp_path: Path):
    lake = str(tmp_path / "lake")
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    manifest = json.loads(
        run(
            "simulate",
            "--tenants",
            "2",
            "--agents-per-tenant",
            "1",
            "--traces",
            "3",
            "--seed",
            "8",
            "--lake",
            lake,
            env=env,
        )
    )
    tick = json.loads(run("tick", "--lake", lake, env=env))
    assert tick["graph"]["engine"] == "embedded" and tick["graph"]["traces"] == 6
    tenant, other = manifest["tenant_ids"]
    out = run(
        "cypher",
        "MATCH (t:Trace {tenant_id: $tenant_id}) WHERE t.event_count >= $min RETURN t.trace_id AS trace_id "
        "ORDER BY trace_id",
        "--tenant",
        tenant,
        "--param",
        "min=1",
        "--lake",
        lake,
        env=env,
    )
    assert out.strip().splitlines()[0].startswith("trace_id") and "(3 rows)" in out
    # No tenant filter in the text: still only this tenant's vertices (1 tenant, 1 agent, 3 traces, spans).
    everything = run("cypher", "MATCH (n) RETURN n.tenant_id AS t", "--tenant", tenant, "--lake", lake, env=env)
    assert tenant in everything and other not in everything
    per_tenant = run(
        "cypher", "MATCH (t:Trace) RETURN count(*) AS n", "--all-tenants", "--lake", lake, env=env
    ).splitlines()
    assert per_tenant[0].split() == ["tenant", "|", "n"] and "(2 rows)" in per_tenant[-1]
    assert {line.split()[0] for line in per_tenant[2:-1]} == {tenant, other}
    for bad in (["--tenant", "x' OR 1=1"], [], ["--tenant", tenant, "--all-tenants"]):
        done = subprocess.run(
            [*CLI, "cypher", "MATCH (n) RETURN n", *bad, "--lake", lake],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode != 0 and ("UUID" in done.stderr or "exactly one" in done.stderr), done.stderr
