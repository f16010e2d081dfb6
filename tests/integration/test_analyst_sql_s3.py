"""SQL for analysts on a lake in S3 (moto on 127.0.0.1): the locked connection still reads the bucket's tables."""

from __future__ import annotations

import pytest

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.analyst_sql import SqlRefusedError, open_analyst_sql
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import EVENTS_ALL
from tests.integration.test_lake_tables import DAY1, DAY2, events

pytestmark = pytest.mark.slow


@pytest.fixture(params=["delta", "iceberg"])
def s3_lake(request: pytest.FixtureRequest, s3_settings: Settings) -> Settings:
    return s3_settings.model_copy(update={"table_format": request.param})


def test_the_locked_connection_reads_the_bucket_tables_and_nothing_else(s3_lake: Settings) -> None:
    table = open_table(EVENTS_ALL, s3_lake)
    table.merge(events(DAY1, range(4)))
    table.merge(events(DAY2, range(6)))

    with open_analyst_sql(s3_lake) as session:
        assert set(session.views) == {"events_all"}
        rows = session.query("SELECT event_date, count(*) AS n FROM events_all GROUP BY ALL ORDER BY 1").rows()
        assert rows == [(DAY1, 4), (DAY2, 6)]
        with pytest.raises(SqlRefusedError, match="read_parquet"):
            session.query(f"SELECT * FROM read_parquet('{s3_lake.lake}/tables/events_all/*/*.parquet')")
        # Past the gate, the connection itself refuses a bucket path outside the tables' folders.
        with pytest.raises(Exception, match="disabled by configuration"):
            session.con.execute(f"SELECT * FROM read_csv('{s3_lake.lake}/raw/x.csv')")
