"""SQL for analysts over a real lake (Delta and Iceberg): the same question in Spark SQL and in DuckDB SQL gets
the same answer, every lake table is a view by its name, and nothing but a read of those views runs."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.analyst_sql import (
    SqlExecutionError,
    SqlRefusedError,
    SqlSyntaxError,
    check_query,
    lake_view_sources,
    open_analyst_sql,
)
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import ALL_TABLES, EVENTS_ALL
from tests.integration.analyst_lake import shared_lake
from tests.integration.test_lake_tables import DAY1, DAY2, events


@pytest.fixture
def lake(tmp_path_factory: pytest.TempPathFactory, table_format: str) -> Settings:
    return shared_lake(tmp_path_factory, table_format)


# (Spark SQL in the original's style, the same question in DuckDB SQL). Each must return several rows.
SAME_QUESTION = {
    "spend_by_model": (
        """SELECT NVL(`model`, '(none)') AS model, COUNT(*) AS calls, SUM(`input_tokens`) AS input_tokens,
                  ROUND(SUM(cost_usd), 6) AS usd
           FROM clawtrace.silver.`pg_spans` WHERE actor_type = 'llm_call'
           GROUP BY NVL(`model`, '(none)') ORDER BY calls DESC, model LIMIT 10""",
        """SELECT coalesce(model, '(none)') AS model, count(*) AS calls, sum(input_tokens) AS input_tokens,
                  round(sum(cost_usd), 6) AS usd
           FROM pg_spans WHERE actor_type = 'llm_call'
           GROUP BY ALL ORDER BY calls DESC, model LIMIT 10""",
    ),
    "events_per_hour": (
        """SELECT date_trunc('HOUR', ingest_ts) AS ingest_hour, event_ts_ms DIV 3600000 AS event_hour,
                  event_type, COUNT(DISTINCT trace_id) AS traces, COUNT(1) AS events
           FROM events_all GROUP BY 1, 2, 3 ORDER BY event_hour, event_type LIMIT 100""",
        """SELECT date_trunc('hour', ingest_ts) AS ingest_hour, event_ts_ms // 3600000 AS event_hour,
                  event_type, count(DISTINCT trace_id) AS traces, count(*) AS events
           FROM events_all GROUP BY ALL ORDER BY event_hour, event_type LIMIT 100""",
    ),
    # The original's job 20: agent name from session_start, token totals from llm_after_call usage.
    "usage_from_payloads": (
        """SELECT tenant_id, get_json_object(payload_json, '$.agentName') AS agent_name,
                  IF(lower(substr(payload_json, 1, 2000)) LIKE '%heartbeat%', 'Heartbeat', 'Work') AS category,
                  COUNT(*) AS sessions
           FROM events_all WHERE event_type = 'session_start'
           GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
        """SELECT tenant_id, json_extract_string(payload_json, '$.agentName') AS agent_name,
                  CASE WHEN lower(payload_json[1:2000]) LIKE '%heartbeat%' THEN 'Heartbeat' ELSE 'Work' END
                      AS category,
                  count(*) AS sessions
           FROM events_all WHERE event_type = 'session_start'
           GROUP BY ALL ORDER BY 1, 2, 3""",
    ),
    "tokens_by_tenant": (
        """SELECT e.tenant_id, SUM(CAST(get_json_object(e.payload_json, '$.usage.input') AS BIGINT)) AS input_tokens,
                  COUNT(DISTINCT t.trace_id) AS traces
           FROM events_all e JOIN pg_traces t ON t.tenant_id = e.tenant_id AND t.trace_id = e.trace_id
           WHERE e.event_type = 'llm_after_call' GROUP BY e.tenant_id ORDER BY e.tenant_id""",
        """SELECT e.tenant_id, sum(CAST(e.payload_json ->> '$.usage.input' AS BIGINT)) AS input_tokens,
                  count(DISTINCT t.trace_id) AS traces
           FROM events_all AS e JOIN pg_traces AS t USING (tenant_id, trace_id)
           WHERE e.event_type = 'llm_after_call' GROUP BY ALL ORDER BY e.tenant_id""",
    ),
}


@pytest.mark.parametrize("question", sorted(SAME_QUESTION))
def test_spark_and_duckdb_sql_answer_the_same_question_identically(lake: Settings, question: str):
    spark, duck = SAME_QUESTION[question]
    with open_analyst_sql(lake) as session:
        from_spark = session.query(spark, "spark")
        from_databricks = session.query(spark, "databricks")
        from_duckdb = session.query(duck, "duckdb")
    assert from_spark.table.num_rows > 1
    assert from_spark.columns == from_duckdb.columns
    assert from_spark.rows() == from_duckdb.rows()
    assert from_databricks.rows() == from_duckdb.rows()


def test_every_existing_lake_table_is_a_view_by_its_name(lake: Settings):
    with open_analyst_sql(lake) as session:
        assert set(session.views) <= set(ALL_TABLES)
        assert {"events_all", "pg_spans", "pg_traces", "pg_agents", "processed_files"} <= set(session.views)
        for name in session.views:
            counted = session.query(f"SELECT count(*) AS n FROM {name}").rows()[0][0]
            assert counted >= 0
        assert session.query("SELECT count(*) FROM pg_spans").rows()[0][0] > 0


def test_a_lake_with_no_tables_has_no_views_and_creates_none(tmp_path: Path, table_format: str):
    settings = Settings(lake=str(tmp_path / "lake"), table_format=table_format)
    assert lake_view_sources(settings) == {}
    assert not (tmp_path / "lake" / "tables").exists()
    with open_analyst_sql(settings) as session, pytest.raises(SqlRefusedError, match="pg_spans has not been written"):
        session.query("SELECT * FROM pg_spans")


REFUSED = {
    "read_csv('/etc/passwd')": ("SELECT * FROM read_csv('/etc/passwd')", "read_csv()"),
    "read_parquet": ("SELECT * FROM read_parquet('/tmp/*.parquet')", "read_parquet()"),
    "read_json": ("SELECT * FROM read_json_auto('/etc/x.json')", "read_json"),
    "glob": ("SELECT * FROM glob('/etc/*')", "glob()"),
    # Not on any deny list: refused because only generators (range, unnest) may stand in a FROM.
    "sniff_csv": ("SELECT * FROM sniff_csv('/etc/passwd')", "table function sniff_csv()"),
    "duckdb_settings": ("SELECT * FROM duckdb_settings()", "table function duckdb_settings()"),
    "delta_scan of a non-lake path": ("SELECT * FROM delta_scan('/tmp/elsewhere')", "delta_scan()"),
    "iceberg_scan of a non-lake path": ("SELECT * FROM iceberg_scan('/tmp/m.json')", "iceberg_scan()"),
    "query() of SQL text": ("SELECT * FROM query('SELECT 1')", "query()"),
    "a quoted file path as a table": ("SELECT * FROM 'passwd.csv'", "'passwd.csv' is a file path"),
    "an http URL as a table": ("SELECT * FROM 'https://example.com/x.parquet'", "is a file path or URL"),
    "a file read in a subquery": ("SELECT (SELECT count(*) FROM read_text('/etc/hosts'))", "read_text()"),
    "getenv": ("SELECT getenv('HOME')", "getenv()"),
    "COPY TO": ("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY is not a read"),
    "ATTACH": ("ATTACH '/tmp/other.duckdb' AS other", "ATTACH is not a read"),
    "DETACH": ("DETACH other", "DETACH is not a read"),
    "INSTALL": ("INSTALL httpfs", "INSTALL is not a read"),
    "LOAD": ("LOAD httpfs", "LOAD is not a read"),
    "PRAGMA": ("PRAGMA database_list", "PRAGMA is not a read"),
    "SET": ("SET enable_external_access = true", "SET is not a read"),
    "RESET": ("RESET threads", "RESET is not a read"),
    "CALL": ("CALL pragma_version()", "CALL is not a read"),
    "EXPORT": ("EXPORT DATABASE '/tmp/dump'", "EXPORT is not a read"),
    "IMPORT": ("IMPORT DATABASE '/tmp/dump'", "IMPORT is not a read"),
    "DDL": ("CREATE TABLE stolen AS SELECT * FROM pg_spans", "CREATE is not a read"),
    "DROP": ("DROP VIEW pg_spans", "DROP is not a read"),
    "DML": ("DELETE FROM pg_spans", "DELETE is not a read"),
    "INSERT": ("INSERT INTO pg_spans SELECT * FROM pg_spans", "INSERT is not a read"),
    "SELECT INTO": ("SELECT * INTO stolen FROM pg_spans", "SELECT ... INTO"),
    "two statements": ("SELECT 1; SELECT 2", "exactly one statement"),
    "a read then a write": ("SELECT 1; DROP VIEW pg_spans", "exactly one statement"),
    "an unknown table": ("SELECT * FROM information_schema.tables", "unknown table information_schema.tables"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_anything_but_a_read_of_the_lake_views_is_refused_with_its_name(lake: Settings, case: str):
    sql, message = REFUSED[case]
    with open_analyst_sql(lake) as session:
        with pytest.raises(SqlRefusedError, match="refused") as refused:
            session.query(sql)
        assert message in str(refused.value)
        assert session.query("SELECT count(*) FROM pg_spans").rows()[0][0] > 0  # the views are intact


def test_a_data_modifying_cte_is_refused_in_postgres_dialect(lake: Settings):
    with open_analyst_sql(lake) as session, pytest.raises(SqlRefusedError, match="DELETE is not a read"):
        session.query("WITH gone AS (DELETE FROM pg_spans RETURNING *) SELECT * FROM gone", "postgres")


def test_the_connection_itself_refuses_files_outside_the_lake_and_setting_changes(lake: Settings, tmp_path: Path):
    """Defence in depth: SQL sent past the gate, straight to DuckDB, still cannot leave the lake's tables."""
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    with open_analyst_sql(lake) as session:
        con = session.con
        for sql in (
            f"SELECT * FROM read_csv('{outside}')",
            "SELECT * FROM read_csv('/etc/passwd')",
            f"COPY (SELECT 1) TO '{tmp_path / 'x.csv'}'",
            f"ATTACH '{tmp_path / 'other.duckdb'}'",
            "SET enable_external_access = true",
            "SET allowed_directories = ['/']",
        ):
            with pytest.raises(duckdb.Error):
                con.execute(sql)
        assert not (tmp_path / "x.csv").exists()
        assert not (tmp_path / "other.duckdb").exists()
        assert con.execute("SELECT count(*) FROM pg_spans").fetchone()[0] > 0


def test_a_bad_query_is_a_syntax_or_execution_error_not_a_crash(lake: Settings):
    with open_analyst_sql(lake) as session:
        with pytest.raises(SqlExecutionError, match="no_such_column"):
            session.query("SELECT no_such_column FROM pg_spans")
        with pytest.raises(SqlSyntaxError, match="not valid spark SQL"):
            session.query("SELECT FROM WHERE (", "spark")
        with pytest.raises(ValueError, match="unknown dialect"):
            session.query("SELECT 1", "cobol")


def test_generators_ctes_and_set_operations_are_reads(lake: Settings):
    with open_analyst_sql(lake) as session:
        assert session.query("SELECT * FROM range(3)").rows() == [(0,), (1,), (2,)]
        assert session.query("VALUES (1, 'a')").rows() == [(1, "a")]
        cte = "WITH s AS (SELECT span_id FROM pg_spans) SELECT count(*) FROM s UNION ALL SELECT 1 ORDER BY 1"
        assert len(session.query(cte).rows()) == 2
        assert session.query("SELECT 1 AS a;").columns == ["a"]


def test_a_one_off_query_opens_only_the_tables_it_reads(lake: Settings):
    checked = check_query(
        "WITH s AS (SELECT * FROM pg_spans) SELECT * FROM s JOIN clawtrace.silver.pg_traces USING (trace_id)",
        "spark",
        ALL_TABLES,
    )
    assert checked.tables == {"pg_spans", "pg_traces"}
    with open_analyst_sql(lake, tables=checked.tables) as session:
        assert set(session.views) == {"pg_spans", "pg_traces"}
        assert session.query(checked.sql).table.num_rows > 0
        with pytest.raises(SqlRefusedError, match="events_all has not been written"):
            session.query("SELECT * FROM events_all")


def test_iceberg_locations_read_from_the_sqlite_catalog_are_pyicebergs(tmp_path_factory: pytest.TempPathFactory):
    lake = shared_lake(tmp_path_factory, "iceberg")
    fast = lake_view_sources(lake)
    assert fast and all(source.startswith("iceberg_scan(") for source in fast.values())
    assert fast == {
        name: open_table(spec, lake).duckdb_source()
        for name, spec in ALL_TABLES.items()
        if open_table(spec, lake).exists()
    }


def test_a_commit_after_the_lake_was_read_shows_in_the_next_session(tmp_path: Path, table_format: str):
    settings = Settings(lake=str(tmp_path / "lake"), table_format=table_format)
    table = open_table(EVENTS_ALL, settings)
    table.merge(events(DAY1, range(3)))
    with open_analyst_sql(settings) as session:
        assert session.query("SELECT count(*) FROM events_all").rows() == [(3,)]
    table.merge(events(DAY2, range(5)))
    with open_analyst_sql(settings) as session:
        assert session.query("SELECT count(*) FROM events_all").rows() == [(8,)]
