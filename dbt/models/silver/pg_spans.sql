-- One row per span of the recomputed traces, with its cost. Key (tenant_id, trace_id, span_id).
select
    s.tenant_id,
    s.agent_id,
    s.trace_id,
    s.span_id,
    s.parent_span_id,
    s.span_start_ts_ms,
    s.span_end_ts_ms,
    s.duration_ms,
    s.actor_label,
    s.actor_type,
    s.input_tokens,
    s.output_tokens,
    s.total_tokens,
    s.has_error,
    s.input_payload,
    s.output_payload,
    s.provider,
    s.model,
    s.tool_name,
    s.cache_read_tokens,
    s.cache_write_tokens,
    -- Only LLM calls cost money here; an LLM call of a model without a known price has NULL cost and
    -- cost_known = false (never a silent 0).
    case when s.actor_type = 'llm_call' then c.cost_usd else cast(0 as {{ usd_type() }}) end as cost_usd,
    case when s.actor_type = 'llm_call' then coalesce(c.cost_known, false) else true end as cost_known,
    s.error_message,
    s.trace_date,
    s.event_count,
    {{ graph_key(['s.tenant_id', 's.trace_id']) }} as trace_key,
    {{ graph_key(['s.tenant_id', 's.trace_id', 's.span_id']) }} as span_key
from {{ ref('int_spans') }} as s
left join {{ ref('int_span_costs') }} as c
    on c.tenant_id = s.tenant_id and c.trace_id = s.trace_id and c.span_id = s.span_id
