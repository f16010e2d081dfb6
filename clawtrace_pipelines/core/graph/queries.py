"""Every Cypher query the API and Tracy rely on, named and parameterized, in one place.

Rules each query keeps, so one text runs on the embedded engine (LadybugDB), on PuppyGraph, Neo4j and FalkorDB:

- values travel as parameters, never inside the text; the caller's tenant is always `$tenant_id`, matched on
  every vertex the query starts from, so a query cannot reach another tenant's data;
- vertices are found by their attributes, never by `id()` or `elementId()`: a trace or span by its key
  (`trace_key` = `tenant_id/trace_id`, the primary key, an index lookup), which `bind` derives from the validated
  ids, plus `tenant_id` again;
- portable openCypher only: no date functions (times are epoch-ms integers, days are compared as the
  `trace_date` value), no percentiles, no map projections; ordering always ends on a unique key so pages are
  deterministic; `LIMIT` takes a parameter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clawtrace_pipelines.core.events import check_safe_id, check_uuid
from clawtrace_pipelines.core.graph.client import GraphClient, Row
from clawtrace_pipelines.core.graph.queries_parts import (
    FLAG,
    ID,
    LIMIT,
    MS,
    NUM,
    OPT_ID,
    TEXT,
    TRACE_COLUMNS,
    UUID,
    WINDOW,
)
from clawtrace_pipelines.core.graph.queries_reads import READ_QUERIES

MAX_LIMIT = 500
# Vertex keys built from validated ids (definition.py: `tenant_id/agent_id`, `tenant_id/trace_id/span_id`).
DERIVED_KEYS = {
    "agent_key": ("tenant_id", "agent_id"),
    "trace_key": ("tenant_id", "trace_id"),
    "span_key": ("tenant_id", "trace_id", "span_id"),
}


@dataclass(frozen=True)
class CatalogQuery:
    """A named query: its Cypher text and the parameters it takes (name -> kind)."""

    name: str
    description: str
    cypher: str
    params: Mapping[str, str]


_SPAN_COLUMNS = """
    s.span_id AS span_id, s.parent_span_id AS parent_span_id, s.actor_type AS actor_type,
    s.actor_label AS actor_label, s.provider AS provider, s.model AS model, s.tool_name AS tool_name,
    s.span_start_ts_ms AS span_start_ts_ms, s.span_end_ts_ms AS span_end_ts_ms, s.duration_ms AS duration_ms,
    s.input_tokens AS input_tokens, s.output_tokens AS output_tokens, s.cache_read_tokens AS cache_read_tokens,
    s.cache_write_tokens AS cache_write_tokens, s.total_tokens AS total_tokens, s.cost_usd AS cost_usd,
    s.cost_known AS cost_known, s.has_error AS has_error, s.error_message AS error_message,
    s.event_count AS event_count"""

_AGENT_WINDOW = {"tenant_id": UUID, "agent_id": ID, "from_ms": MS, "to_ms": MS}

QUERIES: dict[str, CatalogQuery] = {
    q.name: q
    for q in (
        CatalogQuery(
            "agents_of_tenant",
            "A tenant's agents with their trace count, tokens, cost, errors and last activity.",
            """
            MATCH (:Tenant {tenant_id: $tenant_id})-[:HAS_AGENT]->(a:Agent)
            OPTIONAL MATCH (a)-[:OWNS]->(t:Trace)
            RETURN a.agent_id AS agent_id, a.agent_name AS agent_name, count(t) AS traces,
                   sum(t.total_tokens) AS total_tokens, sum(t.cost_usd) AS cost_usd,
                   sum(t.error_count) AS errors, a.last_seen_ts_ms AS last_seen_ts_ms,
                   sum(t.has_error) AS traces_with_errors, sum(t.total_input_tokens) AS input_tokens,
                   sum(t.total_output_tokens) AS output_tokens, sum(t.unpriced_llm_calls) AS unpriced_llm_calls
            ORDER BY agent_id
            """,
            {"tenant_id": UUID},
        ),
        CatalogQuery(
            "agent_trace_count",
            "How many traces an agent started in [from_ms, to_ms).",
            f"""
            MATCH (a:Agent {{agent_key: $agent_key, tenant_id: $tenant_id}})-[:OWNS]->(t:Trace)
            WHERE {WINDOW}
            RETURN count(t) AS traces
            """,
            _AGENT_WINDOW,
        ),
        CatalogQuery(
            "agent_trace_metrics",
            "Totals over an agent's traces in [from_ms, to_ms): tokens, cost, errors, mean duration.",
            f"""
            MATCH (a:Agent {{agent_key: $agent_key, tenant_id: $tenant_id}})-[:OWNS]->(t:Trace)
            WHERE {WINDOW}
            RETURN count(t) AS traces, sum(t.total_input_tokens) AS input_tokens,
                   sum(t.total_output_tokens) AS output_tokens, sum(t.total_tokens) AS total_tokens,
                   sum(t.cost_usd) AS cost_usd, sum(t.has_error) AS traces_with_errors,
                   sum(t.error_count) AS errors, avg(t.duration_ms) AS avg_duration_ms
            """,
            _AGENT_WINDOW,
        ),
        CatalogQuery(
            "agent_trace_trends",
            "Per day (the trace's UTC date) of an agent's traces in [from_ms, to_ms): traces, tokens, cost, errors.",
            f"""
            MATCH (a:Agent {{agent_key: $agent_key, tenant_id: $tenant_id}})-[:OWNS]->(t:Trace)
            WHERE {WINDOW}
            RETURN t.trace_date AS day, count(t) AS traces, sum(t.total_tokens) AS total_tokens,
                   sum(t.cost_usd) AS cost_usd, sum(t.error_count) AS errors
            ORDER BY day
            """,
            _AGENT_WINDOW,
        ),
        CatalogQuery(
            "agent_traces_page",
            "A page of an agent's traces in [from_ms, to_ms), newest first; `before_ms` pages back in time.",
            f"""
            MATCH (a:Agent {{agent_key: $agent_key, tenant_id: $tenant_id}})-[:OWNS]->(t:Trace)
            WHERE {WINDOW} AND t.trace_start_ts_ms < $before_ms
            RETURN {TRACE_COLUMNS}
            ORDER BY trace_start_ts_ms DESC, trace_id DESC
            LIMIT $limit
            """,
            {**_AGENT_WINDOW, "before_ms": MS, "limit": LIMIT},
        ),
        CatalogQuery(
            "trace_meta",
            "One trace's row.",
            f"""
            MATCH (t:Trace {{trace_key: $trace_key, tenant_id: $tenant_id}})
            RETURN {TRACE_COLUMNS}
            """,
            {"tenant_id": UUID, "trace_id": ID},
        ),
        CatalogQuery(
            "trace_spans",
            "Every span of one trace, in start order.",
            f"""
            MATCH (t:Trace {{trace_key: $trace_key, tenant_id: $tenant_id}})-[:HAS_SPAN]->(s:Span)
            RETURN {_SPAN_COLUMNS}
            ORDER BY span_start_ts_ms, span_id
            """,
            {"tenant_id": UUID, "trace_id": ID},
        ),
        CatalogQuery(
            "span_children",
            "The direct children of one span, in start order.",
            f"""
            MATCH (s:Span)-[:CHILD_OF]->(p:Span {{span_key: $span_key, tenant_id: $tenant_id}})
            RETURN {_SPAN_COLUMNS}
            ORDER BY span_start_ts_ms, span_id
            """,
            {"tenant_id": UUID, "trace_id": ID, "span_id": ID},
        ),
        CatalogQuery(
            "trace_call_graph_actors",
            "The actors of one trace (kind and label: a model, a tool, a sub-agent) with invocations, cost, errors.",
            """
            MATCH (t:Trace {trace_key: $trace_key, tenant_id: $tenant_id})-[:HAS_SPAN]->(s:Span)
            RETURN s.actor_type AS actor_type, s.actor_label AS actor_label, count(s) AS invocations,
                   sum(s.duration_ms) AS total_duration_ms, sum(s.cost_usd) AS cost_usd, sum(s.has_error) AS errors
            ORDER BY actor_type, actor_label
            """,
            {"tenant_id": UUID, "trace_id": ID},
        ),
        CatalogQuery(
            "trace_call_graph_edges",
            "Who called whom in one trace: parent actor -> child actor with the number of calls.",
            """
            MATCH (t:Trace {trace_key: $trace_key, tenant_id: $tenant_id})-[:HAS_SPAN]->(c:Span)-[:CHILD_OF]->(p:Span)
            RETURN p.actor_type AS parent_type, p.actor_label AS parent_label, c.actor_type AS child_type,
                   c.actor_label AS child_label, count(c) AS calls
            ORDER BY parent_type, parent_label, child_type, child_label
            """,
            {"tenant_id": UUID, "trace_id": ID},
        ),
        CatalogQuery(
            "most_expensive_spans",
            "The costliest LLM calls of a tenant in [from_ms, to_ms).",
            """
            MATCH (s:Span {tenant_id: $tenant_id, actor_type: 'llm_call'})
            WHERE s.span_start_ts_ms >= $from_ms AND s.span_start_ts_ms < $to_ms AND s.cost_usd > 0
            RETURN s.trace_id AS trace_id, s.span_id AS span_id, s.agent_id AS agent_id, s.model AS model,
                   s.input_tokens AS input_tokens, s.cache_read_tokens AS cache_read_tokens,
                   s.cache_write_tokens AS cache_write_tokens, s.output_tokens AS output_tokens,
                   s.cost_usd AS cost_usd
            ORDER BY cost_usd DESC, trace_id, span_id
            LIMIT $limit
            """,
            {"tenant_id": UUID, "from_ms": MS, "to_ms": MS, "limit": LIMIT},
        ),
        CatalogQuery(
            "slowest_tools",
            "A tenant's tools by mean duration in [from_ms, to_ms), with call counts and the longest call.",
            """
            MATCH (s:Span {tenant_id: $tenant_id, actor_type: 'tool_call'})
            WHERE s.span_start_ts_ms >= $from_ms AND s.span_start_ts_ms < $to_ms
            RETURN s.actor_label AS tool, count(s) AS calls, avg(s.duration_ms) AS avg_duration_ms,
                   max(s.duration_ms) AS max_duration_ms
            ORDER BY avg_duration_ms DESC, tool
            LIMIT $limit
            """,
            {"tenant_id": UUID, "from_ms": MS, "to_ms": MS, "limit": LIMIT},
        ),
        CatalogQuery(
            "tools_by_failure_rate",
            "A tenant's tools by share of failed calls in [from_ms, to_ms).",
            """
            MATCH (s:Span {tenant_id: $tenant_id, actor_type: 'tool_call'})
            WHERE s.span_start_ts_ms >= $from_ms AND s.span_start_ts_ms < $to_ms
            WITH s.actor_label AS tool, count(s) AS calls, sum(s.has_error) AS failures
            RETURN tool, calls, failures, 1.0 * failures / calls AS failure_rate
            ORDER BY failure_rate DESC, calls DESC, tool
            LIMIT $limit
            """,
            {"tenant_id": UUID, "from_ms": MS, "to_ms": MS, "limit": LIMIT},
        ),
        CatalogQuery(
            "session_token_growth",
            "A session's LLM calls (its session key) from `from_ms` on, in order: how the context grows.",
            """
            MATCH (t:Trace {tenant_id: $tenant_id, session_key: $session_key})-[:HAS_SPAN]->(s:Span)
            WHERE s.actor_type = 'llm_call' AND s.span_start_ts_ms >= $from_ms
            RETURN t.trace_id AS trace_id, s.span_id AS span_id, s.span_start_ts_ms AS span_start_ts_ms,
                   s.model AS model, s.input_tokens AS input_tokens, s.cache_read_tokens AS cache_read_tokens,
                   s.cache_write_tokens AS cache_write_tokens, s.output_tokens AS output_tokens,
                   s.total_tokens AS total_tokens
            ORDER BY span_start_ts_ms, trace_id, span_id
            LIMIT $limit
            """,
            # A long-lived session (a chat channel) spans thousands of runs: the first `limit` calls from
            # `from_ms` on; page with the last call's start.
            {"tenant_id": UUID, "session_key": TEXT, "from_ms": MS, "limit": LIMIT},
        ),
    )
}
QUERIES.update(
    (name, CatalogQuery(name, description, cypher, params)) for name, description, cypher, params in READ_QUERIES
)


class QueryParameterError(ValueError):
    """A catalog query was given a missing, unexpected or malformed parameter."""


def bind(name: str, params: Mapping[str, Any]) -> tuple[CatalogQuery, dict[str, Any]]:
    """The catalog query `name` and the parameters its text uses: the validated ones and the vertex keys
    derived from them (the API turns a failure into a 422).

    Raises:
        KeyError: no such query.
        QueryParameterError: a parameter is missing, unexpected or malformed.
    """
    query = QUERIES[name]
    missing = sorted(set(query.params) - set(params))
    extra = sorted(set(params) - set(query.params))
    if missing or extra:
        raise QueryParameterError(f"{name}: missing {missing}, unexpected {extra}")
    checked = {key: _check(name, key, kind, params[key]) for key, kind in query.params.items()}
    for key, parts in DERIVED_KEYS.items():
        if all(p in checked for p in parts):
            # Ids cannot contain '/', so the joined key names exactly one vertex of this tenant.
            checked[key] = "/".join(checked[p] for p in parts)
    return query, {k: v for k, v in checked.items() if f"${k}" in query.cypher}


def run(client: GraphClient, name: str, **params: Any) -> list[Row]:
    """Run catalog query `name` with validated parameters."""
    query, bound = bind(name, params)
    return client.run(query.cypher, bound)


def _check(query: str, key: str, kind: str, value: Any) -> Any:
    try:
        if kind == UUID:
            return check_uuid(value)
        if kind == ID:
            return check_safe_id(value)
        if kind in (MS, LIMIT):
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError("must be an integer")
            if value < 0 or (kind == LIMIT and not 1 <= value <= MAX_LIMIT):
                raise ValueError(f"out of range{f' (1..{MAX_LIMIT})' if kind == LIMIT else ''}")
            return value
        if kind == OPT_ID:
            return value if value == "" else check_safe_id(value)
        if kind == FLAG:
            if value not in (-1, 0, 1) or isinstance(value, bool):
                raise ValueError("must be -1, 0 or 1")
            return value
        if kind == NUM:
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError("must be a finite number >= 0")
            return float(value)
        if kind == TEXT:
            if not isinstance(value, str) or not 0 < len(value) <= 1024:
                raise ValueError("must be a string of 1..1024 characters")
            return value
    except ValueError as exc:
        raise QueryParameterError(f"{query}: parameter {key!r}: {exc}") from exc
    raise AssertionError(f"unknown parameter kind {kind!r}")
