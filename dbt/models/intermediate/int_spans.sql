-- One row per (tenant, trace, span): the span's facts from all of its events. Ids are unique only within a
-- tenant, so every grouping key starts with tenant_id (the original grouped spans without it).
with events as (
    select * from {{ ref('stg_events') }}
),

spans as (
    select
        tenant_id,
        trace_id,
        span_id,
        max(agent_id) as agent_id,
        max(parent_span_id) as parent_span_id,
        min(event_ts_ms) as span_start_ts_ms,
        max(event_ts_ms) as span_end_ts_ms,
        count(*) as event_count,
        max(model) as model,
        max(provider) as provider,
        max(tool_name) as tool_name,
        max(span_name) as span_name,
        max(subagent_label) as subagent_label,
        bool_and(event_type = 'error') as only_error_events,
        bool_or(event_type = 'subagent_spawn') as is_spawn,
        -- Sums, not the original's MAX: a span reporting usage twice (a retried call) used both.
        sum(fresh_input_tokens) as input_tokens,
        sum(cache_read_tokens) as cache_read_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens,
        sum(total_tokens) as total_tokens,
        bool_or(event_type = 'error' or error_message is not null) as failed,
        arg_min(error_message, {{ event_order() }}) filter (where error_message is not null) as error_message,
        arg_min(payload_json, {{ event_order() }}) filter (
            where event_type in ('llm_before_call', 'tool_before_call', 'subagent_spawn', 'session_start', 'span_start')
        ) as input_payload,
        coalesce(
            arg_max(payload_json, {{ event_order() }}) filter (
                where event_type in ('llm_after_call', 'tool_after_call', 'subagent_join', 'session_end', 'span_end')
            ),
            arg_max(payload_json, {{ event_order() }})
        ) as output_payload
    from events
    group by tenant_id, trace_id, span_id
),

typed as (
    select
        *,
        -- EVENTS.md's derivation, plus one kind of our own: a span holding nothing but `error` events is the
        -- failure report of its parent, so it is not counted as another call of the tool it names.
        case
            when model is not null then 'llm_call'
            when only_error_events then 'error'
            when tool_name is not null then 'tool_call'
            when parent_span_id is not null then 'subagent'
            else 'session'
        end as actor_type
    from spans
)

select
    tenant_id,
    agent_id,
    trace_id,
    span_id,
    parent_span_id,
    span_start_ts_ms,
    span_end_ts_ms,
    span_end_ts_ms - span_start_ts_ms as duration_ms,
    -- The trace's date (UTC day of its first event): spans are partitioned with their trace.
    cast(epoch_ms(min(span_start_ts_ms) over (partition by tenant_id, trace_id)) as date) as trace_date,
    actor_type,
    coalesce(
        model,
        tool_name,
        span_name,
        case actor_type
            when 'subagent' then coalesce(subagent_label, 'session')
            when 'error' then 'error'
            else 'session'
        end
    ) as actor_label,
    provider,
    model,
    tool_name,
    is_spawn,
    event_count,
    input_tokens,
    output_tokens,
    total_tokens,
    cache_read_tokens,
    cache_write_tokens,
    cast(failed as integer) as has_error,
    error_message,
    input_payload,
    output_payload
from typed
