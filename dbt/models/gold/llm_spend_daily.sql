-- LLM spend per (tenant, agent, provider, model, day): the FinOps table. A day is the trace's date, like
-- span_rollup's, so a day's spend agrees with that day's trace list.
-- Recomputed for whole (tenant, day) groups, like span_rollup: the recomputed traces' spans plus every other
-- span of the same tenants and days (staged as prior_spans), so a group's sums never mix old and new rows.
with

spans as (
    select
        tenant_id, agent_id, trace_date, actor_type, provider, model, input_tokens, output_tokens,
        total_tokens, cache_read_tokens, cache_write_tokens, cost_usd, cost_known
    from {{ ref('pg_spans') }}
    union all
    select
        tenant_id, agent_id, trace_date, actor_type, provider, model, input_tokens, output_tokens,
        total_tokens, cache_read_tokens, cache_write_tokens, cost_usd, cost_known
    from {{ prior_state('spans') }}
),

llm_calls as (
    select
        tenant_id,
        agent_id,
        trace_date,
        -- Key columns are never null: '' stands for a call that named no provider (or model).
        coalesce(provider, '') as provider,
        coalesce(model, '') as model,
        input_tokens,
        cache_read_tokens,
        cache_write_tokens,
        output_tokens,
        total_tokens,
        cost_usd,
        cost_known
    from spans
    where actor_type = 'llm_call'
),

spend as (
    select
        tenant_id,
        agent_id,
        trace_date as day,
        provider,
        model,
        count(*) as llm_calls,
        sum(input_tokens) as input_tokens,
        sum(cache_read_tokens) as cache_read_tokens,
        sum(cache_write_tokens) as cache_write_tokens,
        sum(output_tokens) as output_tokens,
        sum(total_tokens) as total_tokens,
        -- Only priced calls are summed; the others are counted apart, never priced as 0.
        coalesce(sum(cost_usd) filter (where cost_known), cast(0 as {{ usd_type() }})) as cost_usd,
        count(*) filter (where not cost_known) as unpriced_calls
    from llm_calls
    group by tenant_id, agent_id, trace_date, provider, model
)

select * from spend
