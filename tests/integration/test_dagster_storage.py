"""The Dagster instance `make demo` and the daemon use (`dagster-instance.yaml`): Dagster's SQLite files in their
usual place, written through an event log that reuses its engines, and a run queue polled every second."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.event_log.sqlite import sqlite_event_log

from clawtrace_pipelines.dagster_storage import _ENGINES_KEPT, ReusingSqliteEventLogStorage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def shipped_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster-instance.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="numbers")])
def numbers() -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"rows": 3}, check_results=[dg.AssetCheckResult(check_name="positive", passed=True)]
    )


def test_the_shipped_instance_polls_its_queue_every_second_and_reuses_engines(shipped_home):
    with dg.DagsterInstance.from_config(str(shipped_home)) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        assert isinstance(instance.event_log_storage, ReusingSqliteEventLogStorage)
    # Where `storage: sqlite` would keep them, so a home keeps its history either way.
    assert (shipped_home / "storage" / "history" / "runs" / "index.db").exists()


def test_runs_written_through_it_read_back_with_dagsters_own_sqlite_storage(shipped_home):
    with dg.DagsterInstance.from_config(str(shipped_home)) as instance:
        result = dg.materialize([numbers], instance=instance)
        assert result.success
        written = len(instance.all_logs(result.run_id))
    plain = shipped_home.parent / "plain_home"
    plain.mkdir()
    (plain / "dagster.yaml").write_text(f"storage:\n  sqlite:\n    base_dir: {shipped_home / 'storage'}\n")
    with dg.DagsterInstance.from_config(str(plain)) as instance:
        assert not isinstance(instance.event_log_storage, ReusingSqliteEventLogStorage)
        assert len(instance.all_logs(result.run_id)) == written > 10
        (mat,) = instance.fetch_materializations(dg.AssetKey("numbers"), limit=1).records
        assert mat.asset_materialization is not None and mat.asset_materialization.metadata["rows"].value == 3
        (check,) = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey("numbers"), "positive"), limit=1
        )
        assert check.run_id == result.run_id


def _engine_builds(monkeypatch) -> list[str]:
    """Every engine built, by our storage or by its parent (whose `has_table` builds one per call)."""
    import clawtrace_pipelines.dagster_storage as ours

    built: list[str] = []
    for module in (ours, sqlite_event_log):
        real = module.create_engine

        def counting(url, *args, _real=real, **kwargs):
            built.append(str(url))
            return _real(url, *args, **kwargs)

        monkeypatch.setattr(module, "create_engine", counting)
    return built


def test_one_engine_per_file_and_the_checks_table_looked_up_once(tmp_path, monkeypatch):
    storage = ReusingSqliteEventLogStorage(str(tmp_path / "runs"))
    built = _engine_builds(monkeypatch)
    key = dg.AssetCheckKey(dg.AssetKey("numbers"), "positive")
    for i in range(20):
        storage.store_event(_check_planned("run-1", key, i))
    # One for the run's file and one for the index; the checks table was already seen when the storage opened.
    assert sorted(Path(url).name for url in built) == ["index.db", "run-1.db"], built
    assert len(storage.get_logs_for_run("run-1")) == 20
    assert len(storage.get_asset_check_execution_history(key, limit=50)) == 20


def test_engines_kept_are_bounded(tmp_path):
    storage = ReusingSqliteEventLogStorage(str(tmp_path / "runs"))
    for i in range(_ENGINES_KEPT + 6):
        with storage.run_connection(f"run-{i}") as conn:
            conn.exec_driver_sql("select 1")
    assert len(storage._engines) == _ENGINES_KEPT
    assert "run-0" not in storage._engines and f"run-{_ENGINES_KEPT + 5}" in storage._engines
    storage.dispose()
    assert not storage._engines


def _check_planned(run_id: str, key: dg.AssetCheckKey, i: int) -> dg.EventLogEntry:
    from dagster._core.events import AssetCheckEvaluationPlanned, DagsterEvent, DagsterEventType

    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value,
        job_name="j",
        event_specific_data=AssetCheckEvaluationPlanned(asset_key=key.asset_key, check_name=key.name),
    )
    return dg.EventLogEntry(
        error_info=None,
        level="DEBUG",
        user_message=f"planned {i}",
        run_id=run_id,
        timestamp=1.0 + i,
        dagster_event=event,
    )


def test_a_command_without_dagster_home_records_its_run_in_a_throwaway_instance_of_this_storage(monkeypatch):
    from clawtrace_pipelines.cli import _instance

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    with _instance() as instance:
        home = Path(instance.root_directory)
        result = dg.materialize([numbers], instance=instance)
        assert result.success
        assert isinstance(instance.event_log_storage, ReusingSqliteEventLogStorage)
        assert instance.get_run_by_id(result.run_id) is not None
        assert (home / "storage" / "history" / "runs" / "index.db").exists()
    assert not home.exists()


def test_a_command_with_dagster_home_records_its_run_there(shipped_home):
    from clawtrace_pipelines.cli import _instance

    with _instance() as instance:
        assert Path(instance.root_directory) == shipped_home
        run_id = dg.materialize([numbers], instance=instance).run_id
    with dg.DagsterInstance.from_config(str(shipped_home)) as reopened:
        assert reopened.get_run_by_id(run_id) is not None


def test_a_runs_commits_skip_the_fsync_and_its_closes_leave_the_wal_to_sqlites_auto_checkpoint(shipped_home):
    with dg.DagsterInstance.from_config(str(shipped_home)) as instance:
        result = dg.materialize([numbers], instance=instance)
        storage = instance.event_log_storage
        run_db = Path(storage.path_for_shard(result.run_id))
        # Every transaction's connection was closed; the file's idle one kept the WAL from a checkpoint.
        assert Path(f"{run_db}-wal").stat().st_size > 0
        with storage.run_connection(result.run_id) as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL (FULL is 2)
    # Closed with the instance (the keepers too), the WAL is checkpointed and gone: the file holds every event.
    import sqlite3

    assert not Path(f"{run_db}-wal").exists()
    con = sqlite3.connect(run_db)
    assert con.execute("SELECT count(*) FROM event_logs").fetchone()[0] > 10
    con.close()


def test_keepers_opened_in_one_thread_close_in_another(tmp_path):
    import threading

    storage = ReusingSqliteEventLogStorage(str(tmp_path / "runs"))
    with storage.run_connection("a-run") as conn:
        conn.exec_driver_sql("SELECT 1")
    errors: list[BaseException] = []

    def dispose() -> None:
        try:
            storage.dispose()
        except BaseException as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)

    worker = threading.Thread(target=dispose)
    worker.start()
    worker.join()
    assert errors == []
    assert storage._keepers == {}
