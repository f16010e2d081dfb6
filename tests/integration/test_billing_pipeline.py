"""The billing step on real Delta and Iceberg tables: exactly-once charging, hourly recompute, storage, expiry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.metering import Category, GrantRecord, MeterRecord, grant_file_path, meter_file_path
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import BILLING_EVENTS, BILLING_USAGE_HOURLY, CREDIT_BALANCE
from clawtrace_pipelines.lib.billing import run_billing
from clawtrace_pipelines.lib.billing_inputs import STORAGE_CURSOR_PATH
from clawtrace_pipelines.lib.bronze import run_bronze
from tests.factories import batch_path, ndjson, record, write_raw

TENANT = "5b0c0000-0000-4000-8000-0000000b111e"
AGENT = "5b0c0000-0000-4000-8000-00000000a9e7"
NOW = datetime(2026, 3, 1, 12, 10, tzinfo=UTC)


def _meter_file(settings: Settings, records: list[MeterRecord], written: datetime = NOW) -> str:
    path = meter_file_path(TENANT, written)
    LakeStorage(settings).write_bytes(path, b"".join(r.line() + b"\n" for r in records))
    return path


def _actions(category: Category, count: int, at: datetime) -> list[MeterRecord]:
    return [MeterRecord(str(uuid.uuid4()), TENANT, category, 1, at) for _ in range(count)]


def _usage(settings: Settings) -> dict[tuple[datetime, str], tuple[Decimal, int, Decimal]]:
    rows = open_table(BILLING_USAGE_HOURLY, settings).read().to_pylist()
    return {(r["hour"], r["category"]): (r["quantity"], r["events"], r["credits"]) for r in rows}


def _balance(settings: Settings) -> dict:
    return open_table(CREDIT_BALANCE, settings).read(filters=[("tenant_id", "=", TENANT)]).to_pylist()[0]


def test_a_replayed_or_copied_metering_file_never_charges_twice(lake_settings: Settings):
    hour = NOW.replace(minute=0)
    path = _meter_file(lake_settings, _actions(Category.TRACE_LIST_QUERY, 3, hour + timedelta(minutes=5)))
    run_billing(lake_settings, now=NOW)
    first = _usage(lake_settings)
    assert first == {(hour, "trace_list_query"): (Decimal(3), 3, Decimal("1.5"))}

    # The same file again under another name (a replay, a restored backup), then a full reconciliation sweep.
    storage = LakeStorage(lake_settings)
    storage.write_bytes(path.replace("meter-", "meter-replayed-"), storage.read_bytes(path))
    report = run_billing(lake_settings, now=NOW + timedelta(minutes=3))
    assert (report.records, report.actions_added) == (3, 0)
    run_billing(lake_settings, now=NOW + timedelta(minutes=6), reconcile=True)
    assert _usage(lake_settings) == first
    assert open_table(BILLING_EVENTS, lake_settings).count() == 3
    assert _balance(lake_settings)["used"] == Decimal("1.5")


def test_only_the_hours_that_received_actions_are_recomputed(lake_settings: Settings):
    h1 = NOW.replace(minute=0) - timedelta(hours=2)
    h2 = h1 + timedelta(hours=1)
    _meter_file(lake_settings, _actions(Category.TRACE_DETAIL_QUERY, 2, h1 + timedelta(minutes=1)))
    run_billing(lake_settings, now=NOW)
    _meter_file(lake_settings, _actions(Category.TRACE_DETAIL_QUERY, 5, h2 + timedelta(minutes=1)))
    # A late action of h1 arrives with them: h1 is recomputed from all its actions, not only the new one.
    _meter_file(lake_settings, _actions(Category.TRACE_DETAIL_QUERY, 1, h1 + timedelta(minutes=30)))
    report = run_billing(lake_settings, now=NOW + timedelta(minutes=3))
    assert report.hours_recomputed == 2
    assert _usage(lake_settings) == {
        (h1, "trace_detail_query"): (Decimal(3), 3, Decimal("0.6")),
        (h2, "trace_detail_query"): (Decimal(5), 5, Decimal("1.0")),
    }
    _meter_file(lake_settings, _actions(Category.TRACE_DETAIL_QUERY, 1, h2 + timedelta(minutes=2)))
    assert run_billing(lake_settings, now=NOW + timedelta(minutes=6)).hours_recomputed == 1


def test_storage_is_metered_hourly_in_mb_days_from_the_processed_files_log_and_once_per_hour(
    lake_settings: Settings,
):
    bronze_at = datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    data = ndjson([record(TENANT, AGENT, event_id=f"e{i}", span_id=f"s{i}") for i in range(50)])
    write_raw(LakeStorage(lake_settings), batch_path(TENANT, AGENT), data, arrived=bronze_at)
    run_bronze(lake_settings, now=bronze_at)
    mb_days = (Decimal(len(data)) / Decimal(24_000_000)).quantize(Decimal("1e-9"))

    # The first run meters the last complete hour only (11:00-12:00); nothing before metering existed.
    run_billing(lake_settings, now=NOW)
    # Two hours later: the two hours since, once each, however often the step runs.
    later = NOW + timedelta(hours=2)
    run_billing(lake_settings, now=later)
    run_billing(lake_settings, now=later + timedelta(minutes=3))
    # A crash before the storage cursor was written: the same hours again, charged once.
    LakeStorage(lake_settings).fs.rm(LakeStorage(lake_settings).full(STORAGE_CURSOR_PATH))
    run_billing(lake_settings, now=later + timedelta(minutes=6))
    storage = {h: v for (h, c), v in _usage(lake_settings).items() if c == "storage_mb_days"}
    hours = [datetime(2026, 3, 1, h, tzinfo=UTC) for h in (11, 12, 13)]
    assert storage == {h: (mb_days, 1, mb_days * Decimal("1.35")) for h in hours}


def test_an_expired_grant_lapses_on_the_next_run_without_new_usage(lake_settings: Settings):
    granted = NOW - timedelta(hours=1)
    grant = GrantRecord(str(uuid.uuid4()), TENANT, Decimal("10"), "trial", granted, NOW + timedelta(hours=1))
    LakeStorage(lake_settings).write_bytes(grant_file_path(TENANT, granted, grant.grant_id), grant.to_json())
    _meter_file(lake_settings, _actions(Category.TRACE_LIST_QUERY, 4, NOW - timedelta(minutes=5)))
    run_billing(lake_settings, now=NOW)
    assert _balance(lake_settings)["balance"] == Decimal(8)
    run_billing(lake_settings, now=NOW + timedelta(hours=2))
    after = _balance(lake_settings)
    assert (after["granted"], after["used"], after["lapsed"], after["balance"]) == (10, 2, 8, 0)
    assert after["valid_at"] == NOW + timedelta(hours=2)


def test_a_bad_metering_line_or_grant_file_is_skipped_and_never_stops_the_run(lake_settings: Settings):
    storage = LakeStorage(lake_settings)
    good = _actions(Category.TRACE_LIST_QUERY, 2, NOW - timedelta(minutes=5))
    huge = orjson.loads(good[0].line()) | {"id": str(uuid.uuid4()), "quantity": 10**18}  # past MAX_QUANTITY
    lines = [good[0].line(), b"not json", orjson.dumps(huge), good[1].line()]
    storage.write_bytes(meter_file_path(TENANT, NOW), b"\n".join(lines) + b"\n")
    bad_grant = GrantRecord(str(uuid.uuid4()), TENANT, Decimal("1e40"), "x", NOW, NOW + timedelta(days=1))
    storage.write_bytes(grant_file_path(TENANT, NOW, bad_grant.grant_id), bad_grant.to_json())
    report = run_billing(lake_settings, now=NOW)
    assert (report.records, report.bad_lines, report.grants) == (2, 2, 0)
    assert _balance(lake_settings)["used"] == Decimal(1)
