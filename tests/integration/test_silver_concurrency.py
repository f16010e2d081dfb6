"""Concurrent and crashed ticks converge: two tick processes at once (random interleavings, seeded pauses at
the hand-off points), and a crash after each publish step, end in the tables one clean tick builds."""

from __future__ import annotations

import multiprocessing
import random
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import LLM_SPEND_DAILY, PUBLISHED_TABLES, SILVER_TABLES, TableSpec
from clawtrace_pipelines.lib import silver_publish
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.lib.silver_pending import PendingTraces
from clawtrace_pipelines.simulator import SimulationConfig, simulate
from tests.factories import batch_path, ndjson, record

START = datetime(2026, 3, 1, 22, tzinfo=UTC)
NOW = datetime(2026, 3, 3, tzinfo=UTC)


def _rows(settings: Settings, spec: TableSpec) -> list[dict]:
    table = open_table(spec, settings).read()
    return table.sort_by([(k, "ascending") for k in spec.keys]).to_pylist() if table.num_rows else []


def _silver(settings: Settings) -> dict[str, list[dict]]:
    return {spec.name: _rows(settings, spec) for spec in PUBLISHED_TABLES}


def _copy_raw(source: Path, target: Path, files: list[Path]) -> None:
    for f in files:
        dest = target / f.relative_to(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, dest)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    source = tmp_path_factory.mktemp("source")
    settings = Settings(lake=str(source))
    for late in (0, 5):
        simulate(
            settings,
            SimulationConfig(
                start=START, hours=3, tenants=2, agents_per_tenant=1, traces=4, seed=3, layout="per-event", late=late
            ),
        )
    files = sorted(p for p in (source / "raw" / "v1").rglob("*") if p.is_file() and not p.name.startswith("."))
    # A late event a day before one trace's start: a run that publishes it moves the trace to another day (its
    # old rows and the old day's rollup must go), the case a half-applied publish cannot repair by recomputing.
    first = orjson.loads(files[0].read_bytes())
    tenant, agent, trace = first["accountId"], first["agentId"], first["event"]["traceId"]
    start = min(
        e["event"]["tsMs"]
        for e in (orjson.loads(f.read_bytes()) for f in files if f.name.endswith(".json"))
        if e["accountId"] == tenant and e["event"]["traceId"] == trace
    )
    late = record(tenant, agent, event_id="late-move", trace_id=trace, span_id="late", ts_ms=start - 86_400_000)
    path = source / batch_path(tenant, agent, start - 86_400_000, name="batch-latemove.ndjson")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ndjson([late]))
    return source, sorted([*files, path])


@pytest.fixture(scope="module")
def full(raw: tuple[Path, list[Path]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict]]:
    """The tables of one tick over every raw file."""
    source, files = raw
    lake = tmp_path_factory.mktemp("full")
    _copy_raw(source, lake, files)
    settings = Settings(lake=str(lake))
    run_bronze(settings, now=NOW, reconcile=True)
    run_silver(settings)
    return _silver(settings)


def _tick_with_pauses(lake: str, seed: int, barrier) -> None:
    """A whole tick (bronze then silver) in this process, pausing a seeded random while at the points where
    another writer can get in: after queueing and before committing events, and after reading the queue."""
    from clawtrace_pipelines.lib import silver_chunk, silver_pending

    rng = random.Random(seed)

    def pausing(function):
        def wrapper(*args, **kwargs):
            result = function(*args, **kwargs)
            time.sleep(rng.choice([0, 0, 0.05, 0.2, 0.5]))
            return result

        return wrapper

    silver_pending.PendingTraces.add = pausing(silver_pending.PendingTraces.add)
    silver_pending.PendingTraces.read = pausing(silver_pending.PendingTraces.read)
    silver_chunk.read_inputs = pausing(silver_chunk.read_inputs)
    settings = Settings(lake=lake)
    barrier.wait()
    time.sleep(rng.random() * 0.3)
    run_bronze(settings, now=NOW, reconcile=True)
    run_silver(settings)


def _queued(settings: Settings) -> set[tuple[str, str]]:
    traces = PendingTraces(LakeStorage(settings)).read().traces
    return set(zip(traces.column("tenant_id").to_pylist(), traces.column("trace_id").to_pylist(), strict=True))


def _stale(settings: Settings, full: dict[str, list[dict]]) -> set[tuple[str, str]]:
    """Traces whose pg_traces row differs from (or is missing against) the full build's."""
    got = {(r["tenant_id"], r["trace_id"]): r for r in _silver(settings)["pg_traces"]}
    want = {(r["tenant_id"], r["trace_id"]): r for r in full["pg_traces"]}
    return {k for k in set(got) | set(want) if got.get(k) != want.get(k)}


def test_two_concurrent_tick_processes_converge_and_leave_no_stale_trace_unqueued(
    raw: tuple[Path, list[Path]], full: dict[str, list[dict]], tmp_path: Path
) -> None:
    source, files = raw
    rng = random.Random(17)
    lake = tmp_path / "lake"
    settings = Settings(lake=str(lake))
    order = files[:]
    rng.shuffle(order)
    batches = [order[i::4] for i in range(4)]
    delivered: list[Path] = []
    ctx = multiprocessing.get_context("spawn")
    with multiprocessing.Manager() as manager, ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        for round_no, batch in enumerate(batches):
            _copy_raw(source, lake, batch)
            delivered += batch
            barrier = manager.Barrier(2)
            ticks = [pool.submit(_tick_with_pauses, str(lake), rng.randrange(1 << 30), barrier) for _ in range(2)]
            for tick in ticks:
                tick.result(timeout=600)
            # Whatever is not yet right must still be queued: the next tick then fixes it.
            if round_no == len(batches) - 1:
                assert _stale(settings, full) <= _queued(settings)
    run_silver(settings)
    assert _silver(settings) == full


@pytest.mark.parametrize("crash_after", range(len(silver_publish.STEPS) + 1))
def test_a_crash_after_any_publish_step_is_repaired_by_the_next_run(
    raw: tuple[Path, list[Path]], full: dict[str, list[dict]], tmp_path: Path, crash_after: int, monkeypatch
) -> None:
    source, files = raw
    lake = tmp_path / "lake"
    settings = Settings(lake=str(lake))
    # A first tick publishes everything but the late event; the crashing run then moves that one trace to the
    # day before, so its publish deletes rows on one day and rewrites two days' rollup. Recomputing the queue
    # after a crash would miss the old day (the trace's row already says the new one): the journal must not.
    assert "latemove" in files[0].name
    _copy_raw(source, lake, files[1:])
    run_bronze(settings, now=NOW - timedelta(minutes=3), reconcile=True)
    run_silver(settings)
    _copy_raw(source, lake, files[:1])
    assert run_bronze(settings, now=NOW, reconcile=True).accepted == 1

    applied: list[str] = []
    original = silver_publish._apply

    def crashing(step, *args, **kwargs):
        if len(applied) == crash_after:
            raise SystemExit(f"crash before {step}")
        original(step, *args, **kwargs)
        applied.append(step)

    def crash_on_removal(self, folder):
        raise SystemExit("crash before the journal is removed")

    monkeypatch.setattr(silver_publish, "_apply", crashing)
    if crash_after == len(silver_publish.STEPS):
        monkeypatch.setattr(silver_publish.Journal, "_remove", crash_on_removal)
    with pytest.raises(SystemExit):
        run_silver(settings)
    monkeypatch.undo()

    report = run_silver(settings)
    assert report.replayed_journals == 1
    assert _silver(settings) == full
    assert not LakeStorage(settings).ls_dirs(silver_publish.JOURNAL_DIR)


def test_a_journal_from_before_a_table_existed_is_applied_without_it(
    raw: tuple[Path, list[Path]], full: dict[str, list[dict]], tmp_path: Path, monkeypatch, caplog
) -> None:
    """A journal a crashed run of an earlier release left has no file for a table added since (here the gold
    llm_spend_daily): its other steps are applied and that one is skipped with a warning, not a failure of
    every later run. (The new table's groups that only the journal named stay as they were: see the warning.)"""
    source, files = raw
    lake = tmp_path / "lake"
    settings = Settings(lake=str(lake))
    _copy_raw(source, lake, files[1:])
    run_bronze(settings, now=NOW - timedelta(minutes=3), reconcile=True)
    run_silver(settings)
    _copy_raw(source, lake, files[:1])
    assert run_bronze(settings, now=NOW, reconcile=True).accepted == 1

    def crash(step, *args, **kwargs):
        raise SystemExit(f"crash before {step}")

    monkeypatch.setattr(silver_publish, "_apply", crash)
    with pytest.raises(SystemExit):
        run_silver(settings)
    monkeypatch.undo()
    storage = LakeStorage(settings)
    (journal,) = storage.ls_dirs(silver_publish.JOURNAL_DIR)
    storage.fs.rm_file(storage.full(f"{silver_publish.JOURNAL_DIR}/{journal}/{LLM_SPEND_DAILY.name}.parquet"))

    report = run_silver(settings)
    assert report.replayed_journals == 1
    assert "has no rows for llm_spend_daily; skipped" in caplog.text
    assert {s.name: _rows(settings, s) for s in SILVER_TABLES} == {s.name: full[s.name] for s in SILVER_TABLES}
    assert not storage.ls_dirs(silver_publish.JOURNAL_DIR)


def test_a_silver_run_between_the_queue_write_and_the_commit_settles_nothing_unseen(
    tmp_path: Path, monkeypatch
) -> None:
    from clawtrace_pipelines.core.lake.delta import DeltaTable
    from tests.factories import write_raw

    settings = Settings(lake=str(tmp_path / "lake"))
    storage = LakeStorage(settings)
    tenant, agent = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    ts = int(NOW.timestamp() * 1000) - 3_600_000
    events = [record(tenant, agent, event_id=f"e{i}", trace_id="t1", span_id=f"s{i}", ts_ms=ts + i) for i in range(3)]
    write_raw(storage, batch_path(tenant, agent, ts), ndjson(events), arrived=NOW)
    commit = DeltaTable.append_if_unchanged
    raced: list[int] = []

    def silver_first(self, data, version):
        if self.spec.name == "events_all" and not raced:
            # Bronze has queued the trace and not yet committed its events: another process's silver runs now.
            raced.append(run_silver(settings).queue_settled)
        return commit(self, data, version)

    monkeypatch.setattr(DeltaTable, "append_if_unchanged", silver_first)
    run_bronze(settings, now=NOW)
    monkeypatch.undo()
    assert raced == [0], "the racing silver settled nothing"
    assert PendingTraces(storage).read().traces.num_rows == 1, "the queue file waits for its events"
    report = run_silver(settings)
    assert report.queue_settled == 1 and not storage.ls_files("state/silver/pending")
    assert open_table(SILVER_TABLES[2], settings).read(columns=["event_count"]).to_pylist() == [{"event_count": 3}]
