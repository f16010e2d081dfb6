-- What the cost model prices: one row per LLM call, with fresh input and cached input apart.
select
    tenant_id,
    trace_id,
    span_id,
    provider,
    model,
    -- Prices can depend on when the call was made (price changes, off-peak hours): the call's start.
    span_start_ts_ms as priced_at_ms,
    input_tokens,
    cache_read_tokens,
    cache_write_tokens,
    output_tokens
from {{ ref('int_spans') }}
where actor_type = 'llm_call'
