"""The freshness sensor: a tick as soon as a writer we own (the ingest API, the simulator) lands files.

Every few seconds it lists at most two arrival-hour folders; when records newer than its cursor exist and no
tick is queued or running, it requests one. The 3-minute schedule stays as the backstop (foreign writers,
clocks behind). An idle lake costs two listings per evaluation and no run.
"""

from __future__ import annotations

import dagster as dg

from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.jobs import lakehouse_tick
from clawtrace_pipelines.lib.arrival_watch import new_arrivals
from clawtrace_pipelines.resources import LakehouseResource

SENSOR_INTERVAL_SECONDS = 5
_ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]


@dg.sensor(
    name="lakehouse_tick_on_arrival",
    job=lakehouse_tick,
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Runs the tick as soon as new arrival records land (at most one tick queued or running).",
)
def tick_on_arrival(context: dg.SensorEvaluationContext, lakehouse: LakehouseResource) -> dg.SensorResult:
    storage = LakeStorage(lakehouse.settings())
    count, newest = new_arrivals(storage, context.cursor)
    if not count:
        return dg.SensorResult(skip_reason="no new arrival records")
    busy = context.instance.get_run_records(
        filters=dg.RunsFilter(job_name=lakehouse_tick.name, statuses=_ACTIVE), limit=1
    )
    if busy:
        # Keep the cursor: the records are asked about again once that tick has finished.
        return dg.SensorResult(skip_reason=f"{count} new arrival record(s); a tick is already queued or running")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=newest, tags={"clawtrace/trigger": "arrival"})], cursor=newest
    )
