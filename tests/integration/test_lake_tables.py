"""The lake-table contract on real Delta and Iceberg tables in tmp_path (every test runs on both formats)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import deltalake
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyiceberg.table import Table

from clawtrace_pipelines.core.lake import LakeTable, MergeStats, open_table
from clawtrace_pipelines.core.lake.duck import connect
from clawtrace_pipelines.core.lake.iceberg import iceberg_catalog
from clawtrace_pipelines.core.lake.table import SchemaMismatchError
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL, SILVER_DEAD_LETTERS

TENANT_A = "0b7c3d1e-5f6a-4b8c-9d0e-1f2a3b4c5d6e"
TENANT_B = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
DAY1, DAY2, DAY3 = date(2026, 11, 20), date(2026, 11, 21), date(2026, 11, 22)
INGESTED = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def events(day: date, ids: range | list[int], *, tenant: str = TENANT_A, payload: str = "{}") -> pa.Table:
    """events_all rows of one day; payload_json lets a test tell versions of a row apart."""
    n = len(ids)
    ts_ms = int(datetime(day.year, day.month, day.day, 8, tzinfo=UTC).timestamp() * 1000)
    return pa.table(
        {
            "ingest_ts": [INGESTED] * n,
            "tenant_id": [tenant] * n,
            "agent_id": ["agent-1"] * n,
            "event_id": [f"e-{day.isoformat()}-{i}" for i in ids],
            "event_type": ["llm_after_call"] * n,
            "trace_id": [f"t-{i % 3}" for i in ids],
            "span_id": [f"s-{i}" for i in ids],
            "parent_span_id": [None if i % 2 else "root" for i in ids],
            "event_ts_ms": [ts_ms + i for i in ids],
            "event_date": [day] * n,
            "model_name": ["claude" if i % 2 else None for i in ids],
            "payload_json": [payload] * n,
            "raw_path": [f"raw/v1/{day}/batch.ndjson"] * n,
            "schema_version": pa.array([1] * n, pa.int32()),
        }
    )


def sorted_rows(table: pa.Table) -> pa.Table:
    return table.sort_by([("event_date", "ascending"), ("tenant_id", "ascending"), ("event_id", "ascending")])


@pytest.fixture
def table(lake_settings: Settings) -> LakeTable:
    return open_table(EVENTS_ALL, lake_settings)


@pytest.fixture
def three_days(table: LakeTable) -> LakeTable:
    for day in (DAY1, DAY2, DAY3):
        table.merge(events(day, range(10)))
    return table


def data_files(settings: Settings, day: date) -> list[Path]:
    """The Parquet files of one event_date partition, in either format's layout."""
    return sorted(Path(settings.lake_root).rglob(f"event_date={day.isoformat()}/*.parquet"))


def iceberg_table(settings: Settings) -> Table:
    return iceberg_catalog(settings).load_table((settings.iceberg_namespace, EVENTS_ALL.name))


def live_files(settings: Settings, day: date) -> list[str]:
    """The data files of one date that the current version references (local paths)."""
    if settings.table_format == "delta":
        uris = deltalake.DeltaTable(settings.lake_path("tables", EVENTS_ALL.name)).file_uris(
            file_pruning_predicate=[("event_date", "=", day)]
        )
    else:
        files = iceberg_table(settings).inspect.files()
        uris = [
            f["file_path"].removeprefix("file://")
            for f in files.select(["file_path", "partition"]).to_pylist()
            if f["partition"]["event_date"] == day
        ]
    return sorted(str(Path(u)) for u in uris)


def test_first_merge_creates_the_table_and_inserts_every_row(table: LakeTable) -> None:
    assert not table.exists()
    assert table.count() == 0
    assert table.version() is None

    stats = table.merge(events(DAY1, range(5)))

    assert stats == MergeStats(inserted=5, updated=0)
    assert table.exists()
    assert table.count() == 5
    assert table.version() is not None


def test_merge_of_new_rows_inserts_only_them(three_days: LakeTable) -> None:
    stats = three_days.merge(events(DAY2, range(8, 14)))

    # Rows 8 and 9 exist with the same values: not rewritten, not counted.
    assert stats == MergeStats(inserted=4, updated=0)
    assert three_days.count() == 34


def test_merge_rewrites_only_rows_that_changed_and_an_unchanged_merge_commits_nothing(three_days: LakeTable) -> None:
    version = three_days.version()
    assert three_days.merge(events(DAY2, range(0, 10))) == MergeStats(inserted=0, updated=0)
    assert three_days.version() == version

    changed = pa.concat_tables([events(DAY2, range(0, 8)), events(DAY2, [8, 9], payload='{"v": 2}')])
    assert three_days.merge(changed) == MergeStats(inserted=0, updated=2)
    rows = three_days.read(columns=["event_id", "payload_json"], filters=[("event_date", "=", DAY2)]).to_pylist()
    assert sorted(r["event_id"] for r in rows if r["payload_json"] == '{"v": 2}') == [
        f"e-{DAY2.isoformat()}-8",
        f"e-{DAY2.isoformat()}-9",
    ]


def test_merge_twice_leaves_table_identical(three_days: LakeTable) -> None:
    before = sorted_rows(three_days.read())

    upsert = three_days.merge(events(DAY2, range(10)))
    insert_only = three_days.merge(events(DAY2, range(10)), update_matched=False)

    assert upsert == MergeStats(inserted=0, updated=0)  # identical rows are not rewritten
    assert insert_only == MergeStats(inserted=0, updated=0)
    assert sorted_rows(three_days.read()).equals(before)


def test_insert_only_merge_without_new_rows_makes_no_commit(three_days: LakeTable) -> None:
    version = three_days.version()

    three_days.merge(events(DAY1, range(10)), update_matched=False)

    assert three_days.version() == version


def test_upsert_replaces_matched_rows(three_days: LakeTable) -> None:
    stats = three_days.merge(events(DAY3, [1, 2, 50], payload='{"v":2}'))

    assert stats == MergeStats(inserted=1, updated=2)
    day3 = three_days.read(["event_id", "payload_json"], [("event_date", "=", DAY3)]).to_pylist()
    payloads = {r["event_id"]: r["payload_json"] for r in day3}
    assert len(payloads) == 11
    assert payloads["e-2026-11-22-1"] == payloads["e-2026-11-22-50"] == '{"v":2}'
    assert payloads["e-2026-11-22-3"] == "{}"


def test_insert_only_merge_skips_matched_rows(three_days: LakeTable) -> None:
    stats = three_days.merge(events(DAY3, [1, 60], payload='{"v":2}'), update_matched=False)

    assert stats == MergeStats(inserted=1, updated=0)
    rows = three_days.read(["event_id", "payload_json"], [("event_id", "in", ["e-2026-11-22-1"])])
    assert rows.column("payload_json").to_pylist() == ["{}"]


def test_same_event_id_of_two_tenants_are_two_rows(three_days: LakeTable) -> None:
    stats = three_days.merge(events(DAY1, range(3), tenant=TENANT_B))

    assert stats == MergeStats(inserted=3, updated=0)
    assert three_days.read(filters=[("event_id", "=", "e-2026-11-20-0")]).num_rows == 2


def test_upsert_keeps_rows_that_share_key_values_with_the_source(three_days: LakeTable) -> None:
    three_days.merge(events(DAY1, range(3), tenant=TENANT_B))

    three_days.merge(events(DAY1, [0], tenant=TENANT_B, payload='{"v":2}'))

    rows = three_days.read(["tenant_id", "payload_json"], [("event_id", "=", "e-2026-11-20-0")])
    assert sorted(rows.to_pylist(), key=lambda r: r["tenant_id"]) == [
        {"tenant_id": TENANT_A, "payload_json": "{}"},
        {"tenant_id": TENANT_B, "payload_json": '{"v":2}'},
    ]
    assert three_days.count() == 33


def test_empty_merge_changes_nothing(three_days: LakeTable) -> None:
    version = three_days.version()

    assert three_days.merge(events(DAY1, [])) == MergeStats(0, 0)
    assert three_days.version() == version


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ([("event_date", "=", DAY2)], 10),
        ([("event_date", "!=", DAY2)], 20),
        ([("event_date", "<", DAY2)], 10),
        ([("event_date", "<=", DAY2)], 20),
        ([("event_date", ">", DAY2)], 10),
        ([("event_date", ">=", DAY2)], 20),
        ([("event_date", "in", [DAY1, DAY3])], 20),
        ([("event_date", "not in", [DAY1])], 20),
        ([("event_id", "in", ["e-2026-11-21-3", "e-2026-11-21-4", "nope"])], 2),
        ([("event_id", "not in", ["e-2026-11-21-3"])], 29),
        ([("event_ts_ms", ">=", int(datetime(2026, 11, 22, 8, tzinfo=UTC).timestamp() * 1000) + 5)], 5),
        ([("ingest_ts", "<", datetime(2026, 11, 23, tzinfo=UTC))], 30),
        ([("ingest_ts", "=", datetime(2026, 11, 22, 12))], 30),
        ([("model_name", "=", "claude")], 15),
        ([("event_date", "=", DAY2), ("trace_id", "in", ["t-0"]), ("span_id", "!=", "s-0")], 3),
        ([("event_id", "in", [])], 0),
        ([("event_id", "not in", [])], 30),
    ],
)
def test_read_returns_rows_matching_every_filter(three_days: LakeTable, filters, expected: int) -> None:
    assert three_days.read(filters=filters).num_rows == expected


def test_read_with_a_large_in_list_matches_exactly(three_days: LakeTable) -> None:
    wanted = [f"e-2026-11-21-{i}" for i in range(5000)]

    rows = three_days.read(["event_id"], [("event_id", "in", wanted), ("event_date", ">=", DAY2)])

    assert sorted(rows.column("event_id").to_pylist()) == sorted(wanted[:10])


def test_read_of_one_date_opens_only_that_dates_files(lake_settings: Settings, three_days: LakeTable) -> None:
    for path in data_files(lake_settings, DAY1) + data_files(lake_settings, DAY3):
        path.write_bytes(b"not parquet")

    rows = three_days.read(filters=[("event_date", "=", DAY2), ("span_id", "!=", "s-1")])

    assert rows.num_rows == 9


def test_merge_into_one_date_leaves_other_dates_files_untouched(lake_settings: Settings, three_days: LakeTable) -> None:
    untouched = data_files(lake_settings, DAY1) + data_files(lake_settings, DAY3)
    for path in untouched:
        path.write_bytes(b"not parquet")

    assert three_days.merge(events(DAY2, [3, 40], payload='{"v":2}')) == MergeStats(inserted=1, updated=1)
    assert three_days.merge(events(DAY2, [41]), update_matched=False) == MergeStats(inserted=1, updated=0)

    assert all(p.read_bytes() == b"not parquet" for p in untouched)
    assert three_days.read(filters=[("event_date", "=", DAY2)]).num_rows == 12


def test_read_result_has_the_spec_schema_in_both_formats(three_days: LakeTable) -> None:
    assert three_days.read().schema == EVENTS_ALL.schema
    projected = three_days.read(["payload_json", "event_date"], [("event_date", "=", DAY1)])
    assert projected.schema == pa.schema(
        [EVENTS_ALL.schema.field("payload_json"), EVENTS_ALL.schema.field("event_date")]
    )


def test_both_formats_store_and_return_identical_tables(tmp_path: Path) -> None:
    results = []
    for table_format in ("delta", "iceberg"):
        settings = Settings(lake=str(tmp_path / table_format), table_format=table_format)
        table = open_table(EVENTS_ALL, settings)
        table.merge(events(DAY1, range(6)))
        table.merge(events(DAY2, range(6)))
        results.append(sorted_rows(table.read()))
    assert results[0].schema == results[1].schema == EVENTS_ALL.schema
    assert results[0].equals(results[1])


def test_reading_a_missing_table_returns_no_rows_with_the_spec_schema(table: LakeTable) -> None:
    assert table.read(["event_id"], [("event_date", "=", DAY1)]).schema == pa.schema(
        [EVENTS_ALL.schema.field("event_id")]
    )
    assert table.read().num_rows == 0
    assert table.delete([("event_date", "=", DAY1)]) == 0


def test_missing_required_column_is_refused_by_name(table: LakeTable) -> None:
    with pytest.raises(SchemaMismatchError, match="'raw_path'"):
        table.merge(events(DAY1, range(2)).drop_columns(["raw_path"]))
    with pytest.raises(SchemaMismatchError, match="'tenant_id'"):
        table.merge(events(DAY1, range(2)).set_column(1, "tenant_id", pa.array([None, "x"], pa.string())))


def test_missing_nullable_columns_are_stored_as_nulls(table: LakeTable) -> None:
    table.merge(events(DAY1, range(2)).drop_columns(["model_name"]))

    assert table.read(["model_name", "received_at"]).to_pylist() == [{"model_name": None, "received_at": None}] * 2


def test_merge_refuses_data_that_repeats_a_key(table: LakeTable) -> None:
    with pytest.raises(SchemaMismatchError, match="repeats a key"):
        table.merge(pa.concat_tables([events(DAY1, [1]), events(DAY1, [1])]))


def test_unknown_filter_column_or_operator_is_refused(three_days: LakeTable) -> None:
    with pytest.raises(ValueError, match="unknown column"):
        three_days.read(filters=[("nope", "=", 1)])
    with pytest.raises(ValueError, match="operator"):
        three_days.read(filters=[("event_id", "like", "e%")])


def test_delete_removes_only_matching_rows(three_days: LakeTable) -> None:
    assert three_days.delete([("event_date", "=", DAY1), ("span_id", "in", ["s-1", "s-2"])]) == 2
    assert three_days.delete([("event_date", "=", DAY3)]) == 10
    assert three_days.delete([("event_id", "=", "nope")]) == 0

    assert three_days.count() == 18
    assert three_days.read(filters=[("event_date", "=", DAY1)]).num_rows == 8


def test_every_commit_advances_the_version(three_days: LakeTable) -> None:
    first = three_days.version()
    three_days.merge(events(DAY1, [99]))
    second = three_days.version()
    three_days.delete([("event_id", "=", "e-2026-11-20-99")])

    assert len({first, second, three_days.version()}) == 3


def test_compact_merges_small_files_and_keeps_rows(lake_settings: Settings, three_days: LakeTable) -> None:
    for i in range(6):
        three_days.merge(events(DAY2, [100 + i]))
    before = sorted_rows(three_days.read())
    files_before = live_files(lake_settings, DAY2)
    day1_files = live_files(lake_settings, DAY1)

    three_days.compact()

    assert sorted_rows(three_days.read()).equals(before)
    assert three_days.count() == 36
    assert len(files_before) >= 7
    assert len(live_files(lake_settings, DAY2)) == 1
    # A partition that already is one file is left alone.
    assert live_files(lake_settings, DAY1) == day1_files


def test_vacuum_keeps_current_rows_readable(lake_settings: Settings, three_days: LakeTable) -> None:
    three_days.merge(events(DAY1, range(5), payload='{"v":2}'))
    three_days.compact()
    before = sorted_rows(three_days.read())

    three_days.vacuum(retain_hours=0)

    assert sorted_rows(three_days.read()).equals(before)
    if lake_settings.table_format == "delta":
        # Files no version needs are gone from disk.
        on_disk = {str(p) for day in (DAY1, DAY2, DAY3) for p in data_files(lake_settings, day)}
        assert on_disk == {f for day in (DAY1, DAY2, DAY3) for f in live_files(lake_settings, day)}
    else:
        assert len(iceberg_table(lake_settings).snapshots()) == 1
    assert three_days.merge(events(DAY1, [77])) == MergeStats(inserted=1, updated=0)


def test_vacuum_respects_the_retention(lake_settings: Settings, three_days: LakeTable) -> None:
    three_days.merge(events(DAY1, range(5), payload='{"v":2}'))
    files = {str(p) for p in data_files(lake_settings, DAY1)}
    history = None if lake_settings.table_format == "delta" else iceberg_table(lake_settings).snapshots()

    three_days.vacuum(retain_hours=1)

    assert {str(p) for p in data_files(lake_settings, DAY1)} == files
    assert len(files) >= 2  # the replaced file is still on disk
    if history is not None:
        assert iceberg_table(lake_settings).snapshots() == history


def test_duckdb_reads_the_same_rows_as_read(three_days: LakeTable, lake_settings: Settings) -> None:
    con = connect(lake_settings)

    ids, total = con.execute(
        f"SELECT list(event_id ORDER BY event_id), sum(event_ts_ms) FROM {three_days.duckdb_source()} "
        "WHERE event_date = ?",
        [DAY2],
    ).fetchone()

    expected = three_days.read(["event_id", "event_ts_ms"], [("event_date", "=", DAY2)])
    assert ids == sorted(expected.column("event_id").to_pylist())
    assert total == pc.sum(expected.column("event_ts_ms")).as_py()


def test_duckdb_source_of_a_new_table_reads_empty(table: LakeTable, lake_settings: Settings) -> None:
    con = connect(lake_settings)

    assert con.sql(f"SELECT count(*) FROM {table.duckdb_source()}").fetchone() == (0,)


def test_unpartitioned_table_merges_and_compacts(lake_settings: Settings) -> None:
    letters = open_table(SILVER_DEAD_LETTERS, lake_settings)
    rows = [
        {
            "tenant_id": f"t{i % 3}",
            "trace_id": f"trace-{i}",
            "min_ts_ms": i,
            "max_ts_ms": i,
            "failed_at": INGESTED,
            "node": "test.clawtrace.unique",
            "reason": "repeated key",
            "failing_rows": 1,
        }
        for i in range(9)
    ]
    for row in rows:
        letters.merge(pa.Table.from_pylist([row]))
    assert letters.merge(pa.Table.from_pylist(rows[:2] + [{**rows[0], "trace_id": "trace-100"}])) == MergeStats(1, 0)

    letters.compact()

    assert letters.count() == 10
    assert letters.read(filters=[("tenant_id", "=", "t0")]).num_rows == 4


def test_concurrent_merges_into_one_date_never_duplicate_keys(lake_settings: Settings, three_days: LakeTable) -> None:
    writers = [open_table(EVENTS_ALL, lake_settings) for _ in range(2)]
    batches = [events(DAY2, range(5, 25)), events(DAY2, range(15, 35))]

    with ThreadPoolExecutor(max_workers=2) as pool:
        stats = list(pool.map(lambda wb: wb[0].merge(wb[1], update_matched=False), zip(writers, batches, strict=True)))

    assert sum(s.inserted for s in stats) == 25
    ids = three_days.read(["event_id"], [("event_date", "=", DAY2)]).column("event_id").to_pylist()
    assert len(ids) == len(set(ids)) == 35


def test_concurrent_first_merges_create_the_table_once(lake_settings: Settings) -> None:
    writers = [open_table(EVENTS_ALL, lake_settings) for _ in range(3)]
    batches = [events(DAY1, range(i, i + 10)) for i in (0, 5, 10)]

    with ThreadPoolExecutor(max_workers=3) as pool:
        stats = list(pool.map(lambda wb: wb[0].merge(wb[1], update_matched=False), zip(writers, batches, strict=True)))

    assert sum(s.inserted for s in stats) == 20
    assert writers[0].count() == 20


def test_quotes_in_values_and_paths_are_escaped(tmp_path: Path, table_format: str) -> None:
    settings = Settings(lake=str(tmp_path / "o'lake"), table_format=table_format)
    table = open_table(EVENTS_ALL, settings)
    table.merge(events(DAY1, range(3)).set_column(12, "raw_path", pa.array(["it's"] * 3)))

    assert table.read(filters=[("raw_path", "=", "it's")]).num_rows == 3
    assert table.delete([("raw_path", "in", ["x' OR '1'='1"])]) == 0
    assert connect(settings).sql(f"SELECT count(*) FROM {table.duckdb_source()}").fetchone() == (3,)


def test_read_with_a_huge_in_set_filters_after_the_scan_with_the_same_result(table: LakeTable) -> None:
    table.merge(events(DAY1, range(3000)))
    wanted = [f"e-{DAY1.isoformat()}-{i}" for i in range(0, 3000, 2)] + [f"absent-{i}" for i in range(5000)]
    got = table.read(["event_id"], [("event_date", "=", DAY1), ("event_id", "in", wanted)])
    assert sorted(got.column("event_id").to_pylist()) == sorted(wanted[:1500])
    assert got.schema == pa.schema([EVENTS_ALL.schema.field("event_id")])
    assert table.read(["event_id"], [("event_id", "not in", wanted)]).num_rows == 1500


def test_append_if_unchanged_appends_as_the_next_version(three_days: LakeTable) -> None:
    version = three_days.version()
    assert three_days.append_if_unchanged(events(DAY1, range(10, 15)), version)
    assert three_days.count() == 35
    assert three_days.version() != version


def test_append_if_unchanged_writes_nothing_once_the_table_has_moved(three_days: LakeTable, lake_settings) -> None:
    stale = three_days.version()
    other_writer = open_table(EVENTS_ALL, lake_settings)
    other_writer.merge(events(DAY2, range(10, 12)))
    assert not three_days.append_if_unchanged(events(DAY2, range(10, 12)), stale)
    assert three_days.count() == 32
    assert not three_days.append_if_unchanged(events(DAY3, range(20, 21)), None)


def test_append_if_unchanged_loses_a_race_against_a_commit_made_after_its_check(
    three_days: LakeTable, lake_settings
) -> None:
    version = three_days.version()
    loaded = three_days.read(["event_id"])  # the caller's "keys are absent" check, at `version`
    assert loaded.num_rows == 30
    open_table(EVENTS_ALL, lake_settings).merge(events(DAY1, range(50, 51)))
    assert not three_days.append_if_unchanged(events(DAY1, range(50, 51)), version)
    assert three_days.count() == 31


def test_delta_refuses_a_retry_free_append_on_a_stale_version(tmp_path) -> None:
    """What `DeltaTable.append_if_unchanged` relies on when another commit lands between its check and commit."""
    uri = str(tmp_path / "t")
    deltalake.write_deltalake(uri, pa.table({"a": [1]}))
    stale = deltalake.DeltaTable(uri)
    deltalake.write_deltalake(uri, pa.table({"a": [2]}), mode="append")
    with pytest.raises(deltalake.exceptions.CommitFailedError):
        deltalake.write_deltalake(
            stale,
            pa.table({"a": [3]}),
            mode="append",
            commit_properties=deltalake.CommitProperties(max_commit_retries=0),
        )
    assert deltalake.DeltaTable(uri).version() == 1
