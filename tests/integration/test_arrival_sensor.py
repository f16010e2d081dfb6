"""The freshness sensor requests a tick when new arrival records land, once per batch of records, and never
while a tick is queued or running."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from clawtrace_pipelines.core.lake.storage import FileInfo, LakeStorage, write_arrival_record
from clawtrace_pipelines.lib.arrival_watch import new_arrivals
from clawtrace_pipelines.resources import LakehouseResource
from clawtrace_pipelines.sensors import tick_on_arrival


def _evaluate(instance: dg.DagsterInstance, lake: str, cursor: str | None) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"lakehouse": LakehouseResource(lake=lake)}
    )
    result = tick_on_arrival(context)
    assert isinstance(result, dg.SensorResult)
    return result


def test_sensor_requests_one_tick_per_new_arrivals_and_waits_for_a_running_tick(tmp_path):
    lake = str(tmp_path / "lake")
    storage = LakeStorage(LakehouseResource(lake=lake).settings())
    with dg.instance_for_test() as instance:
        idle = _evaluate(instance, lake, None)
        assert not idle.run_requests and idle.skip_reason

        write_arrival_record(storage, [FileInfo("raw/v1/x.ndjson", 1, None)], writer="api", arrived=datetime.now(UTC))
        first = _evaluate(instance, lake, None)
        assert len(first.run_requests) == 1 and first.cursor
        # Nothing newer than the cursor: no second tick for the same records.
        again = _evaluate(instance, lake, first.cursor)
        assert not again.run_requests

        write_arrival_record(storage, [FileInfo("raw/v1/y.ndjson", 1, None)], writer="api", arrived=datetime.now(UTC))
        busy_run = instance.add_run(
            dg.DagsterRun(job_name="lakehouse_tick", run_id="busy", status=dg.DagsterRunStatus.STARTED)
        )
        waiting = _evaluate(instance, lake, first.cursor)
        assert not waiting.run_requests and waiting.cursor is None
        instance.report_run_failed(busy_run)
        after = _evaluate(instance, lake, first.cursor)
        assert len(after.run_requests) == 1 and after.cursor > first.cursor


def test_records_across_the_hour_boundary_are_both_seen(tmp_path):
    storage = LakeStorage(LakehouseResource(lake=str(tmp_path / "lake")).settings())
    before = datetime(2026, 12, 1, 9, 59, 59, tzinfo=UTC)
    after = datetime(2026, 12, 1, 10, 0, 1, tzinfo=UTC)
    first = write_arrival_record(storage, [], writer="api", arrived=before)
    write_arrival_record(storage, [], writer="api", arrived=after)
    assert new_arrivals(storage, None, now=after)[0] == 2
    assert new_arrivals(storage, first, now=after)[0] == 1
