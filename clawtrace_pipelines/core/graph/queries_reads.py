"""The API's read queries (trace lists, costs, sessions), joined into the catalog by `queries.py`.

Plain `(name, description, cypher, params)` tuples, so this module imports nothing of `queries.py` (only the
shared parts in `queries_parts.py`) and the catalog keeps one definition of a query. The same rules hold (see
`queries.py`): `$tenant_id` on every start vertex, values as parameters, portable openCypher. Optional filters
travel as sentinels rather than nulls (`''` for "any id", `-1` for "either", `0` for "no minimum"), because
engines type a null parameter differently. Keyset pages end on a unique key: `sort_key` descending, then
`trace_id` descending.
"""

from __future__ import annotations

from clawtrace_pipelines.core.graph.queries_parts import FLAG as _FLAG
from clawtrace_pipelines.core.graph.queries_parts import ID as _ID
from clawtrace_pipelines.core.graph.queries_parts import LIMIT as _LIMIT
from clawtrace_pipelines.core.graph.queries_parts import MS as _MS
from clawtrace_pipelines.core.graph.queries_parts import NUM as _NUM
from clawtrace_pipelines.core.graph.queries_parts import OPT_ID as _OPT_ID
from clawtrace_pipelines.core.graph.queries_parts import TEXT as _TEXT
from clawtrace_pipelines.core.graph.queries_parts import TRACE_COLUMNS
from clawtrace_pipelines.core.graph.queries_parts import UUID as _UUID
from clawtrace_pipelines.core.graph.queries_parts import WINDOW as _WINDOW

# Larger than any sort key (epoch ms, USD, duration ms): the first page's `after_key`.
FIRST_PAGE_KEY = 9.0e18

_FILTERS = f"""{_WINDOW}
      AND ($agent_id = '' OR t.agent_id = $agent_id) AND ($category = '' OR t.category = $category)
      AND ($has_error < 0 OR t.has_error = $has_error) AND t.cost_usd >= $min_cost_usd"""
_FILTER_PARAMS = {
    "tenant_id": _UUID,
    "from_ms": _MS,
    "to_ms": _MS,
    "agent_id": _OPT_ID,
    "category": _OPT_ID,
    "has_error": _FLAG,
    "min_cost_usd": _NUM,
}
_MATCH_PLAIN = f"MATCH (t:Trace {{tenant_id: $tenant_id}})\n    WHERE {_FILTERS}"
# Traces with a span of the model, a tool call of the tool, or both: one variant per combination, so a filter
# left unset costs no pass over the spans; each pass is made distinct again (a trace counts once however
# many of its spans match).
_FROM_MODEL = "MATCH (t:Trace {tenant_id: $tenant_id})-[:HAS_SPAN]->(m:Span {model: $model})"
_FROM_TOOL = "MATCH (t:Trace {tenant_id: $tenant_id})-[:HAS_SPAN]->(u:Span {actor_type: 'tool_call', tool_name: $tool})"
_AND_TOOL = "\n    MATCH (t)-[:HAS_SPAN]->(u:Span {actor_type: 'tool_call', tool_name: $tool})\n    WITH DISTINCT t"
SPAN_VARIANTS: dict[str, tuple[str, str, dict[str, str]]] = {
    "_with_model": (_FROM_MODEL, "", {"model": _ID}),
    "_with_tool": (_FROM_TOOL, "", {"tool": _ID}),
    "_with_model_and_tool": (_FROM_MODEL, _AND_TOOL, {"model": _ID, "tool": _ID}),
}


def _span_match(suffix: str) -> str:
    first, then, _ = SPAN_VARIANTS[suffix]
    return f"{first}\n    WHERE {_FILTERS}\n    WITH DISTINCT t{then}"


_SORT_KEY = """CASE $sort WHEN 'cost' THEN 1.0 * t.cost_usd WHEN 'duration' THEN 1.0 * t.duration_ms
        ELSE 1.0 * t.trace_start_ts_ms END"""
_PAGE = f"""
    WITH t, {_SORT_KEY} AS sort_key
    WHERE sort_key < $after_key OR (sort_key = $after_key AND t.trace_id < $after_id)
    RETURN {TRACE_COLUMNS}, sort_key
    ORDER BY sort_key DESC, trace_id DESC
    LIMIT $limit"""
_PAGE_PARAMS = {"sort": _TEXT, "after_key": _NUM, "after_id": _OPT_ID, "limit": _LIMIT}

_DAYS = """
    RETURN t.trace_date AS day, count(t) AS traces, sum(t.total_input_tokens) AS input_tokens,
           sum(t.total_output_tokens) AS output_tokens, sum(t.total_cache_read_tokens) AS cache_read_tokens,
           sum(t.total_cache_write_tokens) AS cache_write_tokens, sum(t.total_tokens) AS total_tokens,
           sum(t.cost_usd) AS cost_usd, sum(t.llm_calls) AS llm_calls, sum(t.tool_calls) AS tool_calls,
           sum(t.unpriced_llm_calls) AS unpriced_llm_calls,
           sum(t.has_error) AS traces_with_errors, sum(t.error_count) AS errors, sum(t.duration_ms) AS duration_ms
    ORDER BY day"""

# Cost groups drawn from trace rows: the grouping expression of each.
TRACE_GROUPS = {
    "agent": "t.agent_id",
    "session": "coalesce(t.session_key, '')",
    "category": "t.category",
}
_GROUP_TOTALS = """count(t) AS traces, sum(t.llm_calls) AS calls, sum(t.total_input_tokens) AS input_tokens,
           sum(t.total_output_tokens) AS output_tokens, sum(t.total_cache_read_tokens) AS cache_read_tokens,
           sum(t.total_cache_write_tokens) AS cache_write_tokens, sum(t.total_tokens) AS total_tokens,
           sum(t.cost_usd) AS cost_usd, sum(t.unpriced_llm_calls) AS unpriced_calls"""
# Cost groups drawn from spans (of the traces started in the window, so totals agree with the trace groups).
SPAN_GROUPS = {"model": ("llm_call", "coalesce(s.model, '')"), "tool": ("tool_call", "coalesce(s.tool_name, '')")}
_SPAN_TOTALS = """count(DISTINCT t) AS traces, count(s) AS calls, sum(s.input_tokens) AS input_tokens,
           sum(s.output_tokens) AS output_tokens, sum(s.cache_read_tokens) AS cache_read_tokens,
           sum(s.cache_write_tokens) AS cache_write_tokens, sum(s.total_tokens) AS total_tokens,
           sum(s.cost_usd) AS cost_usd, sum(CASE WHEN s.cost_known THEN 0 ELSE 1 END) AS unpriced_calls"""
_COST_PARAMS = {"tenant_id": _UUID, "from_ms": _MS, "to_ms": _MS, "limit": _LIMIT}

_SESSION_WINDOW = {"tenant_id": _UUID, "agent_id": _OPT_ID, "from_ms": _MS, "to_ms": _MS}

Spec = tuple[str, str, str, dict[str, str]]


def _specs() -> list[Spec]:
    specs: list[Spec] = [
        (
            "traces_page",
            "A page of a tenant's traces started in [from_ms, to_ms) matching the filters, by `sort` descending.",
            _MATCH_PLAIN + _PAGE,
            {**_FILTER_PARAMS, **_PAGE_PARAMS},
        ),
        (
            "traces_days",
            "Per UTC day of a tenant's filtered traces: counts, tokens, cost, unpriced calls, errors, durations.",
            _MATCH_PLAIN + _DAYS,
            dict(_FILTER_PARAMS),
        ),
        (
            "sessions_page",
            "A tenant's OpenClaw sessions (traces sharing a session key) active in the window, latest first.",
            f"""
            MATCH (t:Trace {{tenant_id: $tenant_id}})
            WHERE {_WINDOW} AND t.session_key IS NOT NULL AND ($agent_id = '' OR t.agent_id = $agent_id)
            WITH t.session_key AS session_key, count(t) AS traces, count(DISTINCT t.agent_id) AS agents,
                 min(t.agent_id) AS agent_id, min(t.trace_start_ts_ms) AS first_start_ts_ms,
                 max(t.trace_end_ts_ms) AS last_end_ts_ms, sum(t.llm_calls) AS llm_calls,
                 sum(t.total_tokens) AS total_tokens, sum(t.cost_usd) AS cost_usd, sum(t.error_count) AS errors
            WHERE last_end_ts_ms < $after_ms OR (last_end_ts_ms = $after_ms AND session_key < $after_key)
            RETURN session_key, traces, agents, agent_id, first_start_ts_ms, last_end_ts_ms, llm_calls,
                   total_tokens, cost_usd, errors
            ORDER BY last_end_ts_ms DESC, session_key DESC
            LIMIT $limit
            """,
            {**_SESSION_WINDOW, "after_ms": _MS, "after_key": _TEXT, "limit": _LIMIT},
        ),
        (
            "session_traces",
            "The traces of one session started from `from_ms` on, in start order.",
            f"""
            MATCH (t:Trace {{tenant_id: $tenant_id, session_key: $session_key}})
            WHERE t.trace_start_ts_ms >= $from_ms
            RETURN {TRACE_COLUMNS}
            ORDER BY trace_start_ts_ms, trace_id
            LIMIT $limit
            """,
            {"tenant_id": _UUID, "session_key": _TEXT, "from_ms": _MS, "limit": _LIMIT},
        ),
        (
            "costs_by_day",
            "Cost per UTC day of the traces started in [from_ms, to_ms), unpriced LLM calls counted apart.",
            f"""
            MATCH (t:Trace {{tenant_id: $tenant_id}})
            WHERE {_WINDOW}
            RETURN t.trace_date AS key, {_GROUP_TOTALS}
            ORDER BY key
            LIMIT $limit
            """,
            dict(_COST_PARAMS),
        ),
    ]
    for suffix, (_, _, params) in SPAN_VARIANTS.items():
        which = suffix.removeprefix("_with_").replace("_and_", " and ")
        specs.append(
            (
                f"traces_page{suffix}",
                f"`traces_page` restricted to traces with a span of the given {which}.",
                _span_match(suffix) + _PAGE,
                {**_FILTER_PARAMS, **params, **_PAGE_PARAMS},
            )
        )
        specs.append(
            (
                f"traces_days{suffix}",
                f"`traces_days` restricted to traces with a span of the given {which}.",
                _span_match(suffix) + _DAYS,
                {**_FILTER_PARAMS, **params},
            )
        )
    for group, expression in TRACE_GROUPS.items():
        specs.append(
            (
                f"costs_by_{group}",
                f"Cost per {group} of the traces started in [from_ms, to_ms), costliest first.",
                f"""
            MATCH (t:Trace {{tenant_id: $tenant_id}})
            WHERE {_WINDOW}
            RETURN {expression} AS key, {_GROUP_TOTALS}
            ORDER BY cost_usd DESC, key
            LIMIT $limit
            """,
                dict(_COST_PARAMS),
            )
        )
    for group, (actor, expression) in SPAN_GROUPS.items():
        specs.append(
            (
                f"costs_by_{group}",
                f"Cost per {group} of the {actor} spans of the traces started in [from_ms, to_ms), costliest first.",
                f"""
            MATCH (t:Trace {{tenant_id: $tenant_id}})-[:HAS_SPAN]->(s:Span)
            WHERE {_WINDOW} AND s.actor_type = '{actor}'
            RETURN {expression} AS key, {_SPAN_TOTALS}
            ORDER BY cost_usd DESC, calls DESC, key
            LIMIT $limit
            """,
                dict(_COST_PARAMS),
            )
        )
    return specs


READ_QUERIES: tuple[Spec, ...] = tuple(_specs())
