"""The lake tables on S3 (moto on 127.0.0.1): merge, read and DuckDB, for Delta and for Iceberg."""

from __future__ import annotations

import boto3
import pytest

from clawtrace_pipelines.core.lake import MergeStats, open_table
from clawtrace_pipelines.core.lake.duck import connect
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL
from tests.conftest import S3_KEY, S3_SECRET
from tests.integration.test_lake_tables import DAY1, DAY2, events, sorted_rows

pytestmark = pytest.mark.slow


@pytest.fixture(params=["delta", "iceberg"])
def s3_lake(request: pytest.FixtureRequest, s3_settings: Settings) -> Settings:
    """An S3 lake in each format; Iceberg keeps its catalog in a local SQLite file, its files in the bucket."""
    return s3_settings.model_copy(update={"table_format": request.param})


def bucket_keys(settings: Settings) -> list[str]:
    bucket, prefix = settings.lake.removeprefix("s3://").split("/", 1)
    s3 = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name=settings.s3_region,
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def test_merge_and_read_round_trip_through_the_bucket(s3_lake: Settings) -> None:
    table = open_table(EVENTS_ALL, s3_lake)

    assert table.merge(events(DAY1, range(5))) == MergeStats(inserted=5, updated=0)
    assert table.merge(events(DAY2, range(5))) == MergeStats(inserted=5, updated=0)
    assert table.merge(events(DAY1, range(3, 7), payload='{"v":2}')) == MergeStats(inserted=2, updated=2)
    assert table.merge(events(DAY1, range(7)), update_matched=False) == MergeStats(0, 0)

    assert table.count() == 12
    day1 = table.read(["event_id", "payload_json"], [("event_date", "=", DAY1)])
    assert day1.num_rows == 7
    assert sorted(day1.column("payload_json").to_pylist()).count('{"v":2}') == 4
    assert table.read().schema == EVENTS_ALL.schema
    keys = bucket_keys(s3_lake)
    assert any(f"event_date={DAY2.isoformat()}/" in key and key.endswith(".parquet") for key in keys)


def test_duckdb_reads_the_bucket_tables_like_read(s3_lake: Settings) -> None:
    table = open_table(EVENTS_ALL, s3_lake)
    table.merge(events(DAY1, range(4)))
    table.merge(events(DAY2, range(6)))
    con = connect(s3_lake)

    ids = con.execute(
        f"SELECT list(event_id ORDER BY event_id) FROM {table.duckdb_source()} WHERE event_date = ?", [DAY2]
    ).fetchone()[0]

    assert ids == sorted(table.read(["event_id"], [("event_date", "=", DAY2)]).column("event_id").to_pylist())


def test_compact_and_vacuum_keep_bucket_rows(s3_lake: Settings) -> None:
    table = open_table(EVENTS_ALL, s3_lake)
    for i in range(6):
        table.merge(events(DAY1, [i]))
    before = sorted_rows(table.read())

    table.compact()
    table.vacuum(retain_hours=0)

    assert sorted_rows(table.read()).equals(before)
    assert table.delete([("event_id", "in", ["e-2026-11-20-0", "e-2026-11-20-1"])]) == 2
    assert table.count() == 4
