"""Bronze on an S3 lake: the moto S3 server on 127.0.0.1, real s3fs and object-store table writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.tables import EVENTS_ALL, EVENTS_REJECTED
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.simulator import SimulationConfig, simulate
from tests.factories import batch_path, write_raw

START = datetime(2026, 10, 1, tzinfo=UTC)


@pytest.mark.parametrize("table_format", ["delta", "iceberg"])
def test_simulated_traffic_on_s3_loads_exactly_and_a_late_foreign_file_needs_reconcile(s3_settings, table_format):
    settings = s3_settings.model_copy(update={"table_format": table_format})
    config = SimulationConfig(tenants=1, agents_per_tenant=2, traces=3, seed=4, start=START, hours=3)
    manifest = simulate(settings, config, now=START + timedelta(hours=4))
    report = run_bronze(settings, now=START + timedelta(hours=4, minutes=3))
    assert report.accepted == manifest.expected_events
    assert open_table(EVENTS_ALL, settings).count() == manifest.expected_events

    tenant, agent = manifest.tenant_ids[0], manifest.agent_ids[0]
    storage = LakeStorage(settings)
    ts = int(START.timestamp() * 1000) + 5
    write_raw(
        storage, batch_path(tenant, agent, ts, name="batch-foreign.ndjson"), b'{"not": "a record"}\n', arrival=False
    )
    assert run_bronze(settings, now=START + timedelta(hours=9)).files == 0
    swept = run_bronze(settings, now=START + timedelta(hours=9, minutes=3), reconcile=True)
    assert (swept.files, swept.rejected) == (1, 1)
    assert open_table(EVENTS_REJECTED, settings).count() == 1
