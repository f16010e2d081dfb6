"""What the catalog's query modules share: parameter kinds, the trace columns every trace query returns, and
the start-time window (`queries.py` and `queries_reads.py` both build on these)."""

from __future__ import annotations

# Parameter kinds: how `queries.bind` validates a value before it reaches any engine.
UUID, ID, MS, LIMIT, TEXT = "uuid", "id", "ms", "limit", "text"
# Optional filters as sentinels (queries_reads.py): an id or '' (any), -1/0/1 (either, no, yes), a finite
# number >= 0.
OPT_ID, FLAG, NUM = "opt_id", "flag", "num"

TRACE_COLUMNS = """
    t.trace_id AS trace_id, t.agent_id AS agent_id, t.agent_name AS agent_name, t.session_key AS session_key,
    t.trace_start_ts_ms AS trace_start_ts_ms, t.trace_end_ts_ms AS trace_end_ts_ms, t.duration_ms AS duration_ms,
    t.event_count AS event_count, t.llm_calls AS llm_calls, t.tool_calls AS tool_calls, t.subagents AS subagents,
    t.total_input_tokens AS total_input_tokens, t.total_output_tokens AS total_output_tokens,
    t.total_cache_read_tokens AS total_cache_read_tokens, t.total_cache_write_tokens AS total_cache_write_tokens,
    t.total_tokens AS total_tokens, t.cost_usd AS cost_usd, t.unpriced_llm_calls AS unpriced_llm_calls,
    t.has_error AS has_error, t.error_count AS error_count, t.category AS category, t.is_orphan AS is_orphan"""

WINDOW = "t.trace_start_ts_ms >= $from_ms AND t.trace_start_ts_ms < $to_ms"
