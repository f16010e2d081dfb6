"""The analyst SQL gate on its own (no lake): what it translates, which tables it reports, what it refuses."""

from __future__ import annotations

import subprocess
import sys

import pytest

from clawtrace_pipelines.core.lake.analyst_sql_guard import (
    SqlRefusedError,
    SqlSyntaxError,
    check_query,
    to_duckdb,
)

VIEWS = {"pg_spans", "pg_traces", "events_all"}


def test_spark_sql_is_written_as_duckdb_sql_with_the_original_three_part_names_dropped():
    sql = to_duckdb("SELECT NVL(`model`, '-') AS m FROM clawtrace.silver.`pg_spans` LIMIT 5", "spark", VIEWS)
    assert sql == 'SELECT COALESCE("model", \'-\') AS m FROM "pg_spans" LIMIT 5'


def test_the_tables_a_query_reads_are_its_lake_views_not_its_ctes():
    checked = check_query(
        "WITH pg_traces AS (SELECT 1 AS x) SELECT * FROM pg_traces, pg_spans s JOIN EVENTS_ALL e USING (span_id)",
        "duckdb",
        VIEWS,
    )
    assert checked.tables == {"pg_spans", "events_all"}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "table function read_csv()"),
        ("SELECT * FROM 'data/file.csv'", "is a file path or URL"),
        ("SELECT * FROM pg_spans, glob('/etc/*')", "table function glob()"),
        ("SELECT getenv('HOME') AS home", "function getenv()"),
        ("SELECT * FROM pg_spans WHERE span_id IN (SELECT * FROM read_parquet('x.parquet'))", "read_parquet()"),
        ("SELECT * FROM pg_spans; DROP TABLE pg_spans", "exactly one statement"),
        ("COPY pg_spans TO '/tmp/x.csv'", "COPY is not a read"),
        ("DESCRIBE pg_spans", "DESCRIBE is not a read"),
        ("SELECT * FROM model_prices", "model_prices has not been written yet"),
        ("SELECT * FROM secrets", "unknown table secrets"),
    ],
)
def test_the_gate_refuses_with_a_message_naming_what(sql: str, message: str):
    with pytest.raises(SqlRefusedError, match="refused") as refused:
        check_query(sql, "duckdb", VIEWS)
    assert message in str(refused.value)


def test_a_query_that_does_not_parse_is_a_syntax_error_without_terminal_escapes():
    with pytest.raises(SqlSyntaxError) as error:
        check_query("SELECT (", "trino", VIEWS)
    assert "\x1b[" not in str(error.value)
    with pytest.raises(SqlSyntaxError, match="empty"):
        check_query(" ; ", "duckdb", VIEWS)


def test_the_analyst_sql_kernel_loads_without_dagster():
    code = (
        "import sys, clawtrace_pipelines.core.lake.analyst_sql; "
        "print([m for m in ('dagster', 'dbt') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("table", ["csv.`/etc/passwd`", "parquet.`s3://bucket/key`", "delta.`/tmp/elsewhere`"])
def test_spark_path_tables_are_refused_as_file_paths(table: str):
    with pytest.raises(SqlRefusedError, match="is a file path or URL"):
        check_query(f"SELECT * FROM {table}", "spark", VIEWS)
