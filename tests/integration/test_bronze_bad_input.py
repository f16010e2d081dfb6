"""Every kind of bad input at once, through the whole bronze step: quarantined with a reason, nothing else lost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.tables import EVENTS_ALL, EVENTS_REJECTED
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.bronze_checks import check_event_ids_unique, check_files_reconcile
from tests.factories import batch_path, ndjson, record, write_raw

TENANT = "0b7c3d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
OTHER = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
AGENT = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
NOW = datetime(2026, 11, 22, 12, 30, tzinfo=UTC)
TS = int((NOW - timedelta(hours=1)).timestamp() * 1000)


def good(i: int, **kw) -> dict:
    return record(TENANT, AGENT, event_id=f"ok-{i}", ts_ms=TS + i, **kw)


def test_each_bad_input_is_quarantined_with_its_reason_and_every_good_record_lands(lake_settings):
    storage = LakeStorage(lake_settings)
    missing_field = good(90)
    del missing_field["event"]["traceId"]
    files = {
        "batch-json.ndjson": ndjson([good(1)]) + b"{nope\n" + ndjson([good(2)]),
        "batch-empty.ndjson": b"",
        "batch-missing.ndjson": ndjson([missing_field, good(3)]),
        "batch-type.ndjson": ndjson([good(91, event_type="tool_after_call") | {"schemaVersion": "1"}, good(4)]),
        "batch-unknown.ndjson": ndjson([good(92, event_type="thinking"), good(5)]),
        "batch-payload.ndjson": ndjson([good(93, payload="[1, 2]"), good(6, payload='{"model": "gpt-4o"}')]),
        "batch-big.ndjson": ndjson([good(94, payload={"prompt": "x" * (10 << 20)}), good(7)]),
        "batch-mismatch.ndjson": ndjson([record(OTHER, AGENT, event_id="x-1", ts_ms=TS), good(8)]),
        "batch-unicode.ndjson": ndjson([good(9, payload={"prompt": "naïve 世界 🦀 \u0000"})])
        + ndjson([good(95)]).replace(b"claude", b"\xff\xfe"),
        "batch-truncated.ndjson": (ndjson([good(10), good(96)]))[:-30],
        "event-ok-11.json": orjson.dumps(good(11)),
    }
    for name, data in files.items():
        write_raw(storage, batch_path(TENANT, AGENT, TS, name=name), data, arrived=NOW)
    bad_tenant = batch_path(TENANT, AGENT, TS, name="batch-x.ndjson").replace(f"tenant={TENANT}", "tenant=not-a-uuid")
    write_raw(storage, bad_tenant, ndjson([good(97)]), arrived=NOW)

    report = run_bronze(lake_settings, now=NOW)

    loaded = sorted(open_table(EVENTS_ALL, lake_settings).read(columns=["event_id"]).column(0).to_pylist())
    assert loaded == sorted(f"ok-{i}" for i in range(1, 12))
    rejected = open_table(EVENTS_REJECTED, lake_settings).read().to_pylist()
    codes = {(r["raw_path"].rsplit("/", 1)[-1], r["reason_code"]) for r in rejected}
    assert codes == {
        ("batch-json.ndjson", "invalid_json"),
        ("batch-empty.ndjson", "empty_file"),
        ("batch-missing.ndjson", "schema"),
        ("batch-type.ndjson", "schema"),
        ("batch-unknown.ndjson", "schema"),
        ("batch-payload.ndjson", "schema"),
        ("batch-big.ndjson", "too_large"),
        ("batch-mismatch.ndjson", "tenant_mismatch"),
        ("batch-unicode.ndjson", "invalid_utf8"),
        ("batch-truncated.ndjson", "truncated"),
        ("batch-x.ndjson", "invalid_tenant_folder"),
    }
    assert all(r["reason"] and r["excerpt"] is not None for r in rejected)
    assert max(len(r["excerpt"]) for r in rejected) <= lake_settings.rejected_excerpt_chars
    assert (report.files, report.accepted, report.rejected) == (12, 11, 11)
    assert check_files_reconcile(lake_settings, report).passed
    assert check_event_ids_unique(lake_settings, report).passed
    prompt = orjson.loads(
        open_table(EVENTS_ALL, lake_settings)
        .read(filters=[("event_id", "=", "ok-9")])
        .column("payload_json")[0]
        .as_py()
    )["prompt"]
    assert prompt == "naïve 世界 🦀 \u0000"
