"""The arrival-triggered tick as `make demo` runs it: `dagster-daemon` with the shipped `dagster-instance.yaml`
evaluates the sensor, queues the run, launches it in its own process, and the run's steps, materializations and
every check land in the instance's storage, readable by Dagster's own SQLite storage."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.definitions import defs
from tests.e2e.daemon import start_daemon
from tests.factories import batch_path, ndjson, record, write_raw

ROOT = Path(__file__).resolve().parents[2]
TENANT = "0b7c3d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
AGENT = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
DEADLINE_S = 300


def _arrival_runs(home: Path) -> list[dg.RunRecord]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        return list(instance.get_run_records(filters=dg.RunsFilter(tags={"clawtrace/trigger": "arrival"})))


def test_the_daemon_runs_an_arrival_tick_with_every_check_recorded(tmp_path, monkeypatch):
    lake, home = tmp_path / "lake", tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    events = [record(TENANT, AGENT, event_id=f"e-{i}", ts_ms=now_ms - 60_000 + i) for i in range(3)]
    write_raw(LakeStorage(Settings(lake=str(lake))), batch_path(TENANT, AGENT, now_ms), ndjson(events))

    daemon = start_daemon(lake, home)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not any(r.dagster_run.is_finished for r in _arrival_runs(home)):
            assert daemon.poll() is None, "the daemon exited"
            assert time.monotonic() < deadline, "no arrival tick finished"
            time.sleep(1)
    finally:
        daemon.terminate()
        daemon.wait(timeout=60)

    (run,) = [r for r in _arrival_runs(home) if r.dagster_run.is_finished]
    assert run.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    # Read back through Dagster's own storage class over the same files.
    plain = tmp_path / "plain_home"
    plain.mkdir()
    (plain / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {home / 'storage'}\n")
    with dg.DagsterInstance.from_config(str(plain)) as instance:
        logs = instance.all_logs(run.dagster_run.run_id)
    kinds = [e.dagster_event.event_type for e in logs if e.dagster_event]
    started = [
        e.step_key for e in logs if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.STEP_START
    ]
    assert started[:3] == ["bronze_events", "silver_models", "graph"]
    expected_checks = len(defs().resolve_asset_graph().asset_check_keys)
    assert kinds.count(dg.DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED) == expected_checks
    evaluations = [
        e.dagster_event.asset_check_evaluation_data
        for e in logs
        if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert len(evaluations) == expected_checks and all(ev.passed for ev in evaluations)
    (bronze,) = [
        e.dagster_event.step_materialization_data.materialization
        for e in logs
        if e.dagster_event
        and e.dagster_event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        and e.dagster_event.asset_key == dg.AssetKey("events_all")
    ]
    assert bronze.metadata["events_accepted"].value == 3
