"""The SQL twins (DuckDB over the silver tables) of the read queries in `queries_reads.py`, joined into
`queries_sql.SQL`: the reference the catalog test checks both graph engines against."""

from __future__ import annotations

from clawtrace_pipelines.core.graph.queries_reads import SPAN_GROUPS

_TRACE_COLUMNS = """
    t.trace_id, t.agent_id, t.agent_name, t.session_key, t.trace_start_ts_ms, t.trace_end_ts_ms, t.duration_ms,
    t.event_count, t.llm_calls, t.tool_calls, t.subagents, t.total_input_tokens, t.total_output_tokens,
    t.total_cache_read_tokens, t.total_cache_write_tokens, t.total_tokens, t.cost_usd, t.unpriced_llm_calls,
    t.has_error, t.error_count, t.category, t.is_orphan"""

_WINDOW = "t.tenant_id = $tenant_id AND t.trace_start_ts_ms >= $from_ms AND t.trace_start_ts_ms < $to_ms"
_FILTERS = f"""{_WINDOW}
      AND ($agent_id = '' OR t.agent_id = $agent_id) AND ($category = '' OR t.category = $category)
      AND ($has_error < 0 OR t.has_error = $has_error) AND t.cost_usd >= $min_cost_usd"""
_HAS_MODEL = """
      AND EXISTS (SELECT 1 FROM {pg_spans} m
           WHERE m.tenant_id = t.tenant_id AND m.trace_id = t.trace_id AND m.model = $model)"""
_HAS_TOOL = """
      AND EXISTS (SELECT 1 FROM {pg_spans} u
           WHERE u.tenant_id = t.tenant_id AND u.trace_id = t.trace_id AND u.actor_type = 'tool_call'
             AND u.tool_name = $tool)"""
_SPAN_FILTERS = {
    "_with_model": _HAS_MODEL,
    "_with_tool": _HAS_TOOL,
    "_with_model_and_tool": _HAS_MODEL + _HAS_TOOL,
}

_SORT_KEY = """CASE $sort WHEN 'cost' THEN t.cost_usd::DOUBLE WHEN 'duration' THEN t.duration_ms::DOUBLE
        ELSE t.trace_start_ts_ms::DOUBLE END"""


def _page(where: str) -> str:
    return f"""
        SELECT * FROM (SELECT {_TRACE_COLUMNS}, {_SORT_KEY} AS sort_key FROM {{pg_traces}} t WHERE {where})
        WHERE sort_key < $after_key OR (sort_key = $after_key AND trace_id < $after_id)
        ORDER BY sort_key DESC, trace_id DESC
        LIMIT $limit"""


def _days(where: str) -> str:
    return f"""
        SELECT t.trace_date AS day, count(*) AS traces, sum(t.total_input_tokens) AS input_tokens,
               sum(t.total_output_tokens) AS output_tokens, sum(t.total_cache_read_tokens) AS cache_read_tokens,
               sum(t.total_cache_write_tokens) AS cache_write_tokens, sum(t.total_tokens) AS total_tokens,
               sum(t.cost_usd) AS cost_usd, sum(t.llm_calls) AS llm_calls, sum(t.tool_calls) AS tool_calls,
               sum(t.unpriced_llm_calls) AS unpriced_llm_calls, sum(t.has_error) AS traces_with_errors,
               sum(t.error_count) AS errors, sum(t.duration_ms) AS duration_ms
        FROM {{pg_traces}} t WHERE {where}
        GROUP BY t.trace_date ORDER BY day"""


_GROUP_TOTALS = """count(*) AS traces, sum(t.llm_calls) AS calls, sum(t.total_input_tokens) AS input_tokens,
               sum(t.total_output_tokens) AS output_tokens, sum(t.total_cache_read_tokens) AS cache_read_tokens,
               sum(t.total_cache_write_tokens) AS cache_write_tokens, sum(t.total_tokens) AS total_tokens,
               sum(t.cost_usd) AS cost_usd, sum(t.unpriced_llm_calls) AS unpriced_calls"""
_TRACE_GROUPS = {"agent": "t.agent_id", "session": "coalesce(t.session_key, '')", "category": "t.category"}


def _trace_group(expression: str) -> str:
    return f"""
        SELECT {expression} AS key, {_GROUP_TOTALS}
        FROM {{pg_traces}} t WHERE {_WINDOW}
        GROUP BY key ORDER BY cost_usd DESC, key
        LIMIT $limit"""


def _span_group(actor: str, expression: str) -> str:
    return f"""
        SELECT {expression} AS key, count(DISTINCT t.trace_id) AS traces, count(*) AS calls,
               sum(s.input_tokens) AS input_tokens, sum(s.output_tokens) AS output_tokens,
               sum(s.cache_read_tokens) AS cache_read_tokens, sum(s.cache_write_tokens) AS cache_write_tokens,
               sum(s.total_tokens) AS total_tokens, sum(s.cost_usd) AS cost_usd,
               sum(CASE WHEN s.cost_known THEN 0 ELSE 1 END) AS unpriced_calls
        FROM {{pg_traces}} t JOIN {{pg_spans}} s ON s.tenant_id = t.tenant_id AND s.trace_id = t.trace_id
        WHERE {_WINDOW} AND s.actor_type = '{actor}'
        GROUP BY key ORDER BY cost_usd DESC, calls DESC, key
        LIMIT $limit"""


READ_SQL: dict[str, str] = {
    "traces_page": _page(_FILTERS),
    "traces_days": _days(_FILTERS),
    **{f"traces_page{suffix}": _page(_FILTERS + where) for suffix, where in _SPAN_FILTERS.items()},
    **{f"traces_days{suffix}": _days(_FILTERS + where) for suffix, where in _SPAN_FILTERS.items()},
    "sessions_page": """
        SELECT * FROM (
            SELECT t.session_key, count(*) AS traces, count(DISTINCT t.agent_id) AS agents,
                   min(t.agent_id) AS agent_id, min(t.trace_start_ts_ms) AS first_start_ts_ms,
                   max(t.trace_end_ts_ms) AS last_end_ts_ms, sum(t.llm_calls) AS llm_calls,
                   sum(t.total_tokens) AS total_tokens, sum(t.cost_usd) AS cost_usd, sum(t.error_count) AS errors
            FROM {pg_traces} t
            WHERE t.tenant_id = $tenant_id AND t.trace_start_ts_ms >= $from_ms AND t.trace_start_ts_ms < $to_ms
              AND t.session_key IS NOT NULL AND ($agent_id = '' OR t.agent_id = $agent_id)
            GROUP BY t.session_key)
        WHERE last_end_ts_ms < $after_ms OR (last_end_ts_ms = $after_ms AND session_key < $after_key)
        ORDER BY last_end_ts_ms DESC, session_key DESC
        LIMIT $limit""",
    "session_traces": f"""
        SELECT {_TRACE_COLUMNS} FROM {{pg_traces}} t
        WHERE t.tenant_id = $tenant_id AND t.session_key = $session_key AND t.trace_start_ts_ms >= $from_ms
        ORDER BY t.trace_start_ts_ms, t.trace_id
        LIMIT $limit""",
    "costs_by_day": f"""
        SELECT t.trace_date AS key, {_GROUP_TOTALS}
        FROM {{pg_traces}} t WHERE {_WINDOW}
        GROUP BY key ORDER BY key
        LIMIT $limit""",
    **{f"costs_by_{group}": _trace_group(expression) for group, expression in _TRACE_GROUPS.items()},
    **{f"costs_by_{group}": _span_group(actor, expression) for group, (actor, expression) in SPAN_GROUPS.items()},
}
