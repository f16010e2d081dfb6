"""The simulator: deterministic raw files in both layouts, valid records, exact manifests, late runs."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from clawtrace_pipelines.core.errors import ConfigError
from clawtrace_pipelines.core.events import EventType, RawRecord
from clawtrace_pipelines.core.lake.storage import LakeStorage, event_hour, hour_folder, parse_raw_path
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.simulator import Manifest, SimulationConfig, simulate
from clawtrace_pipelines.simulator.agents import build_agents, seeded
from clawtrace_pipelines.simulator.ids import between, iso_ms, uuid4_str
from clawtrace_pipelines.simulator.run import normal_traffic
from clawtrace_pipelines.simulator.writer import RawWriter
from tests.unit.simulated_lake import (
    NOW,
    START,
    arrival_records,
    distinct_events,
    is_shadow,
    payload,
    raw_files,
    read_deliveries,
    small_config,
)


def _run(lake: Path, config: SimulationConfig, now: datetime = NOW) -> Manifest:
    return simulate(Settings(lake=str(lake)), config, now=now)


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    lake = tmp_path_factory.mktemp("batched")
    return lake, _run(lake, small_config())


@pytest.fixture(scope="module")
def per_event(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Manifest]:
    lake = tmp_path_factory.mktemp("per-event")
    return lake, _run(lake, small_config(layout="per-event"))


def test_same_config_writes_byte_identical_raw_files(tmp_path: Path, batched: tuple[Path, Manifest]) -> None:
    lake, manifest = batched
    again = _run(tmp_path / "again", small_config(), now=datetime(2030, 1, 1, tzinfo=UTC))
    assert raw_files(tmp_path / "again") == raw_files(lake)
    assert again.to_dict() | {"arrival_records": []} == manifest.to_dict() | {"arrival_records": []}


def test_a_different_seed_writes_different_ids(tmp_path: Path, batched: tuple[Path, Manifest]) -> None:
    other = _run(tmp_path, small_config(seed=12, traces=1))
    assert not set(other.agent_ids) & set(batched[1].agent_ids)


def test_every_record_validates_against_the_contract(batched: tuple[Path, Manifest]) -> None:
    lake, _ = batched
    deliveries = read_deliveries(lake)
    assert deliveries
    for d in deliveries:
        record = RawRecord.model_validate(d.record)
        record.event.typed_payload()
        folder = parse_raw_path(d.path)
        assert folder.validate_ids() == (record.accountId, record.agentId)
        assert f"dt={folder.dt}/hr={folder.hr}" == hour_folder(event_hour(record.event.tsMs))
        assert record.receivedAt is not None and record.receivedAt.timestamp() * 1000 >= record.event.tsMs
        body = payload(d.event)
        assert body["pluginId"] == "clawtrace" and body["hook"]
        assert body["collectedAtIso"] == iso_ms(record.event.tsMs)


def test_batch_files_group_one_agents_hour_and_per_event_files_are_named_by_event_id(
    batched: tuple[Path, Manifest], per_event: tuple[Path, Manifest]
) -> None:
    for d in read_deliveries(batched[0]):
        assert parse_raw_path(d.path).name.startswith("batch-") and d.path.endswith(".ndjson")
    for d in read_deliveries(per_event[0]):
        assert d.path.endswith(f"/event-{d.event['eventId']}.json")


def test_batch_files_hold_at_most_max_lines(tmp_path: Path) -> None:
    config = small_config(tenants=1, agents_per_tenant=1, hours=1)
    agent = build_agents(config.seed, 1, 1)[0]
    storage = LakeStorage(Settings(lake=str(tmp_path)))
    with RawWriter(storage, "batched", seeded(1, "batches"), max_lines=50) as writer:
        for trace in normal_traffic(config, agent).traces(config.traces):
            writer.write(agent, trace.deliveries)
    lines = [data.count(b"\n") for data in raw_files(tmp_path).values()]
    assert max(lines) == 50 and sum(lines) == writer.deliveries
    assert {f.path: f.size for f in writer.files()} == {p: len(d) for p, d in raw_files(tmp_path).items()}


def test_manifest_counts_match_the_files_on_disk(batched: tuple[Path, Manifest]) -> None:
    lake, manifest = batched
    deliveries = read_deliveries(lake)
    events = distinct_events(deliveries)
    shadows = [e for e in events.values() if is_shadow(e)]
    assert manifest.deliveries == len(deliveries)
    assert manifest.files == len(raw_files(lake))
    assert manifest.exact_duplicate_deliveries == len(deliveries) - len(events) > 0
    assert manifest.shadow_duplicates == len(shadows) > 0
    assert manifest.expected_events == len(events) - len(shadows)
    assert manifest.events_by_type == {t.value: 0 for t in EventType} | Counter(e["eventType"] for e in events.values())
    assert manifest.payload_as_string == sum(isinstance(e["payload"], str) for e in events.values()) > 0
    assert manifest.extra_event_fields == sum("sdkVersion" in e for e in events.values()) > 0
    assert manifest.traces == len({e["traceId"] for e in events.values()})
    assert set(manifest.tenant_ids) == {d.record["accountId"] for d in deliveries}
    assert set(manifest.agent_ids) == {d.record["agentId"] for d in deliveries}
    assert manifest.tenants == 2 and manifest.agents == 4 and manifest.late_events == 0
    failed = [e for e in events.values() if e["eventType"] == "tool_after_call" and "error" in payload(e)]
    assert manifest.tool_errors == sum(not is_shadow(e) for e in failed) > 0


def test_manifest_is_stored_under_state(batched: tuple[Path, Manifest]) -> None:
    lake, manifest = batched
    stored = orjson.loads((lake / "state" / "simulator" / "manifest-seed-11.json").read_bytes())
    assert stored == manifest.to_dict()
    assert Manifest.from_dict(stored) == manifest


def test_arrival_record_lists_exactly_the_files_written(batched: tuple[Path, Manifest]) -> None:
    lake, manifest = batched
    (record,) = arrival_records(lake)
    assert manifest.arrival_records[0].startswith("raw/_arrivals/dt=2025-06-02/hr=03/")
    assert record["writer"] == "simulator" and record["arrived"] == NOW.isoformat()
    on_disk = {path: len(data) for path, data in raw_files(lake).items()}
    assert {f["path"]: f["size"] for f in record["files"]} == on_disk
    assert len(record["files"]) == len(on_disk)


def test_a_huge_run_splits_its_arrival_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("clawtrace_pipelines.simulator.run.ARRIVAL_MAX_FILES", 100)
    manifest = _run(tmp_path, small_config(tenants=1, layout="per-event"))
    records = arrival_records(tmp_path)
    assert len(records) == len(manifest.arrival_records) == -(-manifest.files // 100) > 1
    listed = [f["path"] for r in records for f in r["files"]]
    assert sorted(listed) == sorted(raw_files(tmp_path))


def test_per_event_and_batched_layouts_hold_the_same_events(
    batched: tuple[Path, Manifest], per_event: tuple[Path, Manifest]
) -> None:
    batch_events = distinct_events(read_deliveries(batched[0]))
    file_events = distinct_events(read_deliveries(per_event[0]))
    assert file_events == batch_events
    one, other = batched[1].to_dict(), per_event[1].to_dict()
    for volatile in ("layout", "files", "arrival_records"):
        one.pop(volatile), other.pop(volatile)
    assert one == other
    # A retried delivery rewrites its event's file: files = distinct events, deliveries count every write.
    assert per_event[1].files == len(file_events) == per_event[1].deliveries - per_event[1].exact_duplicate_deliveries
    (record,) = arrival_records(per_event[0])
    assert {f["path"] for f in record["files"]} == set(raw_files(per_event[0]))


@pytest.mark.parametrize("layout", ["batched", "per-event"])
def test_late_run_lands_in_old_hours_and_adds_exactly_its_expected_events(tmp_path: Path, layout: str) -> None:
    normal = _run(tmp_path, small_config(layout=layout))
    before = raw_files(tmp_path)
    later = datetime(2025, 6, 3, 9, tzinfo=UTC)
    late = _run(tmp_path, small_config(layout=layout, late=300), now=later)
    after = raw_files(tmp_path)
    written = {path for path, data in after.items() if before.get(path) != data}

    assert late.deliveries == late.late_events == 300
    assert sum(late.events_by_type.values()) + late.exact_duplicate_deliveries == late.deliveries
    assert late.expected_events == sum(late.events_by_type.values()) - late.shadow_duplicates
    assert late.redeliveries >= 30 and late.expected_events > 0
    assert late.agent_ids == normal.agent_ids and len(late.offline_agent_ids) == 2
    late_deliveries = read_deliveries(tmp_path, only=written)
    start_ms, end_ms = int(START.timestamp() * 1000), int(START.timestamp() * 1000) + 24 * 3_600_000
    assert all(start_ms <= d.event["tsMs"] < end_ms for d in late_deliveries)
    assert {d.record["agentId"] for d in late_deliveries} == set(late.offline_agent_ids)
    old_folders = {p.rsplit("/", 1)[0] for p in before}
    assert {p.rsplit("/", 1)[0] for p in written} & old_folders
    if layout == "batched":
        assert len(late_deliveries) == 300

    normal_ids = set(distinct_events(read_deliveries(tmp_path, only=set(before))))
    redelivered = {d.event["eventId"] for d in late_deliveries} & normal_ids
    assert redelivered and all(d.record["receivedAt"] > "2025-06-02" for d in late_deliveries)
    events = distinct_events(read_deliveries(tmp_path))
    assert sum(not is_shadow(e) for e in events.values()) == normal.expected_events + late.expected_events

    (record,) = [r for r in arrival_records(tmp_path) if r["arrived"] == later.isoformat()]
    assert {f["path"] for f in record["files"]} == written


def test_late_run_is_deterministic(tmp_path: Path) -> None:
    one = _run(tmp_path / "one", small_config(late=120))
    two = _run(tmp_path / "two", small_config(late=120))
    assert raw_files(tmp_path / "one") == raw_files(tmp_path / "two")
    assert one.run_label == "seed-11-late-120" and one.deliveries == two.deliveries == 120


def test_same_seed_keeps_tenant_and_agent_ids_when_adding_agents() -> None:
    small = build_agents(7, 2, 2)
    large = build_agents(7, 3, 4)
    assert [a.agent_id for a in small] == [a.agent_id for a in large if a.position[1] < 2 and a.position[0] < 2]
    assert len({a.agent_id for a in large}) == 12 and len({a.tenant_id for a in large}) == 3
    assert all(str(uuid.UUID(a.agent_id)) == a.agent_id for a in large)


def test_uuid4_str_matches_the_uuid_module() -> None:
    one, two = random.Random(3), random.Random(3)
    for _ in range(200):
        assert uuid4_str(one) == str(uuid.UUID(int=two.getrandbits(128), version=4))


def test_between_draws_every_value_of_its_closed_range() -> None:
    rng = random.Random(5)
    assert {between(rng, 3, 7) for _ in range(500)} == {3, 4, 5, 6, 7}


def test_iso_ms_matches_javascript_to_iso_string() -> None:
    ts = 1_748_781_677_064
    assert iso_ms(ts) == "2025-06-01T12:41:17.064Z"
    assert datetime.fromisoformat(iso_ms(ts)) == datetime.fromtimestamp(ts / 1000, UTC)


def test_config_refuses_naive_start_and_unknown_layout() -> None:
    with pytest.raises(ConfigError):
        SimulationConfig(start=datetime(2025, 6, 1))
    with pytest.raises(ConfigError):
        SimulationConfig(start=START, layout="zip")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        SimulationConfig(start=START, hours=0)


def test_empty_run_writes_no_arrival_record(tmp_path: Path) -> None:
    manifest = _run(tmp_path, small_config(traces=0))
    assert manifest.deliveries == manifest.files == manifest.expected_events == 0
    assert manifest.arrival_records == [] and not (tmp_path / "raw").exists()
