"""Metering records: what a line must hold, and that a file can only charge the tenant of its folder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from clawtrace_pipelines.core.errors import InvalidIdError
from clawtrace_pipelines.core.metering import (
    Category,
    MeterRecordError,
    folder_tenant,
    meter_file_path,
    new_record,
    parse_record,
)

TENANT = str(uuid.UUID(int=7))
OTHER = str(uuid.UUID(int=8))


def test_a_record_round_trips_through_its_line():
    record = new_record(TENANT, Category.TRACE_LIST_QUERY, 3, datetime(2026, 1, 1, 10, 5, tzinfo=UTC))
    assert parse_record(record.line(), TENANT) == record


@pytest.mark.parametrize(
    "change",
    [
        {"tenant_id": OTHER},
        {"category": "free_lunch"},
        {"quantity": -1},
        {"quantity": 1.5},
        {"quantity": True},
        {"id": "../../etc"},
        {"ts": "2026-01-01T10:00:00"},
    ],
)
def test_a_bad_line_is_refused(change):
    line = orjson.loads(new_record(TENANT, Category.TRACE_LIST_QUERY, 1).line())
    with pytest.raises(MeterRecordError):
        parse_record(orjson.dumps({**line, **change}), TENANT)


def test_metering_paths_hold_a_validated_tenant_and_the_write_hour():
    path = meter_file_path(TENANT, datetime(2026, 1, 2, 3, 4, tzinfo=UTC))
    assert path.startswith(f"raw/metering/v1/tenant={TENANT}/dt=2026-01-02/hr=03/meter-")
    assert folder_tenant(path) == TENANT
    with pytest.raises(InvalidIdError):
        meter_file_path("../x", datetime.now(UTC))
    with pytest.raises(InvalidIdError):
        folder_tenant("raw/metering/v1/tenant=../dt=2026-01-02/hr=03/meter-x.ndjson")
