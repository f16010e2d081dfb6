"""`clawtrace sql` over a real lake: the three output formats, exit code 2 on a refusal or a SQL error, the
interactive prompt with its history, and the Dagster resource that gives assets the same views."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from clawtrace_pipelines.cli import app
from clawtrace_pipelines.core.lake.analyst_sql import open_analyst_sql
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.definitions import build_definitions
from clawtrace_pipelines.resources import AnalystDuckDBResource
from tests.integration.analyst_lake import shared_lake

QUERY = (
    "SELECT coalesce(model, '(none)') AS model, count(*) AS spans, sum(total_tokens) AS tokens "
    "FROM pg_spans GROUP BY ALL ORDER BY spans DESC, model"
)


@pytest.fixture
def lake(tmp_path_factory: pytest.TempPathFactory, table_format: str) -> Settings:
    return shared_lake(tmp_path_factory, table_format)


def _sql(lake: Settings, *args: str, input: str | None = None):
    return CliRunner().invoke(
        app, ["sql", *args, "--lake", lake.lake, "--table-format", lake.table_format], input=input
    )


def _expected(lake: Settings) -> list[tuple]:
    with open_analyst_sql(lake) as session:
        return session.query(QUERY).rows()


def test_table_output_is_aligned_with_a_header_and_a_row_count(lake: Settings):
    expected = _expected(lake)
    result = _sql(lake, QUERY)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [c.strip() for c in lines[0].split("|")] == ["model", "spans", "tokens"]
    assert set(lines[1]) <= {"-", "+"}
    body = lines[2:-1]
    assert len({line.index("|") for line in body + lines[:1]}) == 1  # columns line up
    assert [tuple(c.strip() for c in line.split("|")) for line in body] == [(m, str(s), str(t)) for m, s, t in expected]
    assert lines[-1] == f"({len(expected)} rows)"


def test_csv_output_parses_back_to_the_rows(lake: Settings):
    result = _sql(lake, QUERY, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["model", "spans", "tokens"]
    assert [tuple(r) for r in rows[1:]] == [(m, str(s), str(t)) for m, s, t in _expected(lake)]


def test_json_output_is_one_object_per_line(lake: Settings):
    result = _sql(lake, QUERY, "--format", "json")
    assert result.exit_code == 0, result.output
    objects = [json.loads(line) for line in result.output.splitlines()]
    # Sums of BIGINT are HUGEINT (Decimal in Python): JSON numbers all the same.
    assert objects == [{"model": m, "spans": s, "tokens": int(t)} for m, s, t in _expected(lake)]
    assert all(isinstance(o["tokens"], int) for o in objects)


def test_a_spark_query_runs_with_dialect_spark(lake: Settings):
    spark = "SELECT NVL(`model`, '(none)') AS model FROM clawtrace.silver.pg_spans LIMIT 1"
    result = _sql(lake, spark, "--dialect", "spark", "--format", "csv")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "model"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "refused: table function read_csv()"),
        ("COPY (SELECT 1) TO '/tmp/x.csv'", "refused: COPY is not a read"),
        ("SELECT no_such_column FROM pg_spans", "no_such_column"),
        ("SELECT FROM WHERE (", "not valid duckdb SQL"),
    ],
)
def test_a_refusal_or_a_sql_error_exits_2_with_the_message(lake: Settings, sql: str, message: str):
    result = _sql(lake, sql)
    assert result.exit_code == 2
    assert message in result.stderr


def test_an_unknown_dialect_or_format_is_a_usage_error(lake: Settings):
    assert _sql(lake, "SELECT 1", "--dialect", "cobol").exit_code == 2
    assert "--format" in _sql(lake, "SELECT 1", "--format", "xml").output


def test_the_prompt_runs_statements_ending_with_a_semicolon_and_keeps_history(lake: Settings):
    session = (
        "SELECT 41 + 1\n  AS answer;\n.tables\nSELECT * FROM read_csv('/etc/passwd');\nSELECT 'after' AS x;\n.quit\n"
    )
    result = _sql(lake, "--format", "csv", input=session)
    assert result.exit_code == 0, result.output
    assert "answer\n42" in result.output
    assert "pg_spans" in result.output and "events_all" in result.output
    assert "refused: table function read_csv()" in result.stderr
    assert "x\nafter" in result.output  # a refusal does not end the session
    history = Path(lake.lake_path("state", "sql_history")).read_text()
    assert "SELECT 41 + 1" in history


def test_the_dagster_resource_yields_a_connection_with_the_lake_views(lake: Settings):
    resource = AnalystDuckDBResource(lake=lake.lake, table_format=lake.table_format)
    with resource.get_connection() as con:
        assert con.execute("SELECT count(*) FROM pg_spans").fetchone()[0] == len(_all_spans(lake))
        with pytest.raises(Exception, match="disabled by configuration"):
            con.execute("SELECT * FROM read_csv('/etc/passwd')")

    @dg.asset
    def spans_per_tenant(analyst_duckdb: AnalystDuckDBResource) -> dict[str, int]:
        with analyst_duckdb.get_connection() as con:
            return dict(con.execute("SELECT tenant_id, count(*) FROM pg_spans GROUP BY ALL").fetchall())

    result = dg.materialize([spans_per_tenant], resources={"analyst_duckdb": resource})
    assert result.success
    assert sum(result.output_for_node("spans_per_tenant").values()) == len(_all_spans(lake))


def _all_spans(lake: Settings) -> list[tuple]:
    with open_analyst_sql(lake) as session:
        return session.query("SELECT span_key FROM pg_spans").rows()


def test_definitions_register_the_analyst_duckdb_resource():
    resources = build_definitions().resources
    assert isinstance(resources["analyst_duckdb"], AnalystDuckDBResource)
