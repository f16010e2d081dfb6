"""Each catalog query asked again in SQL of the silver tables (DuckDB): the reference the graph answers are
checked against in tests, and the baseline `bench/graph.py` measures the graph engines next to.

Table names in braces are replaced by trusted table expressions (`delta_scan(...)`, `iceberg_scan(...)`);
values are DuckDB named parameters (`$tenant_id`), exactly the catalog query's parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb

from clawtrace_pipelines.core.graph.queries import QUERIES, bind
from clawtrace_pipelines.core.graph.queries_reads_sql import READ_SQL
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import PG_AGENTS, PG_CHILD_OF_EDGES, PG_SPANS, PG_TRACES

_TRACE_COLUMNS = """
    t.trace_id, t.agent_id, t.agent_name, t.session_key, t.trace_start_ts_ms, t.trace_end_ts_ms, t.duration_ms,
    t.event_count, t.llm_calls, t.tool_calls, t.subagents, t.total_input_tokens, t.total_output_tokens,
    t.total_cache_read_tokens, t.total_cache_write_tokens, t.total_tokens, t.cost_usd, t.unpriced_llm_calls,
    t.has_error, t.error_count, t.category, t.is_orphan"""

_SPAN_COLUMNS = """
    s.span_id, s.parent_span_id, s.actor_type, s.actor_label, s.provider, s.model, s.tool_name, s.span_start_ts_ms,
    s.span_end_ts_ms, s.duration_ms, s.input_tokens, s.output_tokens, s.cache_read_tokens, s.cache_write_tokens,
    s.total_tokens, s.cost_usd, s.cost_known, s.has_error, s.error_message, s.event_count"""

_AGENT_TRACES = """
    FROM {pg_traces} t
    WHERE t.tenant_id = $tenant_id AND t.agent_id = $agent_id
      AND t.trace_start_ts_ms >= $from_ms AND t.trace_start_ts_ms < $to_ms"""

SQL: dict[str, str] = {
    "agents_of_tenant": """
        SELECT a.agent_id, a.agent_name, count(t.trace_id) AS traces, sum(t.total_tokens) AS total_tokens,
               sum(t.cost_usd) AS cost_usd, sum(t.error_count) AS errors, a.last_seen_ts_ms,
               sum(t.has_error) AS traces_with_errors, sum(t.total_input_tokens) AS input_tokens,
               sum(t.total_output_tokens) AS output_tokens, sum(t.unpriced_llm_calls) AS unpriced_llm_calls
        FROM {pg_agents} a LEFT JOIN {pg_traces} t ON t.tenant_id = a.tenant_id AND t.agent_id = a.agent_id
        WHERE a.tenant_id = $tenant_id
        GROUP BY a.agent_id, a.agent_name, a.last_seen_ts_ms
        ORDER BY a.agent_id""",
    "agent_trace_count": f"SELECT count(*) AS traces {_AGENT_TRACES}",
    "agent_trace_metrics": f"""
        SELECT count(*) AS traces, sum(t.total_input_tokens) AS input_tokens,
               sum(t.total_output_tokens) AS output_tokens, sum(t.total_tokens) AS total_tokens,
               sum(t.cost_usd) AS cost_usd,
               sum(t.has_error) AS traces_with_errors, sum(t.error_count) AS errors,
               avg(t.duration_ms) AS avg_duration_ms
        {_AGENT_TRACES}""",
    "agent_trace_trends": f"""
        SELECT t.trace_date AS day, count(*) AS traces, sum(t.total_tokens) AS total_tokens,
               sum(t.cost_usd) AS cost_usd, sum(t.error_count) AS errors
        {_AGENT_TRACES}
        GROUP BY t.trace_date ORDER BY day""",
    "agent_traces_page": f"""
        SELECT {_TRACE_COLUMNS}
        {_AGENT_TRACES} AND t.trace_start_ts_ms < $before_ms
        ORDER BY t.trace_start_ts_ms DESC, t.trace_id DESC
        LIMIT $limit""",
    "trace_meta": f"""
        SELECT {_TRACE_COLUMNS} FROM {{pg_traces}} t WHERE t.tenant_id = $tenant_id AND t.trace_id = $trace_id""",
    "trace_spans": f"""
        SELECT {_SPAN_COLUMNS} FROM {{pg_spans}} s WHERE s.tenant_id = $tenant_id AND s.trace_id = $trace_id
        ORDER BY s.span_start_ts_ms, s.span_id""",
    "span_children": f"""
        SELECT {_SPAN_COLUMNS}
        FROM {{pg_child_of_edges}} e
        JOIN {{pg_spans}} s ON s.tenant_id = e.tenant_id AND s.trace_id = e.trace_id AND s.span_id = e.span_id
        JOIN {{pg_spans}} p ON p.tenant_id = e.tenant_id AND p.trace_id = e.trace_id AND p.span_id = e.parent_span_id
        WHERE e.tenant_id = $tenant_id AND e.trace_id = $trace_id AND e.parent_span_id = $span_id
        ORDER BY s.span_start_ts_ms, s.span_id""",
    "trace_call_graph_actors": """
        SELECT s.actor_type, s.actor_label, count(*) AS invocations, sum(s.duration_ms) AS total_duration_ms,
               sum(s.cost_usd) AS cost_usd, sum(s.has_error) AS errors
        FROM {pg_spans} s WHERE s.tenant_id = $tenant_id AND s.trace_id = $trace_id
        GROUP BY s.actor_type, s.actor_label ORDER BY s.actor_type, s.actor_label""",
    "trace_call_graph_edges": """
        SELECT p.actor_type AS parent_type, p.actor_label AS parent_label, c.actor_type AS child_type,
               c.actor_label AS child_label, count(*) AS calls
        FROM {pg_child_of_edges} e
        JOIN {pg_spans} c ON c.tenant_id = e.tenant_id AND c.trace_id = e.trace_id AND c.span_id = e.span_id
        JOIN {pg_spans} p ON p.tenant_id = e.tenant_id AND p.trace_id = e.trace_id AND p.span_id = e.parent_span_id
        WHERE e.tenant_id = $tenant_id AND e.trace_id = $trace_id
        GROUP BY ALL ORDER BY parent_type, parent_label, child_type, child_label""",
    "most_expensive_spans": """
        SELECT s.trace_id, s.span_id, s.agent_id, s.model, s.input_tokens, s.cache_read_tokens,
               s.cache_write_tokens, s.output_tokens, s.cost_usd
        FROM {pg_spans} s
        WHERE s.tenant_id = $tenant_id AND s.actor_type = 'llm_call' AND s.cost_usd > 0
          AND s.span_start_ts_ms >= $from_ms AND s.span_start_ts_ms < $to_ms
        ORDER BY s.cost_usd DESC, s.trace_id, s.span_id
        LIMIT $limit""",
    "slowest_tools": """
        SELECT s.actor_label AS tool, count(*) AS calls, avg(s.duration_ms) AS avg_duration_ms,
               max(s.duration_ms) AS max_duration_ms
        FROM {pg_spans} s
        WHERE s.tenant_id = $tenant_id AND s.actor_type = 'tool_call'
          AND s.span_start_ts_ms >= $from_ms AND s.span_start_ts_ms < $to_ms
        GROUP BY tool ORDER BY avg_duration_ms DESC, tool
        LIMIT $limit""",
    "tools_by_failure_rate": """
        SELECT tool, calls, failures, 1.0 * failures / calls AS failure_rate FROM (
            SELECT s.actor_label AS tool, count(*) AS calls, sum(s.has_error) AS failures
            FROM {pg_spans} s
            WHERE s.tenant_id = $tenant_id AND s.actor_type = 'tool_call'
              AND s.span_start_ts_ms >= $from_ms AND s.span_start_ts_ms < $to_ms
            GROUP BY tool)
        ORDER BY failure_rate DESC, calls DESC, tool
        LIMIT $limit""",
    "session_token_growth": """
        SELECT t.trace_id, s.span_id, s.span_start_ts_ms, s.model, s.input_tokens, s.cache_read_tokens,
               s.cache_write_tokens, s.output_tokens, s.total_tokens
        FROM {pg_traces} t JOIN {pg_spans} s ON s.tenant_id = t.tenant_id AND s.trace_id = t.trace_id
        WHERE t.tenant_id = $tenant_id AND t.session_key = $session_key AND s.actor_type = 'llm_call'
          AND s.span_start_ts_ms >= $from_ms
        ORDER BY s.span_start_ts_ms, t.trace_id, s.span_id
        LIMIT $limit""",
    **READ_SQL,
}

assert set(SQL) == set(QUERIES), "every catalog query has its SQL twin"


def table_sources(settings: Settings) -> dict[str, str]:
    """The DuckDB table expressions of the silver tables the SQL reads."""
    return {
        spec.name: open_table(spec, settings).duckdb_source()
        for spec in (PG_AGENTS, PG_TRACES, PG_SPANS, PG_CHILD_OF_EDGES)
    }


def run_sql(
    con: duckdb.DuckDBPyConnection, sources: Mapping[str, str], name: str, **params: Any
) -> list[dict[str, Any]]:
    """The SQL twin of catalog query `name`, with the same validated parameters, as rows of dicts."""
    bind(name, params)  # the same validation as the graph query
    sql = SQL[name].format(**sources)
    cursor = con.execute(sql, {k: v for k, v in params.items() if f"${k}" in sql})
    columns = [d[0] for d in cursor.description or ()]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
