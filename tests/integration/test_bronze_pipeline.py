"""Bronze end to end on real lake tables (both formats): discovery, dedup, quarantine, idempotency, crashes."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage, event_hour
from clawtrace_pipelines.core.tables import EVENTS_ALL, EVENTS_REJECTED
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.bronze_checks import check_event_ids_unique, check_files_reconcile
from clawtrace_pipelines.lib.processed_log import ProcessedLog
from tests.factories import batch_path, ndjson, record, write_raw

TENANT = "0b7c3d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
TENANT_B = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
AGENT = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
NOW = datetime(2026, 11, 22, 12, 30, tzinfo=UTC)


def ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)


def events_at(hour: datetime, prefix: str, n: int = 3, tenant: str = TENANT) -> list[dict]:
    base = ms(hour) + 60_000
    return [record(tenant, AGENT, event_id=f"{prefix}-{i}", ts_ms=base + i) for i in range(n)]


def put(storage, records, name="batch-a.ndjson", *, arrival=True, arrived=NOW, tenant=TENANT) -> str:
    path = batch_path(tenant, AGENT, records[0]["event"]["tsMs"], name=name)
    write_raw(storage, path, ndjson(records), arrival=arrival, arrived=arrived)
    return path


def event_rows(settings) -> pa.Table:
    table = open_table(EVENTS_ALL, settings).read()
    return table.sort_by([("tenant_id", "ascending"), ("event_id", "ascending")])


def test_tick_loads_announced_files_and_a_second_tick_finds_nothing(lake_settings):
    storage = LakeStorage(lake_settings)
    put(storage, events_at(NOW - timedelta(hours=1), "a", 5))
    first = run_bronze(lake_settings, now=NOW)
    assert (first.files, first.accepted, first.rejected) == (1, 5, 0)
    before = event_rows(lake_settings)
    second = run_bronze(lake_settings, now=NOW + timedelta(minutes=3))
    assert (second.files, second.accepted) == (0, 0)
    assert event_rows(lake_settings).equals(before)


def test_exact_duplicates_across_files_load_once_and_are_counted(lake_settings):
    storage = LakeStorage(lake_settings)
    recs = events_at(NOW - timedelta(hours=2), "d", 4)
    put(storage, recs, "batch-1.ndjson")
    put(storage, recs[:2] + events_at(NOW - timedelta(hours=2), "x", 1), "batch-2.ndjson")
    report = run_bronze(lake_settings, now=NOW)
    assert (report.accepted, report.duplicates) == (5, 2)
    put(storage, recs[1:3], "batch-3.ndjson", arrived=NOW + timedelta(minutes=5))
    later = run_bronze(lake_settings, now=NOW + timedelta(minutes=6))
    assert (later.accepted, later.duplicates) == (0, 2)
    assert open_table(EVENTS_ALL, lake_settings).count() == 5


def test_two_tenants_may_use_the_same_event_ids(lake_settings):
    storage = LakeStorage(lake_settings)
    hour = NOW - timedelta(hours=1)
    put(storage, events_at(hour, "same", 2))
    put(storage, events_at(hour, "same", 2, tenant=TENANT_B), tenant=TENANT_B)
    report = run_bronze(lake_settings, now=NOW)
    assert report.accepted == 4
    assert sorted(set(event_rows(lake_settings).column("tenant_id").to_pylist())) == sorted([TENANT, TENANT_B])


def test_bad_records_are_quarantined_and_the_rest_of_the_file_lands(lake_settings):
    storage = LakeStorage(lake_settings)
    good = events_at(NOW - timedelta(hours=1), "g", 2)
    path = batch_path(TENANT, AGENT, good[0]["event"]["tsMs"], name="batch-bad.ndjson")
    data = ndjson(good[:1]) + b"{broken\n" + ndjson(good[1:])
    write_raw(storage, path, data, arrived=NOW)
    report = run_bronze(lake_settings, now=NOW)
    assert (report.accepted, report.rejected, report.records_read) == (2, 1, 3)
    rejected = open_table(EVENTS_REJECTED, lake_settings).read().to_pylist()
    assert [(r["raw_path"], r["line"], r["reason_code"]) for r in rejected] == [(path, 2, "invalid_json")]
    assert check_files_reconcile(lake_settings, report).passed
    assert check_event_ids_unique(lake_settings, report).passed


def test_late_file_into_an_hour_processed_long_ago_is_loaded_by_the_next_tick(lake_settings):
    storage = LakeStorage(lake_settings)
    old_hour = NOW - timedelta(days=9)
    put(storage, events_at(old_hour, "old", 2), "batch-1.ndjson", arrived=old_hour + timedelta(minutes=5))
    run_bronze(lake_settings, now=old_hour + timedelta(minutes=6))
    run_bronze(lake_settings, now=NOW)
    put(storage, events_at(old_hour, "late", 3), "batch-late.ndjson", arrived=NOW + timedelta(minutes=1))
    report = run_bronze(lake_settings, now=NOW + timedelta(minutes=3))
    assert (report.files, report.accepted) == (1, 3)
    assert open_table(EVENTS_ALL, lake_settings).count() == 5


def test_foreign_file_in_a_recent_hour_is_found_by_the_lateness_window(lake_settings):
    storage = LakeStorage(lake_settings)
    put(storage, events_at(NOW - timedelta(hours=1), "foreign", 2), arrival=False)
    report = run_bronze(lake_settings, now=NOW)
    assert (report.files, report.accepted) == (1, 2)
    assert report.sources["window"] == 1


def test_foreign_file_beyond_the_window_needs_the_reconciliation_sweep(lake_settings):
    storage = LakeStorage(lake_settings)
    far = NOW - timedelta(hours=lake_settings.lateness_window_hours + 5)
    put(storage, events_at(far, "far", 2), arrival=False)
    assert run_bronze(lake_settings, now=NOW).files == 0
    swept = run_bronze(lake_settings, now=NOW + timedelta(minutes=3), reconcile=True)
    assert (swept.mode, swept.files, swept.accepted) == ("reconcile", 1, 2)
    assert run_bronze(lake_settings, now=NOW + timedelta(minutes=6), reconcile=True).files == 0


def test_tick_listings_do_not_grow_with_the_lake_history(lake_settings):
    storage = LakeStorage(lake_settings)

    def listings_after_history(hours: int) -> int:
        for h in range(hours):
            hour = NOW - timedelta(days=30, hours=h)
            put(
                storage,
                events_at(hour, f"h{hours}-{h}", 1),
                f"batch-{hours}-{h}.ndjson",
                arrived=hour + timedelta(minutes=1),
            )
        run_bronze(lake_settings, now=NOW, reconcile=True)
        put(storage, events_at(NOW, f"new{hours}", 1), f"batch-new-{hours}.ndjson", arrived=NOW)
        return run_bronze(lake_settings, now=NOW + timedelta(minutes=3)).listings

    assert listings_after_history(3) == listings_after_history(40)


def test_backfilling_an_hour_twice_leaves_the_table_identical(lake_settings):
    storage = LakeStorage(lake_settings)
    hour = NOW - timedelta(hours=6)
    put(storage, events_at(hour, "b", 4) + [{"not": "valid"}], "batch-1.ndjson")
    first = run_bronze(lake_settings, hours=[event_hour(ms(hour))], now=NOW)
    assert (first.mode, first.accepted, first.rejected) == ("backfill", 4, 1)
    events = event_rows(lake_settings)
    rejected = open_table(EVENTS_REJECTED, lake_settings).read()
    second = run_bronze(lake_settings, hours=[event_hour(ms(hour))], now=NOW + timedelta(hours=1))
    assert (second.files, second.accepted, second.duplicates) == (1, 0, 4)
    assert event_rows(lake_settings).equals(events)
    assert open_table(EVENTS_REJECTED, lake_settings).read().equals(rejected)


def test_a_crash_between_table_commit_and_log_write_neither_loses_nor_doubles(lake_settings, monkeypatch):
    storage = LakeStorage(lake_settings)
    put(storage, events_at(NOW - timedelta(hours=1), "c", 6))
    original = ProcessedLog.record

    def crash(self, entries, **kw):
        raise RuntimeError("machine lost power")

    monkeypatch.setattr(ProcessedLog, "record", crash)
    with pytest.raises(RuntimeError):
        run_bronze(lake_settings, now=NOW)
    assert open_table(EVENTS_ALL, lake_settings).count() == 6
    monkeypatch.setattr(ProcessedLog, "record", original)
    retry = run_bronze(lake_settings, now=NOW + timedelta(minutes=3))
    assert (retry.files, retry.accepted, retry.duplicates) == (1, 0, 6)
    assert open_table(EVENTS_ALL, lake_settings).count() == 6
    assert check_files_reconcile(lake_settings, retry).passed
    assert run_bronze(lake_settings, now=NOW + timedelta(minutes=6)).files == 0


def test_the_log_lets_a_fresh_process_continue_where_the_last_stopped(lake_settings):
    storage = LakeStorage(lake_settings)
    put(storage, events_at(NOW - timedelta(hours=1), "p", 2))
    assert run_bronze(lake_settings, now=NOW).files == 1
    # Nothing but the lake is shared: new settings object, new table handles, no cursor in memory.
    fresh_settings = lake_settings.model_copy()
    assert run_bronze(fresh_settings, now=NOW + timedelta(hours=2), reconcile=True).files == 0
    put(storage, events_at(NOW - timedelta(hours=1), "q", 2), "batch-b.ndjson", arrived=NOW + timedelta(hours=2))
    report = run_bronze(fresh_settings, now=NOW + timedelta(hours=2, minutes=3))
    assert (report.files, report.accepted) == (1, 2)


def test_a_rewritten_per_event_file_is_processed_again_as_a_duplicate(lake_settings):
    storage = LakeStorage(lake_settings)
    rec = events_at(NOW - timedelta(hours=1), "r", 1)
    path = batch_path(TENANT, AGENT, rec[0]["event"]["tsMs"], name="event-r-0.json")
    write_raw(storage, path, ndjson(rec), arrived=NOW)
    run_bronze(lake_settings, now=NOW)
    rec[0]["receivedAt"] = "2026-11-22T12:31:00.123Z"
    write_raw(storage, path, ndjson(rec), arrived=NOW + timedelta(minutes=1))
    report = run_bronze(lake_settings, now=NOW + timedelta(minutes=2))
    assert (report.files, report.accepted, report.duplicates) == (1, 0, 1)


def test_the_log_keeps_the_listed_fingerprint_and_a_same_size_rewrite_is_read_again(lake_settings):
    storage = LakeStorage(lake_settings)
    recs = events_at(NOW - timedelta(hours=1), "fp", 2)
    path = put(storage, recs, arrival=False)
    run_bronze(lake_settings, now=NOW)
    (entry,) = ProcessedLog(lake_settings).entries([path]).to_pylist()
    assert entry["fingerprint"] and entry["size"] == storage.info(path).size
    assert run_bronze(lake_settings, now=NOW + timedelta(minutes=3)).files == 0
    recs[1]["event"]["eventId"] = "fp-9"  # same length, new content, new modification time
    storage.write_bytes(path, ndjson(recs))
    listed_mtime = float(entry["fingerprint"].removeprefix("mtime:"))
    os.utime(storage.full(path), (listed_mtime + 5, listed_mtime + 5))
    report = run_bronze(lake_settings, now=NOW + timedelta(minutes=6))
    assert (report.files, report.accepted, report.duplicates) == (1, 1, 1)


def test_a_writer_committing_during_a_tick_makes_it_merge_and_nothing_doubles(lake_settings, monkeypatch):
    from clawtrace_pipelines.lib import bronze

    storage = LakeStorage(lake_settings)
    put(storage, events_at(NOW - timedelta(hours=1), "first", 1), "batch-0.ndjson")
    run_bronze(lake_settings, now=NOW)
    put(storage, events_at(NOW - timedelta(hours=1), "race", 3), "batch-1.ndjson", arrived=NOW + timedelta(minutes=1))
    original = bronze.classify

    def racing(candidates, events, horizon_days):
        result = original(candidates, events, horizon_days)
        rival = candidates.filter(pa.array(result.new)).drop_columns(["_file", "line"])
        open_table(EVENTS_ALL, lake_settings).merge(rival, update_matched=False)  # lands between check and commit
        return result

    monkeypatch.setattr(bronze, "classify", racing)
    report = run_bronze(lake_settings, now=NOW + timedelta(minutes=3))
    assert report.files == 1
    assert open_table(EVENTS_ALL, lake_settings).count() == 4
    assert check_event_ids_unique(lake_settings, report).passed


def test_parsing_in_worker_processes_loads_exactly_what_inline_parsing_loads(tmp_path):
    from clawtrace_pipelines.core.settings import Settings
    from clawtrace_pipelines.simulator import SimulationConfig, simulate

    config = SimulationConfig(
        tenants=1, agents_per_tenant=2, traces=4, seed=21, start=NOW - timedelta(hours=6), hours=4
    )
    tables = []
    for workers in (1, 2):
        settings = Settings(lake=str(tmp_path / f"lake-{workers}"), parse_workers=workers)
        manifest = simulate(settings, config, now=NOW)
        report = run_bronze(settings, now=NOW + timedelta(minutes=1))
        assert report.accepted == manifest.expected_events
        assert check_files_reconcile(settings, report).passed
        tables.append(event_rows(settings).drop_columns(["ingest_ts"]))
    assert tables[0].equals(tables[1])


def test_an_event_id_reused_with_another_time_is_quarantined_and_the_first_stays(lake_settings):
    storage = LakeStorage(lake_settings)
    first_hour = NOW - timedelta(hours=26)
    put(storage, events_at(first_hour, "e", 2), "batch-day0.ndjson")
    assert run_bronze(lake_settings, now=NOW).accepted == 2
    # The next day the collector sends e-0 again with another time, plus one good event and an exact re-send.
    again = record(TENANT, AGENT, event_id="e-0", ts_ms=ms(NOW - timedelta(hours=1)))
    fresh = record(TENANT, AGENT, event_id="f-0", ts_ms=ms(NOW - timedelta(hours=1)) + 5)
    exact = events_at(first_hour, "e", 2)[1]
    put(storage, [again, fresh], "batch-day1.ndjson", arrived=NOW + timedelta(minutes=3))
    put(storage, [exact], "batch-day0-resend.ndjson", arrived=NOW + timedelta(minutes=3))
    report = run_bronze(lake_settings, now=NOW + timedelta(minutes=4))
    assert (report.accepted, report.rejected, report.duplicates, report.reused_event_ids) == (1, 1, 1, 1)
    rows = event_rows(lake_settings)
    assert rows.column("event_id").to_pylist() == ["e-0", "e-1", "f-0"]
    assert rows.filter(pa.compute.equal(rows.column("event_id"), "e-0")).column("event_ts_ms").to_pylist() == [
        ms(first_hour) + 60_000
    ]
    rejected = open_table(EVENTS_REJECTED, lake_settings).read().to_pylist()
    assert [(r["reason_code"], r["event_id"], r["line"]) for r in rejected] == [("event_id_reused", "e-0", 1)]
    assert "already held with tsMs" in rejected[0]["reason"]
    assert check_files_reconcile(lake_settings, report).passed


def test_an_event_id_repeated_with_two_times_in_one_batch_keeps_the_first_by_file_and_line(lake_settings):
    storage = LakeStorage(lake_settings)
    hour = NOW - timedelta(hours=1)
    one = record(TENANT, AGENT, event_id="r", ts_ms=ms(hour) + 10)
    two = record(TENANT, AGENT, event_id="r", ts_ms=ms(hour) + 20)
    put(storage, [one, two, one], "batch-r.ndjson")
    report = run_bronze(lake_settings, now=NOW)
    assert (report.accepted, report.reused_event_ids, report.duplicates) == (1, 1, 1)
    assert event_rows(lake_settings).column("event_ts_ms").to_pylist() == [ms(hour) + 10]
    assert [r["line"] for r in open_table(EVENTS_REJECTED, lake_settings).read().to_pylist()] == [2]


def test_a_reused_id_beyond_the_horizon_is_kept_as_a_distinct_event(lake_settings):
    settings = lake_settings.model_copy(update={"event_id_horizon_days": 0})
    storage = LakeStorage(settings)
    put(storage, events_at(NOW - timedelta(hours=26), "h", 1), "batch-h0.ndjson")
    assert run_bronze(settings, now=NOW).accepted == 1
    put(storage, events_at(NOW - timedelta(hours=1), "h", 1), "batch-h1.ndjson", arrived=NOW + timedelta(minutes=3))
    report = run_bronze(settings, now=NOW + timedelta(minutes=4))
    assert (report.accepted, report.reused_event_ids) == (1, 0)
    assert open_table(EVENTS_ALL, settings).count() == 2
