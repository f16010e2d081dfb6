-- One row per trace (agent loop) of the recomputed traces. Key (tenant_id, trace_id).
with events as (
    select * from {{ ref('stg_events') }}
),

spans as (
    select * from {{ ref('pg_spans') }}
),

from_events as (
    select
        tenant_id,
        trace_id,
        max(agent_id) as agent_id,
        min(event_ts_ms) as trace_start_ts_ms,
        max(event_ts_ms) as trace_end_ts_ms,
        count(*) as event_count,
        -- The session's identity comes from its root session_start; failing that, from the first event
        -- carrying a session key (a sub-agent's own session_start is not the trace's root).
        coalesce(
            arg_min(session_key, {{ event_order() }})
                filter (where event_type = 'session_start' and parent_span_id is null and session_key is not null),
            arg_min(session_key, {{ event_order() }}) filter (where session_key is not null)
        ) as session_key,
        coalesce(
            arg_min(agent_name, {{ event_order() }})
                filter (where event_type = 'session_start' and parent_span_id is null and agent_name is not null),
            arg_min(agent_name, {{ event_order() }}) filter (where agent_name is not null)
        ) as agent_name,
        max(category_signal) as category_signal,
        count(*) filter (where event_type = 'error') as error_events,
        count(distinct span_id) filter (where event_type = 'subagent_spawn') as subagents,
        -- No session_start reached us: a dangling call whose root never arrived (the original UI hid these).
        not bool_or(event_type = 'session_start') as is_orphan
    from events
    group by tenant_id, trace_id
),

from_spans as (
    select
        tenant_id,
        trace_id,
        -- Token totals are sums over the trace's LLM calls; fresh input and cache traffic stay apart.
        sum(input_tokens) filter (where actor_type = 'llm_call') as total_input_tokens,
        sum(output_tokens) filter (where actor_type = 'llm_call') as total_output_tokens,
        sum(total_tokens) filter (where actor_type = 'llm_call') as total_tokens,
        sum(cache_read_tokens) filter (where actor_type = 'llm_call') as total_cache_read_tokens,
        sum(cache_write_tokens) filter (where actor_type = 'llm_call') as total_cache_write_tokens,
        count(*) filter (where actor_type = 'llm_call') as llm_calls,
        count(*) filter (where actor_type = 'tool_call') as tool_calls,
        count(*) filter (where actor_type = 'llm_call' and has_error = 1) as failed_llm_calls,
        max(has_error) as has_error,
        sum(cost_usd) filter (where cost_known) as cost_usd,
        count(*) filter (where actor_type = 'llm_call' and not cost_known) as unpriced_llm_calls
    from spans
    group by tenant_id, trace_id
)

select
    e.tenant_id,
    e.agent_id,
    e.trace_id,
    e.trace_start_ts_ms,
    e.trace_end_ts_ms,
    e.trace_end_ts_ms - e.trace_start_ts_ms as duration_ms,
    e.event_count,
    cast(epoch_ms(e.trace_start_ts_ms) as date) as trace_date,
    e.agent_name,
    e.session_key,
    coalesce(s.total_input_tokens, 0) as total_input_tokens,
    coalesce(s.total_output_tokens, 0) as total_output_tokens,
    coalesce(s.total_tokens, 0) as total_tokens,
    coalesce(s.has_error, 0) as has_error,
    case e.category_signal when 2 then 'Heartbeat' when 1 then 'Compact Memory' else 'Work' end as category,
    coalesce(s.total_cache_read_tokens, 0) as total_cache_read_tokens,
    coalesce(s.total_cache_write_tokens, 0) as total_cache_write_tokens,
    coalesce(s.llm_calls, 0) as llm_calls,
    coalesce(s.tool_calls, 0) as tool_calls,
    e.subagents,
    -- Failures: `error` events (one per failed tool call or sub-agent) plus failed LLM calls, which emit none.
    e.error_events + coalesce(s.failed_llm_calls, 0) as error_count,
    coalesce(s.cost_usd, cast(0 as {{ usd_type() }})) as cost_usd,
    coalesce(s.unpriced_llm_calls, 0) as unpriced_llm_calls,
    e.is_orphan,
    {{ graph_key(['e.tenant_id', 'e.agent_id']) }} as agent_key,
    {{ graph_key(['e.tenant_id', 'e.trace_id']) }} as trace_key
from from_events as e
left join from_spans as s on s.tenant_id = e.tenant_id and s.trace_id = e.trace_id
